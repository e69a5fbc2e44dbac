//! Per-row reductions of an f32 or f64 matrix: sum, sum of squares, max and argmax
//! (shaders/reduce.wgsl). X is `[n, d]`, row-major; the output is `[n]`.
//!
//! NaN: sums propagate it; max and argmax rank NaN above every number, like NumPy's
//! `np.max`/`np.argmax` (a row with a NaN has max NaN and argmax its first NaN). Ties in
//! argmax resolve to the smallest index. An empty row (d = 0) gives sum 0, max -inf and
//! argmax `u32::MAX`.

use std::marker::PhantomData;
use std::sync::Arc;

use anyhow::Result;

use super::launch::{launch, Grid, KernelsBy, Words};
use super::real::{rows_and_output, Real};
use super::shaders::REDUCE;
use crate::gpu::{Batch, Gpu, Kernel, Tensor};

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

/// The row-reduction kernels of one precision, built once.
pub struct Reduce<T: Real> {
    kernels: KernelsBy<RowReduction>,
    argmax: Arc<Kernel>,
    _real: PhantomData<T>,
}

impl<T: Real> Reduce<T> {
    pub fn new(gpu: &Gpu) -> Result<Self> {
        let kernels = KernelsBy::new(RowReduction::ALL, |kind| {
            gpu.kernel(T::of(&REDUCE), kind.entry(), &[])
        })?;
        Ok(Reduce {
            kernels,
            argmax: gpu.kernel(T::of(&REDUCE), "reduce_argmax", &[])?,
            _real: PhantomData,
        })
    }

    /// Records `out[i] = kind(X[i, :])` for X `[n, d]` and out `[n]`.
    pub fn rows(
        &self, batch: &mut Batch, kind: RowReduction, x: &Tensor<T>, out: &Tensor<T>,
    ) -> Result<()> {
        let what = format!("reduce {}", kind.name());
        let (rows, cols) = rows_and_output(&what, x, ("out", out))?;
        let buffers = [x.buffer(), out.buffer()];
        let (kernel, params) = (self.kernels.get(kind), Words::new([rows, cols]));
        launch(batch, kernel, &buffers, &params, Grid::Groups(rows))
    }

    /// Records `out[i] = argmax_j X[i, j]` (the smallest such j) for X `[n, d]`, out `[n]`.
    pub fn argmax_rows(&self, batch: &mut Batch, x: &Tensor<T>, out: &Tensor<u32>) -> Result<()> {
        let (rows, cols) = rows_and_output("reduce argmax", x, ("out", out))?;
        let buffers = [x.buffer(), out.buffer()];
        let params = Words::new([rows, cols]);
        launch(batch, &self.argmax, &buffers, &params, Grid::Groups(rows))
    }
}
