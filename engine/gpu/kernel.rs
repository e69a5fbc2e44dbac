//! Shaders, compiled kernels, and recording their launches.
//!
//! A [`Shader`] is one `.wgsl` file. A [`Kernel`] is one entry point of it compiled
//! with a set of override constants; its bind group layout is read from the shader by
//! naga (the bindings the entry point uses, in binding order), so a launch is checked
//! against the shader's own declarations and a wrong argument list is an error that
//! names every binding, not a wgpu panic.

use std::borrow::Cow;

use anyhow::{anyhow, bail, Result};
use wgpu::util::DeviceExt;

use super::context::Gpu;
use super::timing::GpuTimer;

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
    shader: &Shader,
    capabilities: naga::valid::Capabilities,
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
    pub(crate) fn compile(gpu: &Gpu, shader: &'static Shader) -> Result<Self> {
        let (naga, info) = parse_and_validate(shader, naga::valid::Capabilities::all())?;
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(shader.name),
            source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(shader.source)),
        };
        let checks_forced = std::env::var("WIDEPROBE_BOUNDS_CHECKS").is_ok_and(|v| v != "0");
        let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = if shader.trusted && !checks_forced {
            // SAFETY: trusted shaders guard every global access explicitly (ragged tiles)
            // and index private arrays only within constant bounds; the kernel tests run
            // them at sizes that are not multiples of the tile, against f64 references.
            unsafe {
                gpu.device
                    .create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked())
            }
        } else {
            gpu.device.create_shader_module(desc)
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
}

impl Kernel {
    pub(crate) fn build(
        gpu: &Gpu,
        module: &ShaderModuleEntry,
        entry: &str,
        overrides: &[(&str, f64)],
    ) -> Result<Kernel> {
        let (bindings, workgroup_size) = module.bindings(entry)?;
        let label = format!("{}::{}", module.shader.name, entry);
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
        let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let layout = gpu
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(&label),
                entries: &entries,
            });
        let pipeline_layout = gpu
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(&label),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
        let pipeline = gpu
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
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
        })
    }

    fn describe_bindings(&self) -> String {
        self.bindings
            .iter()
            .map(|b| format!("{} ({:?})", b.name, b.kind))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Records kernel launches into one command buffer; [`Batch::submit`] sends them all
/// at once, so a training step or a Lanczos iteration is one submission.
pub struct Batch<'g> {
    gpu: &'g Gpu,
    encoder: wgpu::CommandEncoder,
    timer: Option<GpuTimer>,
}

impl<'g> Batch<'g> {
    pub fn new(gpu: &'g Gpu) -> Self {
        Batch {
            gpu,
            encoder: gpu
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("wideprobe batch"),
                }),
            timer: None,
        }
    }

    /// A batch that times each launch with GPU timestamps (when the adapter has them;
    /// otherwise [`Batch::submit`] returns no GPU times and callers time on the host).
    pub fn timed(gpu: &'g Gpu, max_launches: u32) -> Self {
        let mut batch = Self::new(gpu);
        batch.timer = GpuTimer::new(gpu, max_launches);
        batch
    }

    pub fn gpu(&self) -> &'g Gpu {
        self.gpu
    }

    /// Records one launch. `buffers` are the kernel's storage bindings in binding
    /// order; `params` fills its uniform binding, if it has one.
    pub fn dispatch<P: bytemuck::Pod>(
        &mut self,
        kernel: &Kernel,
        buffers: &[&wgpu::Buffer],
        params: Option<&P>,
        workgroups: [u32; 3],
    ) -> Result<()> {
        let storage_count = kernel
            .bindings
            .iter()
            .filter(|b| b.kind != BindingKind::Uniform)
            .count();
        let has_uniform = kernel
            .bindings
            .iter()
            .any(|b| b.kind == BindingKind::Uniform);
        if buffers.len() != storage_count || has_uniform != params.is_some() {
            bail!(
                "kernel {} takes [{}] but was given {} buffers and {} params",
                kernel.label,
                kernel.describe_bindings(),
                buffers.len(),
                if params.is_some() { "" } else { "no" }
            );
        }
        let max = self.gpu.limits().max_compute_workgroups_per_dimension;
        if workgroups.iter().any(|&g| g > max) {
            bail!(
                "kernel {} launched with {:?} workgroups; the adapter allows {max} per dimension",
                kernel.label,
                workgroups
            );
        }
        if workgroups.contains(&0) {
            return Ok(()); // nothing to do: an empty tensor
        }
        let uniform = params.map(|p| {
            self.gpu
                .device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(&kernel.label),
                    contents: bytemuck::bytes_of(p),
                    usage: wgpu::BufferUsages::UNIFORM,
                })
        });
        let mut storage = buffers.iter();
        let entries: Vec<wgpu::BindGroupEntry> = kernel
            .bindings
            .iter()
            .map(|b| wgpu::BindGroupEntry {
                binding: b.binding,
                resource: match b.kind {
                    BindingKind::Uniform => uniform.as_ref().unwrap().as_entire_binding(),
                    _ => storage.next().unwrap().as_entire_binding(),
                },
            })
            .collect();
        let bind_group = self
            .gpu
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(&kernel.label),
                layout: &kernel.layout,
                entries: &entries,
            });
        let timestamp_writes = self.timer.as_mut().and_then(|t| t.next_pass(&kernel.label));
        let mut pass = self
            .encoder
            .begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(&kernel.label),
                timestamp_writes,
            });
        pass.set_pipeline(&kernel.pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
        Ok(())
    }

    /// Records a buffer-to-buffer copy of `bytes` bytes.
    pub fn copy(&mut self, src: &wgpu::Buffer, dst: &wgpu::Buffer, bytes: u64) {
        self.copy_region(src, 0, dst, 0, bytes);
    }

    /// Records a copy of `bytes` bytes between offsets (all multiples of 4).
    pub fn copy_region(
        &mut self,
        src: &wgpu::Buffer,
        src_offset: u64,
        dst: &wgpu::Buffer,
        dst_offset: u64,
        bytes: u64,
    ) {
        self.encoder
            .copy_buffer_to_buffer(src, src_offset, dst, dst_offset, bytes);
    }

    /// Submits everything recorded and waits for it. Returns each launch's GPU time in
    /// seconds, in launch order, when the batch was timed and the adapter can.
    pub fn submit(mut self) -> Result<Option<Vec<(String, f64)>>> {
        if let Some(t) = &self.timer {
            t.resolve(&mut self.encoder);
        }
        self.gpu.queue.submit([self.encoder.finish()]);
        self.gpu.wait()?;
        match self.timer {
            Some(t) => t.read(self.gpu).map(Some),
            None => Ok(None),
        }
    }
}

/// Workgroup counts for `groups` workgroups laid out in x then y, since one
/// dimension holds at most 65535 on most adapters. Shaders recover the linear index
/// as `wg.x + wg.y * num_workgroups.x`.
pub fn grid_1d(gpu: &Gpu, groups: u64) -> Result<[u32; 3]> {
    let max = gpu.limits().max_compute_workgroups_per_dimension as u64;
    if groups <= max {
        return Ok([groups as u32, 1, 1]);
    }
    let y = groups.div_ceil(max);
    if y > max {
        bail!("{groups} workgroups exceed the adapter's {max} x {max} grid");
    }
    let x = groups.div_ceil(y);
    Ok([x as u32, y as u32, 1])
}

/// Number of workgroups of `size` invocations covering `n` items.
pub fn groups_for(n: usize, size: u32) -> u64 {
    (n as u64).div_ceil(size as u64)
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<Gpu>();
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
