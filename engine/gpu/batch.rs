//! Recording kernel launches into one command buffer and submitting them ([`Batch`]),
//! and laying out workgroup grids.

use anyhow::{bail, Result};
use wgpu::util::DeviceExt;

use super::context::Gpu;
use super::kernel::{BindingInfo, BindingKind, Kernel};
use super::profile::PROFILE_PASSES_PER_BATCH;
use super::timing::GpuTimer;

/// Records kernel launches into one command buffer; [`Batch::submit`] sends them all
/// at once, so a training step or a Lanczos iteration is one submission.
pub struct Batch<'g> {
    gpu: &'g Gpu,
    encoder: wgpu::CommandEncoder,
    timer: Option<GpuTimer>,
    /// Whether the caller asked for the times ([`Batch::timed`]), rather than the profile.
    timed: bool,
    /// Compute passes recorded so far (one per `launches` call that launched anything).
    passes: usize,
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
            timer: gpu
                .profile
                .as_ref()
                .and_then(|_| GpuTimer::new(gpu, PROFILE_PASSES_PER_BATCH)),
            timed: false,
            passes: 0,
        }
    }

    /// A batch that times each launch with GPU timestamps (when the adapter has them;
    /// otherwise [`Batch::submit`] returns no GPU times and callers time on the host).
    pub fn timed(gpu: &'g Gpu, max_launches: u32) -> Self {
        let mut batch = Self::new(gpu);
        batch.timer = GpuTimer::new(gpu, max_launches);
        batch.timed = true;
        batch
    }

    pub fn gpu(&self) -> &'g Gpu {
        self.gpu
    }

    /// Compute passes recorded so far: what a timed batch gives one time each.
    pub fn passes(&self) -> usize {
        self.passes
    }

    /// Records one launch. `buffers` are the kernel's storage bindings in binding
    /// order; `params` fills its params binding (uniform, or read-only storage named
    /// `params`), if it has one.
    pub fn dispatch<P: bytemuck::Pod>(
        &mut self, kernel: &Kernel, buffers: &[&wgpu::Buffer], params: Option<&P>,
        workgroups: [u32; 3],
    ) -> Result<()> {
        let bound = self.bind(kernel, buffers, params)?;
        self.launches(&kernel.label, &[(&bound, workgroups)])
    }

    /// Binds `kernel` to its buffers and params once, for [`Batch::launches`] that
    /// launch it many times (a solver's column steps) without a bind group each.
    pub fn bind<'k, P: bytemuck::Pod>(
        &self, kernel: &'k Kernel, buffers: &[&wgpu::Buffer], params: Option<&P>,
    ) -> Result<Bound<'k>> {
        // The params slot: the uniform binding, or a read-only storage binding named
        // `params`, which a shader declares where lavapipe would otherwise compile a
        // variant of it for each params value (shaders/bandreduce.wgsl).
        let is_params = |b: &BindingInfo| {
            b.kind == BindingKind::Uniform
                || (b.name == "params" && b.kind == BindingKind::StorageRead)
        };
        let mut slots = kernel.bindings.iter().filter(|b| is_params(b));
        let slot = slots.next();
        if slots.next().is_some() {
            bail!(
                "kernel {} declares more than one params binding (a uniform, or storage named \
                 `params`): [{}]",
                kernel.label,
                kernel.describe_bindings()
            );
        }
        let storage_count = kernel.bindings.len() - usize::from(slot.is_some());
        if buffers.len() != storage_count || slot.is_some() != params.is_some() {
            bail!(
                "kernel {} takes [{}] but was given {} buffers and {} params",
                kernel.label,
                kernel.describe_bindings(),
                buffers.len(),
                if params.is_some() { "" } else { "no" }
            );
        }
        let params = params.zip(slot).map(|(p, slot)| {
            self.gpu
                .device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(&kernel.label),
                    contents: bytemuck::bytes_of(p),
                    usage: match slot.kind {
                        BindingKind::Uniform => wgpu::BufferUsages::UNIFORM,
                        _ => wgpu::BufferUsages::STORAGE,
                    },
                })
        });
        let mut storage = buffers.iter();
        let entries: Vec<wgpu::BindGroupEntry> = kernel
            .bindings
            .iter()
            .map(|b| wgpu::BindGroupEntry {
                binding: b.binding,
                resource: match &params {
                    Some(params) if is_params(b) => params.as_entire_binding(),
                    _ => storage.next().unwrap().as_entire_binding(),
                },
            })
            .collect();
        let group = self
            .gpu
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(&kernel.label),
                layout: &kernel.layout,
                entries: &entries,
            });
        Ok(Bound { kernel, group })
    }

    /// Records `launches` in order into one compute pass (wgpu orders launches that
    /// share buffers). Launches with an empty grid are skipped.
    pub fn launches(&mut self, label: &str, launches: &[(&Bound, [u32; 3])]) -> Result<()> {
        let max = self.gpu.limits().max_compute_workgroups_per_dimension;
        if let Some((bound, groups)) = launches.iter().find(|(_, g)| g.iter().any(|&g| g > max)) {
            bail!(
                "kernel {} launched with {groups:?} workgroups; the adapter allows {max} per dimension",
                bound.kernel.label
            );
        }
        if launches.iter().all(|(_, g)| g.contains(&0)) {
            return Ok(()); // nothing to do: empty tensors
        }
        self.passes += 1;
        let timestamp_writes = self.timer.as_mut().and_then(|t| t.next_pass(label));
        let mut pass = self
            .encoder
            .begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(label),
                timestamp_writes,
            });
        for (bound, groups) in launches.iter().filter(|(_, g)| !g.contains(&0)) {
            pass.set_pipeline(&bound.kernel.pipeline);
            pass.set_bind_group(0, &bound.group, &[]);
            pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        }
        Ok(())
    }

    /// Records a buffer-to-buffer copy of `bytes` bytes.
    pub fn copy(&mut self, src: &wgpu::Buffer, dst: &wgpu::Buffer, bytes: u64) {
        self.copy_region(src, 0, dst, 0, bytes);
    }

    /// Records a copy of `bytes` bytes between offsets (all multiples of 4).
    pub fn copy_region(
        &mut self, src: &wgpu::Buffer, src_offset: u64, dst: &wgpu::Buffer, dst_offset: u64,
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
        self.gpu.count_submission();
        self.gpu.wait()?;
        let Some(timer) = self.timer else {
            return Ok(None);
        };
        let times = timer.read(self.gpu)?;
        if let Some(profile) = &self.gpu.profile {
            profile.add(&times, self.passes.saturating_sub(times.len()));
        }
        Ok(self.timed.then_some(times))
    }
}

/// A kernel bound to its buffers ([`Batch::bind`]), launched by [`Batch::launches`].
pub struct Bound<'k> {
    kernel: &'k Kernel,
    group: wgpu::BindGroup,
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
