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
    _pad: [u32; 2],
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
        let params = TridiagonalizeParams {
            n: n as u32,
            count: count as u32,
            _pad: [0; 2],
        };
        let buffers = [
            a.buffer(),
            work.work.buffer(),
            work.tri.buffer(),
            work.scratch.buffer(),
        ];
        let groups = grid_1d(batch.gpu(), count as u64)?;
        batch.dispatch(&self.kernel, &buffers, Some(&params), groups)
    }
}
