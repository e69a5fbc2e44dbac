//! The non-Gram pieces of the explicit empirical NTK (shaders/ntk.wgsl):
//! repeating each example's row once per logit, and the Hadamard accumulation
//! K += (A Aᵀ (+1) ⊗ 1_{k×k}) ⊙ (Δ Δᵀ). Row p = i·k + c belongs to example i, logit c.

use anyhow::{bail, Result};

use super::launch::{launch, Grid, WordsAndReals};
use super::real::{check_grid_index, KernelPair, Real, RealPair};
use super::shaders::NTK;
use crate::gpu::{Batch, Gpu, GpuError, Tensor};

pub struct NtkOps {
    repeat: KernelPair,
    accumulate: KernelPair,
}

/// (n, k) from GA [n, n] and D, K [nk, nk].
fn accumulate_dims(ga: &[usize], dd: &[usize], kernel: &[usize], k: usize) -> Result<usize> {
    let n = ga.first().copied().unwrap_or(0);
    let order = n.saturating_mul(k);
    if ga != [n, n] || dd != [order, order] || kernel != [order, order] || k == 0 {
        bail!(GpuError::Shape(format!(
            "ntk accumulate with k = {k}: GA {ga:?} must be [n, n] and D {dd:?}, K {kernel:?} \
             both [n k, n k]"
        )));
    }
    Ok(n)
}

impl NtkOps {
    pub fn new(gpu: &Gpu) -> Result<Self> {
        let pair = |entry| KernelPair::new(gpu, &NTK, entry);
        Ok(NtkOps {
            repeat: pair("ntk_repeat_rows")?,
            accumulate: pair("ntk_accumulate")?,
        })
    }

    /// Records out[i·k + c, :] = x[i, :] for every c < k (`out` is [n·k, cols]).
    pub fn repeat_rows<T: Real>(
        &self, batch: &mut Batch, x: &Tensor<T>, k: usize, out: &Tensor<T>,
    ) -> Result<()> {
        let kernel = self.repeat.get::<T>(batch.gpu())?;
        let (rows, cols) = x.dims2("ntk repeat rows: x")?;
        if out.shape() != [rows * k, cols] {
            bail!(GpuError::Shape(format!(
                "ntk repeat rows: x {:?} repeated {k} times needs out [{}, {cols}], got {:?}",
                x.shape(),
                rows * k,
                out.shape()
            )));
        }
        let len = rows * k * cols;
        let wg = kernel.workgroup_size[0];
        check_grid_index(batch.gpu(), "ntk repeat rows", len, wg)?;
        // Params: rows, cols, k, then offset (unused here).
        let params = WordsAndReals::new([rows, cols, k], RealPair::default());
        let buffers = [x.buffer(), out.buffer()];
        launch(batch, kernel, &buffers, &params, Grid::Elements(len))
    }

    /// Records K[p, q] += (GA[p/k, q/k] + offset) · D[p, q] in `T` (offset rounded to `T`).
    pub fn accumulate<T: Real>(
        &self, batch: &mut Batch, ga: &Tensor<T>, dd: &Tensor<T>, k: usize, offset: f64,
        kernel_matrix: &Tensor<T>,
    ) -> Result<()> {
        let kernel = self.accumulate.get::<T>(batch.gpu())?;
        let n = accumulate_dims(ga.shape(), dd.shape(), kernel_matrix.shape(), k)?;
        let len = n * k * n * k;
        let wg = kernel.workgroup_size[0];
        check_grid_index(batch.gpu(), "ntk accumulate", len, wg)?;
        let params = WordsAndReals::new([n, 0, k], T::pair(offset, 0.0));
        let buffers = [ga.buffer(), dd.buffer(), kernel_matrix.buffer()];
        launch(batch, kernel, &buffers, &params, Grid::Elements(len))
    }
}
