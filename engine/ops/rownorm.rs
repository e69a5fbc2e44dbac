//! Per-row norms of an f32 or f64 matrix, renormalisation of every row to a target norm, and its
//! backward (shaders/rownorm.wgsl). MEASUREMENTS.md section 2, "Renormalisation":
//! `a_i <- a_i * sqrt(w) / ||a_i||` is part of the network function, so training
//! differentiates through it.

use std::marker::PhantomData;
use std::sync::Arc;

use anyhow::Result;

use super::launch::{kernels, launch, Grid, WordsAndReals};
use super::real::{distinct, rows_and_output, same_shape, Real};
use super::shaders::ROWNORM;
use crate::gpu::{Batch, Gpu, Kernel, Tensor};

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
        let shader = T::of(&ROWNORM);
        let [norms, renormalize, backward] = kernels(
            gpu,
            shader,
            ["rownorm_norms", "rownorm_renormalize", "rownorm_backward"],
        )?;
        Ok(RowNorm {
            norms,
            renormalize,
            backward,
            _real: PhantomData,
        })
    }

    /// norms[i] = ||x_i||.
    pub fn norms(&self, batch: &mut Batch, x: &Tensor<T>, norms: &Tensor<T>) -> Result<()> {
        let dims = rows_and_output("rownorm norms", x, ("norms", norms))?;
        let buffers = [x.buffer(), norms.buffer()];
        self.per_row(batch, &self.norms, &buffers, dims, 0.0)
    }

    /// y_i = x_i * target / norms[i] (norms from `norms`, target rounded to `T`); a zero
    /// row gives non-finite output (the caller checks norms first, see [`first_zero_row`]).
    pub fn renormalize(
        &self, batch: &mut Batch, x: &Tensor<T>, norms: &Tensor<T>, target: f64, y: &Tensor<T>,
    ) -> Result<()> {
        let what = "rownorm renormalize";
        let dims = rows_and_output(what, x, ("norms", norms))?;
        same_shape(what, ("x", x), ("y", y))?;
        distinct(what, ("x", x), ("y", y))?;
        let buffers = [x.buffer(), norms.buffer(), y.buffer()];
        self.per_row(batch, &self.renormalize, &buffers, dims, target)
    }

    /// Backward of renormalize: d_x_i = (target / r_i) * (d_y_i - ((x_i . d_y_i) / r_i^2) x_i),
    /// r_i = norms[i].
    pub fn renormalize_backward(
        &self, batch: &mut Batch, x: &Tensor<T>, norms: &Tensor<T>, d_y: &Tensor<T>, target: f64,
        d_x: &Tensor<T>,
    ) -> Result<()> {
        let what = "rownorm renormalize_backward";
        let dims = rows_and_output(what, x, ("norms", norms))?;
        for (name, t) in [("d_y", d_y), ("d_x", d_x)] {
            same_shape(what, ("x", x), (name, t))?;
        }
        for (name, t) in [("x", x), ("d_y", d_y)] {
            distinct(what, (name, t), ("d_x", d_x))?;
        }
        let buffers = [x.buffer(), norms.buffer(), d_y.buffer(), d_x.buffer()];
        self.per_row(batch, &self.backward, &buffers, dims, target)
    }

    /// One workgroup per row; the params are rows, cols and the target norm.
    fn per_row(
        &self, batch: &mut Batch, kernel: &Kernel, buffers: &[&wgpu::Buffer],
        (rows, cols): (usize, usize), target: f64,
    ) -> Result<()> {
        let params = WordsAndReals::new([rows, cols], T::pair(target, 0.0));
        launch(batch, kernel, buffers, &params, Grid::Groups(rows))
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
