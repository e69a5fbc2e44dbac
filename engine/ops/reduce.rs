//! Per-row reductions of an f32 or f64 matrix: sum, sum of squares, max and argmax
//! (shaders/reduce.wgsl). X is `[n, d]`, row-major; the output is `[n]`.
//!
//! NaN: sums propagate it; max and argmax rank NaN above every number, like NumPy's
//! `np.max`/`np.argmax` (a row with a NaN has max NaN and argmax its first NaN). Ties in
//! argmax resolve to the smallest index. An empty row (d = 0) gives sum 0, max -inf and
//! argmax `u32::MAX`.

use std::marker::PhantomData;
use std::sync::Arc;

use anyhow::{bail, Result};

use super::real::Real;
use crate::gpu::{grid_1d, Batch, Element, Gpu, GpuError, Kernel, Tensor};

/// A reduction of each row to one number of the matrix's precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RowReduction {
    /// `out[i] = sum_j X[i, j]`
    Sum,
    /// `out[i] = sum_j X[i, j]^2`
    SumSq,
    /// `out[i] = max_j X[i, j]` (NaN wins, see the module docs)
    Max,
}

impl RowReduction {
    pub const ALL: [RowReduction; 3] = [RowReduction::Sum, RowReduction::SumSq, RowReduction::Max];

    pub fn name(self) -> &'static str {
        match self {
            RowReduction::Sum => "sum",
            RowReduction::SumSq => "sum_sq",
            RowReduction::Max => "max",
        }
    }

    fn entry(self) -> &'static str {
        match self {
            RowReduction::Sum => "reduce_sum",
            RowReduction::SumSq => "reduce_sum_sq",
            RowReduction::Max => "reduce_max",
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
}

/// The row-reduction kernels of one precision, built once.
pub struct Reduce<T: Real> {
    kernels: Vec<(RowReduction, Arc<Kernel>)>,
    argmax: Arc<Kernel>,
    _real: PhantomData<T>,
}

impl<T: Real> Reduce<T> {
    pub fn new(gpu: &Gpu) -> Result<Self> {
        let kernels = RowReduction::ALL
            .into_iter()
            .map(|kind| Ok((kind, gpu.kernel(T::REDUCE, kind.entry(), &[])?)))
            .collect::<Result<_>>()?;
        Ok(Reduce {
            kernels,
            argmax: gpu.kernel(T::REDUCE, "reduce_argmax", &[])?,
            _real: PhantomData,
        })
    }

    /// Records `out[i] = kind(X[i, :])` for X `[n, d]` and out `[n]`.
    pub fn rows(
        &self,
        batch: &mut Batch,
        kind: RowReduction,
        x: &Tensor<T>,
        out: &Tensor<T>,
    ) -> Result<()> {
        let what = format!("reduce {}", kind.name());
        let (rows, cols) = check(&what, x, out)?;
        let kernel = &self
            .kernels
            .iter()
            .find(|(k, _)| *k == kind)
            .expect("all reductions built")
            .1;
        launch(batch, kernel, &[x.buffer(), out.buffer()], rows, cols)
    }

    /// Records `out[i] = argmax_j X[i, j]` (the smallest such j) for X `[n, d]`, out `[n]`.
    pub fn argmax_rows(&self, batch: &mut Batch, x: &Tensor<T>, out: &Tensor<u32>) -> Result<()> {
        let (rows, cols) = check("reduce argmax", x, out)?;
        launch(batch, &self.argmax, &[x.buffer(), out.buffer()], rows, cols)
    }
}

fn check<T: Real, U: Element>(
    what: &str,
    x: &Tensor<T>,
    out: &Tensor<U>,
) -> Result<(usize, usize)> {
    let (rows, cols) = x.dims2(&format!("{what}: x"))?;
    // The shader indexes elements with u32.
    if rows.saturating_mul(cols) > u32::MAX as usize {
        bail!("{what}: x of shape {:?} exceeds 32-bit indexing", x.shape());
    }
    if out.shape() != [rows] {
        bail!(GpuError::Shape(format!(
            "{what}: x has shape {:?}, so out must have shape [{rows}], but it has shape {:?}",
            x.shape(),
            out.shape()
        )));
    }
    Ok((rows, cols))
}

/// One workgroup per row, spread over x and y by grid_1d.
fn launch(
    batch: &mut Batch,
    kernel: &Kernel,
    buffers: &[&wgpu::Buffer],
    rows: usize,
    cols: usize,
) -> Result<()> {
    let params = Params {
        rows: rows as u32,
        cols: cols as u32,
        _pad0: 0,
        _pad1: 0,
    };
    let groups = grid_1d(batch.gpu(), rows as u64)?;
    batch.dispatch(kernel, buffers, Some(&params), groups)
}
