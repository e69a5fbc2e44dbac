//! Householder tridiagonalisation of a batch of symmetric matrices, one workgroup per
//! matrix (shaders/tridiagonalize.wgsl); the dense eigensolver's GPU half.

use std::sync::Arc;

use anyhow::{bail, Result};

use super::krylov::SpectralElement;
use crate::gpu::{grid_1d, Batch, Gpu, GpuError, Kernel, Tensor};

/// Params of shaders/tridiagonalize.wgsl (16 bytes, the same in both precisions).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct TridiagonalizeParams {
    n: u32,
    count: u32,
    k_begin: u32,
    k_end: u32,
}

/// Most trailing-matrix element updates (symmetric product plus rank-2 update, per
/// matrix) one launch may do: lavapipe left launches unfinished past about 1e7
/// (2·Σm² over the columns reduced), so a fifth of that.
const WORK_PER_LAUNCH: usize = 2_000_000;

/// Column ranges [begin, end) of bounded work covering columns 0 .. n-1 (at least one
/// range, so that n = 1 still copies and writes its diagonal).
pub fn column_ranges(n: usize) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let (mut begin, mut work) = (0, 0);
    for k in 0..n.saturating_sub(1) {
        let m = n - k - 1;
        work += 2 * m * m + 4 * m;
        if work >= WORK_PER_LAUNCH {
            ranges.push((begin, k + 1));
            (begin, work) = (k + 1, 0);
        }
    }
    if begin < n.saturating_sub(1) || ranges.is_empty() {
        ranges.push((begin, n.saturating_sub(1)));
    }
    ranges
}

/// The reduction kernel of one precision, built once.
pub struct Tridiagonalize<T: SpectralElement> {
    kernel: Arc<Kernel>,
    _element: std::marker::PhantomData<T>,
}

/// Device buffers one reduction of `count` matrices of order `n` needs.
pub struct TridiagonalWork<T: SpectralElement> {
    pub count: usize,
    pub n: usize,
    /// `[count, n, n]`: the copy that is reduced in place.
    work: Tensor<T>,
    /// `[count, 2n]`: d (n), e (n - 1), then a 0, per matrix; what the host reads back.
    pub tri: Tensor<T>,
    /// `[count, 2n]`: the reflector and the symmetric update vector.
    scratch: Tensor<T>,
}

impl<T: SpectralElement> TridiagonalWork<T> {
    pub fn new(gpu: &Gpu, count: usize, n: usize) -> Result<Self> {
        Ok(TridiagonalWork {
            count,
            n,
            work: Tensor::zeros(gpu, &[count, n, n])?,
            tri: Tensor::zeros(gpu, &[count, 2 * n])?,
            scratch: Tensor::zeros(gpu, &[count, 2 * n])?,
        })
    }
}

impl<T: SpectralElement> Tridiagonalize<T> {
    /// Builds the kernel; for f64 fails naming SHADER_F64 when the adapter lacks it.
    pub fn new(gpu: &Gpu) -> Result<Self> {
        Ok(Tridiagonalize {
            kernel: gpu.kernel(T::TRIDIAGONALIZE, "tridiagonalize", &[])?,
            _element: std::marker::PhantomData,
        })
    }

    /// Records the reduction of the `work.count` symmetric matrices `a`
    /// (`[count, n, n]` or, for one matrix, `[n, n]`; lower triangle read) into
    /// `work.tri`.
    pub fn record(
        &self,
        batch: &mut Batch,
        a: &Tensor<T>,
        work: &TridiagonalWork<T>,
    ) -> Result<()> {
        let (count, n) = (work.count, work.n);
        if a.len() != count * n * n || a.shape().last() != Some(&n) {
            bail!(GpuError::Shape(format!(
                "tridiagonalize: matrices of shape {:?} do not match {count} matrices of order {n}",
                a.shape()
            )));
        }
        if a.len() > u32::MAX as usize {
            bail!(
                "tridiagonalize: {count} matrices of order {n} exceed 32-bit indexing; \
                 reduce them in smaller batches"
            );
        }
        let buffers = [
            a.buffer(),
            work.work.buffer(),
            work.tri.buffer(),
            work.scratch.buffer(),
        ];
        let groups = grid_1d(batch.gpu(), count as u64)?;
        for (begin, end) in column_ranges(n) {
            let params = TridiagonalizeParams {
                n: n as u32,
                count: count as u32,
                k_begin: begin as u32,
                k_end: end as u32,
            };
            batch.dispatch(&self.kernel, &buffers, Some(&params), groups)?;
        }
        Ok(())
    }
}
