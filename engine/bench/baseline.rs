//! The reference launches every bench reports (host side of shaders/baseline.wgsl): a
//! no-op kernel, whose time is the fixed cost of one launch, and a streaming copy, whose
//! bytes per second is the measured peak that the benches' GB/s are a fraction of. The
//! copy is measured rather than taken from a data sheet: wgpu does not report a peak,
//! and a software adapter has none.

use std::fmt;

use anyhow::Result;

use super::timing::{time_launches, Timing};
use crate::gpu::{grid_1d, groups_for, Batch, Gpu, Tensor};
use crate::ops::shaders::BASELINE;

/// Bytes of each of the copy's two buffers: past the last-level cache of current GPUs
/// (50 MB on an H100), small enough for a software adapter to copy in tens of ms.
const COPY_BUFFER_BYTES: u64 = 64 << 20;

/// Invocations per workgroup of `copy` (WG in the shader).
const COPY_WORKGROUP: u32 = 256;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct CopyParams {
    len: u32,
    _pad: [u32; 3],
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Baseline {
    /// One launch of a kernel that does nothing.
    pub noop_launch: Timing,
    /// Bytes read plus bytes written by one copy launch.
    pub copy_bytes: u64,
    pub copy: Timing,
    /// copy_bytes / copy.median_s, in GB/s (1e9 bytes): the reference peak.
    pub copy_gbs: f64,
}

/// A kernel's memory traffic per second, against the measured copy peak.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Bandwidth {
    /// Bytes the kernel must move at least, per launch.
    pub bytes: f64,
    /// bytes / median time, in GB/s.
    pub gbs: f64,
    /// gbs / the baseline's copy_gbs.
    pub fraction_of_copy_peak: f64,
}

impl Baseline {
    /// `bytes` moved in `seconds`, as GB/s and a fraction of the copy peak.
    pub fn bandwidth(&self, bytes: f64, seconds: f64) -> Bandwidth {
        let gbs = bytes / seconds * 1e-9;
        Bandwidth {
            bytes,
            gbs,
            fraction_of_copy_peak: gbs / self.copy_gbs,
        }
    }
}

/// Times the no-op and the copy launches, `repeats` each after `warmup` untimed ones.
pub fn measure_baseline(gpu: &Gpu, warmup: usize, repeats: usize) -> Result<Baseline> {
    let noop = gpu.kernel(&BASELINE, "noop", &[])?;
    let noop_launch = time_launches(gpu, warmup, repeats, |batch| {
        batch.dispatch::<CopyParams>(&noop, &[], None, [1, 1, 1])
    })?;
    check_copy(gpu)?;
    let buffer_bytes = COPY_BUFFER_BYTES.min(gpu.max_binding_bytes()) / 16 * 16;
    let (src, dst) = copy_buffers(gpu, buffer_bytes)?;
    let copy = time_launches(gpu, warmup, repeats, |batch| record_copy(batch, &src, &dst))?;
    let copy_bytes = 2 * buffer_bytes;
    Ok(Baseline {
        noop_launch,
        copy_bytes,
        copy_gbs: copy_bytes as f64 / copy.median_s * 1e-9,
        copy,
    })
}

/// The copy on a ragged length (not a whole number of workgroups) into a NaN-poisoned
/// output, before its time means anything.
fn check_copy(gpu: &Gpu) -> Result<()> {
    let len = 4 * (3 * COPY_WORKGROUP as usize + 7);
    let want: Vec<f32> = (0..len).map(|i| i as f32).collect();
    let src = Tensor::from_slice(gpu, &[len], &want)?;
    let dst = Tensor::<f32>::zeros(gpu, &[len])?;
    dst.poison(gpu)?;
    let mut batch = Batch::new(gpu);
    record_copy(&mut batch, &src, &dst)?;
    batch.submit()?;
    let got = dst.to_vec(gpu)?;
    if let Some(i) = (0..len).find(|&i| got[i].to_bits() != want[i].to_bits()) {
        anyhow::bail!(
            "shaders/baseline.wgsl copy is wrong on {}: element {i} is {} instead of {}",
            gpu.summary.name,
            got[i],
            want[i]
        );
    }
    Ok(())
}

fn copy_buffers(gpu: &Gpu, bytes: u64) -> Result<(Tensor, Tensor)> {
    let len = (bytes / 4) as usize;
    let src = Tensor::<f32>::zeros(gpu, &[len])?;
    let dst = Tensor::<f32>::zeros(gpu, &[len])?;
    Ok((src, dst))
}

/// Records dst = src; both hold a whole number of vec4s.
pub fn record_copy(batch: &mut Batch, src: &Tensor, dst: &Tensor) -> Result<()> {
    anyhow::ensure!(
        src.len() == dst.len() && src.len() % 4 == 0,
        "baseline copy needs two buffers of the same whole number of vec4s, got {} and {} floats",
        src.len(),
        dst.len()
    );
    let kernel = batch.gpu().kernel(&BASELINE, "copy", &[])?;
    let vec4s = src.len() / 4;
    let params = CopyParams {
        len: u32::try_from(vec4s)?,
        _pad: [0; 3],
    };
    let groups = grid_1d(batch.gpu(), groups_for(vec4s, COPY_WORKGROUP))?;
    batch.dispatch(
        &kernel,
        &[src.buffer(), dst.buffer()],
        Some(&params),
        groups,
    )
}

impl fmt::Display for Baseline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  baseline: no-op launch {:.1} µs median; copy {:.1} GB/s median \
             ({:.0} MiB read + written, {} clock) = the peak the fractions refer to",
            self.noop_launch.median_s * 1e6,
            self.copy_gbs,
            self.copy_bytes as f64 / 1048576.0,
            self.copy.clock
        )
    }
}

impl fmt::Display for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:.3} GB/s median ({:.1}% of the measured copy peak)",
            self.gbs,
            100.0 * self.fraction_of_copy_peak
        )
    }
}
