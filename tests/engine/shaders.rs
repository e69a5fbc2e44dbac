//! Every shader parses and validates with naga (a broken shader fails here with naga's
//! own message, before any GPU is involved), and every entry point translates to
//! SPIR-V (Vulkan), MSL (Metal) and HLSL (DX12), with its override constants applied,
//! so the Metal and DX12 paths are checked on machines that have neither.

use naga::back::PipelineConstants;
use naga::valid::Capabilities;
use wideprobe::gpu::kernel::parse_and_validate;
use wideprobe::gpu::Shader;
use wideprobe::ops::shaders::ALL;

use crate::common;

/// Override values to translate each entry point with: every combination of the
/// boolean overrides the shader declares (false/true), defaults for the rest.
fn override_sets(module: &naga::Module) -> Vec<PipelineConstants> {
    let mut sets = vec![PipelineConstants::default()];
    for (_, o) in module.overrides.iter() {
        let Some(name) = &o.name else { continue };
        let is_bool = matches!(
            module.types[o.ty].inner,
            naga::TypeInner::Scalar(naga::Scalar {
                kind: naga::ScalarKind::Bool,
                ..
            })
        );
        if is_bool {
            sets = sets
                .into_iter()
                .flat_map(|s| {
                    [0.0, 1.0].map(|v| {
                        let mut s = s.clone();
                        s.insert(name.clone(), v);
                        s
                    })
                })
                .collect();
        }
    }
    sets
}

fn capabilities(shader: &Shader) -> Capabilities {
    // Without FLOAT64: a shader that does not declare the feature must not need it.
    let mut capabilities = without_f64(shader);
    if shader.features.contains(wgpu::Features::SHADER_F64) {
        capabilities |= Capabilities::FLOAT64;
    }
    capabilities
}

/// The capabilities a shader's features give, FLOAT64 left out.
fn without_f64(shader: &Shader) -> Capabilities {
    if shader.features.contains(wgpu::Features::SUBGROUP) {
        Capabilities::SUBGROUP
    } else {
        Capabilities::empty()
    }
}

fn translate(shader: &Shader) -> Result<usize, String> {
    let (module, info) =
        parse_and_validate(shader, capabilities(shader)).map_err(|e| e.to_string())?;
    let mut count = 0;
    for ep in &module.entry_points {
        for constants in override_sets(&module) {
            let what = format!(
                "shaders/{}.wgsl entry `{}` with {:?}",
                shader.name, ep.name, constants
            );
            let (module, info) = naga::back::pipeline_constants::process_overrides(
                &module,
                &info,
                Some((ep.stage, &ep.name)),
                &constants,
            )
            .map_err(|e| format!("{what}: overrides: {e:?}"))?;

            let spv_pipeline = naga::back::spv::PipelineOptions {
                shader_stage: ep.stage,
                entry_point: ep.name.clone(),
            };
            naga::back::spv::write_vec(&module, &info, &Default::default(), Some(&spv_pipeline))
                .map_err(|e| format!("{what}: SPIR-V: {e}"))?;

            let mut hlsl = String::new();
            let hlsl_options = naga::back::hlsl::Options {
                shader_model: naga::back::hlsl::ShaderModel::V6_0,
                ..Default::default()
            };
            let hlsl_pipeline = naga::back::hlsl::PipelineOptions {
                entry_point: Some((ep.stage, ep.name.clone())),
            };
            naga::back::hlsl::Writer::new(&mut hlsl, &hlsl_options, &hlsl_pipeline)
                .write(&module, &info, None)
                .map_err(|e| format!("{what}: HLSL: {e}"))?;

            // Metal has no f64: f64 shaders only run where SHADER_F64 exists, and the
            // engine falls back to its f32 paths on Apple GPUs.
            if !shader.features.contains(wgpu::Features::SHADER_F64) {
                let msl_pipeline = naga::back::msl::PipelineOptions {
                    entry_point: Some((ep.stage, ep.name.clone())),
                    ..Default::default()
                };
                naga::back::msl::write_string(&module, &info, &Default::default(), &msl_pipeline)
                    .map_err(|e| format!("{what}: MSL: {e}"))?;
            }
            count += 1;
        }
    }
    Ok(count)
}

#[test]
fn every_shader_validates_and_translates_to_spirv_msl_hlsl() {
    let mut failures = Vec::new();
    for shader in ALL {
        match translate(shader) {
            Ok(n) => eprintln!(
                "shaders/{}.wgsl: {n} entry point variants translated",
                shader.name
            ),
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_shader_file_is_registered() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wgsl") {
            let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
            if stem.starts_with("prelude_") || stem == "common" || stem == "subgroup" {
                continue; // joined in front of family bodies (see below)
            }
            // A plain shader is named after its file; a family body after the file and
            // a precision, in both precisions.
            let plain = ALL.iter().any(|s| s.name == stem);
            let family = ["f32", "f64"]
                .iter()
                .all(|p| ALL.iter().any(|s| s.name == format!("{stem}_{p}")));
            assert!(
                plain || family,
                "{} is not listed in engine/ops/shaders.rs",
                path.display()
            );
        }
    }
}

#[test]
fn a_broken_shader_fails_with_nagas_message() {
    let broken = Shader {
        name: "broken",
        source: "@compute @workgroup_size(1) fn main() { let x: f32 = undefined_thing; }",
        features: wgpu::Features::empty(),
        trusted: false,
    };
    let err = parse_and_validate(&broken, Capabilities::empty());
    common::assert_error_names(err, &["shaders/broken.wgsl", "undefined_thing"]);
}

#[test]
fn f32_shaders_do_not_need_f64() {
    // Checked implicitly above (validated without FLOAT64); this makes the intent
    // explicit and fails if an f32 shader gains an f64 type by accident.
    for shader in ALL
        .iter()
        .filter(|s| !s.features.contains(wgpu::Features::SHADER_F64))
    {
        parse_and_validate(shader, without_f64(shader)).unwrap();
    }
}
