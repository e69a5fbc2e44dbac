//! Per-row norms of an f32 or f64 matrix, renormalisation of every row to a target norm, and its
//! backward (shaders/rownorm.wgsl). MEASUREMENTS.md section 2, "Renormalisation":
//! `a_i <- a_i * sqrt(w) / ||a_i||` is part of the network function, so training
//! differentiates through it.

use std::marker::PhantomData;
use std::sync::Arc;

use anyhow::{bail, Result};

use super::real::{Real, RealPair};
use crate::gpu::{grid_1d, Batch, Gpu, GpuError, Kernel, Tensor};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    _pad: [u32; 2],
    target_norm: RealPair,
}

const _: () = assert!(std::mem::offset_of!(Params, target_norm) == 16);

/// The row-norm kernels of one precision, built once. X is `[n, d]`, row-major; norms
/// are `[n]`.
pub struct RowNorm<T: Real> {
    norms: Arc<Kernel>,
    renormalize: Arc<Kernel>,
    backward: Arc<Kernel>,
    _real: PhantomData<T>,
}

impl<T: Real> RowNorm<T> {
    pub fn new(gpu: &Gpu) -> Result<Self> {
        Ok(RowNorm {
            norms: gpu.kernel(T::ROWNORM, "rownorm_norms", &[])?,
            renormalize: gpu.kernel(T::ROWNORM, "rownorm_renormalize", &[])?,
            backward: gpu.kernel(T::ROWNORM, "rownorm_backward", &[])?,
            _real: PhantomData,
        })
    }

    /// norms[i] = ||x_i||.
    pub fn norms(&self, batch: &mut Batch, x: &Tensor<T>, norms: &Tensor<T>) -> Result<()> {
        let what = "rownorm norms";
        let (rows, cols) = matrix_dims(what, x)?;
        check_norms(what, x, norms, rows)?;
        launch(
            batch,
            &self.norms,
            &[x.buffer(), norms.buffer()],
            rows,
            cols,
            T::pair(0.0, 0.0),
        )
    }

    /// y_i = x_i * target / norms[i] (norms from `norms`, target rounded to `T`); a zero
    /// row gives non-finite output (the caller checks norms first, see [`first_zero_row`]).
    pub fn renormalize(
        &self,
        batch: &mut Batch,
        x: &Tensor<T>,
        norms: &Tensor<T>,
        target: f64,
        y: &Tensor<T>,
    ) -> Result<()> {
        let what = "rownorm renormalize";
        let (rows, cols) = matrix_dims(what, x)?;
        check_norms(what, x, norms, rows)?;
        check_same(what, "x", x, "y", y)?;
        if std::ptr::eq(x, y) {
            bail!("{what}: x and y are the same tensor; wgpu cannot bind one buffer as both input and output");
        }
        launch(
            batch,
            &self.renormalize,
            &[x.buffer(), norms.buffer(), y.buffer()],
            rows,
            cols,
            T::pair(target, 0.0),
        )
    }

    /// Backward of renormalize: d_x_i = (target / r_i) * (d_y_i - ((x_i . d_y_i) / r_i^2) x_i),
    /// r_i = norms[i].
    pub fn renormalize_backward(
        &self,
        batch: &mut Batch,
        x: &Tensor<T>,
        norms: &Tensor<T>,
        d_y: &Tensor<T>,
        target: f64,
        d_x: &Tensor<T>,
    ) -> Result<()> {
        let what = "rownorm renormalize_backward";
        let (rows, cols) = matrix_dims(what, x)?;
        check_norms(what, x, norms, rows)?;
        check_same(what, "x", x, "d_y", d_y)?;
        check_same(what, "x", x, "d_x", d_x)?;
        if std::ptr::eq(x, d_x) || std::ptr::eq(d_y, d_x) {
            bail!("{what}: d_x is also an input; wgpu cannot bind one buffer as both input and output");
        }
        launch(
            batch,
            &self.backward,
            &[x.buffer(), norms.buffer(), d_y.buffer(), d_x.buffer()],
            rows,
            cols,
            T::pair(target, 0.0),
        )
    }
}

/// Index of the first row whose norm is zero or not finite: such a row cannot be
/// renormalised. (A negative norm, which no kernel produces, also counts.)
pub fn first_zero_row<T: Real>(norms: &[T]) -> Option<usize> {
    norms.iter().position(|&r| {
        let r: f64 = r.into();
        !(r > 0.0 && r.is_finite())
    })
}

fn matrix_dims<T: Real>(what: &str, x: &Tensor<T>) -> Result<(usize, usize)> {
    let (rows, cols) = x.dims2(&format!("{what}: x"))?;
    // The shaders index elements with u32.
    if rows.saturating_mul(cols) > u32::MAX as usize {
        bail!("{what}: x of shape {:?} exceeds 32-bit indexing", x.shape());
    }
    Ok((rows, cols))
}

fn check_norms<T: Real>(what: &str, x: &Tensor<T>, norms: &Tensor<T>, rows: usize) -> Result<()> {
    if norms.shape() != [rows] {
        bail!(GpuError::Shape(format!(
            "{what}: x has shape {:?}, so norms must have shape [{rows}], but it has shape {:?}",
            x.shape(),
            norms.shape()
        )));
    }
    Ok(())
}

fn check_same<T: Real>(
    what: &str,
    a_name: &str,
    a: &Tensor<T>,
    b_name: &str,
    b: &Tensor<T>,
) -> Result<()> {
    if a.shape() != b.shape() {
        bail!(GpuError::Shape(format!(
            "{what}: {a_name} has shape {:?} but {b_name} has shape {:?}; they must match",
            a.shape(),
            b.shape()
        )));
    }
    Ok(())
}

/// One workgroup per row, spread over x and y by grid_1d.
fn launch(
    batch: &mut Batch,
    kernel: &Kernel,
    buffers: &[&wgpu::Buffer],
    rows: usize,
    cols: usize,
    target: RealPair,
) -> Result<()> {
    let params = Params {
        rows: rows as u32,
        cols: cols as u32,
        _pad: [0; 2],
        target_norm: target,
    };
    let groups = grid_1d(batch.gpu(), rows as u64)?;
    batch.dispatch(kernel, buffers, Some(&params), groups)
}
