//! Shaders and compiled kernels (recording their launches is [`super::batch`]).
//!
//! A [`Shader`] is one `.wgsl` file. A [`Kernel`] is one entry point of it compiled
//! with a set of override constants; its bind group layout is read from the shader by
//! naga (the bindings the entry point uses, in binding order), so a launch is checked
//! against the shader's own declarations and a wrong argument list is an error that
//! names every binding, not a wgpu panic.

use std::borrow::Cow;

use anyhow::{anyhow, bail, Result};

/// One WGSL file of `shaders/`.
#[derive(Debug)]
pub struct Shader {
    /// File stem, used in labels so validation errors name the shader.
    pub name: &'static str,
    pub source: &'static str,
    /// Device features the shader needs (e.g. `SHADER_F64`).
    pub features: wgpu::Features,
    /// Compile without naga's runtime bounds checks. Only for kernels whose indexing is
    /// guarded explicitly and proven by tests at ragged sizes: the checks clamp every
    /// dynamic index into register arrays, which pushed one matmul 20x slower on an H100.
    /// `WIDEPROBE_BOUNDS_CHECKS=1` turns the checks back on everywhere.
    pub trusted: bool,
}

/// How an entry point uses one of its bindings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindingKind {
    StorageRead,
    StorageReadWrite,
    Uniform,
}

#[derive(Clone, Debug)]
pub struct BindingInfo {
    pub binding: u32,
    pub name: String,
    pub kind: BindingKind,
}

/// Parsed and validated naga module plus the wgpu module compiled from it.
pub struct ShaderModuleEntry {
    pub shader: &'static Shader,
    pub naga: naga::Module,
    pub info: naga::valid::ModuleInfo,
    pub module: wgpu::ShaderModule,
}

/// Parses and validates a shader with naga, giving naga's own message on failure.
pub fn parse_and_validate(
    shader: &Shader, capabilities: naga::valid::Capabilities,
) -> Result<(naga::Module, naga::valid::ModuleInfo)> {
    let module = naga::front::wgsl::parse_str(shader.source).map_err(|e| {
        anyhow!(
            "shaders/{}.wgsl does not parse:\n{}",
            shader.name,
            e.emit_to_string(shader.source)
        )
    })?;
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), capabilities)
        .validate(&module)
        .map_err(|e| {
            anyhow!(
                "shaders/{}.wgsl does not validate:\n{}",
                shader.name,
                e.emit_to_string(shader.source)
            )
        })?;
    Ok((module, info))
}

impl ShaderModuleEntry {
    pub(crate) fn compile(device: &wgpu::Device, shader: &'static Shader) -> Result<Self> {
        let (naga, info) = parse_and_validate(shader, naga::valid::Capabilities::all())?;
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(shader.name),
            source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(shader.source)),
        };
        let checks_forced = std::env::var("WIDEPROBE_BOUNDS_CHECKS").is_ok_and(|v| v != "0");
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = if shader.trusted && !checks_forced {
            // SAFETY: trusted shaders guard every global access explicitly (ragged tiles)
            // and index private arrays only within constant bounds; the kernel tests run
            // them at sizes that are not multiples of the tile, against f64 references.
            unsafe {
                device.create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked())
            }
        } else {
            device.create_shader_module(desc)
        };
        if let Some(e) = pollster::block_on(scope.pop()) {
            bail!("shaders/{}.wgsl failed to compile: {e}", shader.name);
        }
        Ok(ShaderModuleEntry {
            shader,
            naga,
            info,
            module,
        })
    }

    /// Each named override's value: from `given`, else its literal default (overrides
    /// without either are left out: the pipeline would not build without a value).
    fn override_values(&self, given: &[(&str, f64)]) -> Vec<(String, f64)> {
        self.naga
            .overrides
            .iter()
            .filter_map(|(_, o)| {
                let name = o.name.clone()?;
                if let Some((_, v)) = given.iter().find(|(n, _)| *n == name) {
                    return Some((name, *v));
                }
                let value = match self.naga.global_expressions[o.init?] {
                    naga::Expression::Literal(literal) => literal_value(literal)?,
                    _ => return None,
                };
                Some((name, value))
            })
            .collect()
    }

    /// The bindings of group 0 that `entry` uses, in binding order.
    pub fn bindings(&self, entry: &str) -> Result<(Vec<BindingInfo>, [u32; 3])> {
        let index = self
            .naga
            .entry_points
            .iter()
            .position(|ep| ep.name == entry)
            .ok_or_else(|| {
                let names: Vec<&str> = self
                    .naga
                    .entry_points
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect();
                anyhow!(
                    "shaders/{}.wgsl has no entry point `{entry}`; it has: {}",
                    self.shader.name,
                    names.join(", ")
                )
            })?;
        let function_info = self.info.get_entry_point(index);
        let mut bindings = Vec::new();
        for (handle, var) in self.naga.global_variables.iter() {
            let Some(rb) = &var.binding else { continue };
            if function_info[handle].is_empty() {
                continue;
            }
            if rb.group != 0 {
                bail!(
                    "shaders/{}.wgsl: `{}` uses group {}; wideprobe kernels use group 0 only",
                    self.shader.name,
                    var.name.as_deref().unwrap_or("?"),
                    rb.group
                );
            }
            let kind = match var.space {
                naga::AddressSpace::Storage { access } => {
                    if access.contains(naga::StorageAccess::STORE) {
                        BindingKind::StorageReadWrite
                    } else {
                        BindingKind::StorageRead
                    }
                }
                naga::AddressSpace::Uniform => BindingKind::Uniform,
                other => bail!(
                    "shaders/{}.wgsl: binding `{}` in address space {other:?} is not supported",
                    self.shader.name,
                    var.name.as_deref().unwrap_or("?")
                ),
            };
            bindings.push(BindingInfo {
                binding: rb.binding,
                name: var.name.clone().unwrap_or_default(),
                kind,
            });
        }
        bindings.sort_by_key(|b| b.binding);
        Ok((bindings, self.naga.entry_points[index].workgroup_size))
    }
}

fn literal_value(literal: naga::Literal) -> Option<f64> {
    use naga::Literal as L;
    Some(match literal {
        L::U32(v) => v as f64,
        L::I32(v) => v as f64,
        L::F32(v) => v as f64,
        L::F64(v) => v,
        L::Bool(v) => v as u32 as f64,
        _ => return None,
    })
}

/// Cache key of a compiled pipeline. Override values are keyed by their bits.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PipelineKey {
    shader: &'static str,
    entry: String,
    overrides: Vec<(String, u64)>,
}

impl PipelineKey {
    pub fn new(shader: &'static str, entry: &str, overrides: &[(&str, f64)]) -> Self {
        let mut overrides: Vec<(String, u64)> = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_bits()))
            .collect();
        overrides.sort();
        PipelineKey {
            shader,
            entry: entry.to_string(),
            overrides,
        }
    }
}

/// One compiled entry point.
pub struct Kernel {
    pub label: String,
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
    pub bindings: Vec<BindingInfo>,
    pub workgroup_size: [u32; 3],
    /// Every named `override` of the shader with the value this kernel was built with:
    /// the pipeline constant given, else the shader's literal default.
    pub overrides: Vec<(String, f64)>,
}

impl Kernel {
    /// The value of the shader's `override name`, or an error naming the shader.
    pub fn override_value(&self, name: &str) -> Result<f64> {
        self.overrides
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
            .ok_or_else(|| anyhow!("kernel {} has no override constant `{name}`", self.label))
    }

    pub(crate) fn build(
        device: &wgpu::Device, module: &ShaderModuleEntry, entry: &str, overrides: &[(&str, f64)],
    ) -> Result<Kernel> {
        let (bindings, workgroup_size) = module.bindings(entry)?;
        let label = format!("{}::{}", module.shader.name, entry);
        let override_values = module.override_values(overrides);
        let entries: Vec<wgpu::BindGroupLayoutEntry> = bindings
            .iter()
            .map(|b| wgpu::BindGroupLayoutEntry {
                binding: b.binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: match b.kind {
                    BindingKind::StorageRead => wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: true },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    BindingKind::StorageReadWrite => wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: false },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    BindingKind::Uniform => wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                },
                count: None,
            })
            .collect();
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(&label),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(&label),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&label),
            layout: Some(&pipeline_layout),
            module: &module.module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: overrides,
                // Every kernel writes its shared memory before reading it.
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            bail!("building kernel {label} failed: {e}");
        }
        Ok(Kernel {
            label,
            pipeline,
            layout,
            bindings,
            workgroup_size,
            overrides: override_values,
        })
    }

    pub(crate) fn describe_bindings(&self) -> String {
        self.bindings
            .iter()
            .map(|b| format!("{} ({:?})", b.name, b.kind))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel")
            .field("label", &self.label)
            .field("bindings", &self.bindings)
            .field("workgroup_size", &self.workgroup_size)
            .finish()
    }
}
