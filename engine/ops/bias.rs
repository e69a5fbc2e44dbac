//! The bias of a dense layer and its gradient, in f32 or f64 (shaders/bias.wgsl).

use std::marker::PhantomData;
use std::sync::Arc;

use anyhow::{bail, Result};

use super::launch::{kernels, launch, Grid, Words};
use super::real::Real;
use super::shaders::BIAS;
use crate::gpu::{Batch, Gpu, GpuError, Kernel, Tensor};

pub struct BiasOp<T: Real> {
    add: Arc<Kernel>,
    grad: Arc<Kernel>,
    _real: PhantomData<T>,
}

fn check<T: Real>(what: &str, z: &Tensor<T>, b: &Tensor<T>) -> Result<(usize, usize)> {
    let (rows, cols) = z.dims2(what)?;
    if b.shape() != [cols] {
        bail!(GpuError::Shape(format!(
            "{what}: a [{rows}, {cols}] matrix needs a bias of shape [{cols}], got {:?}",
            b.shape()
        )));
    }
    if rows
        .checked_mul(cols)
        .is_none_or(|len| len > (u32::MAX - 256) as usize)
    {
        bail!("{what}: [{rows}, {cols}] exceeds 32-bit indexing");
    }
    Ok((rows, cols))
}

impl<T: Real> BiasOp<T> {
    pub fn new(gpu: &Gpu) -> Result<Self> {
        let [add, grad] = kernels(gpu, T::of(&BIAS), ["bias_add", "bias_grad"])?;
        Ok(BiasOp {
            add,
            grad,
            _real: PhantomData,
        })
    }

    /// Records z[i, :] += b for every row i: one invocation per element.
    pub fn add(&self, batch: &mut Batch, b: &Tensor<T>, z: &Tensor<T>) -> Result<()> {
        let (rows, cols) = check("bias add", z, b)?;
        let buffers = [b.buffer(), z.buffer()];
        let (params, len) = (Words::new([rows, cols]), rows * cols);
        launch(batch, &self.add, &buffers, &params, Grid::Elements(len))
    }

    /// Records d_b = Σ_i d_z[i, :] (the gradient of a bias added to every row): one
    /// invocation per column.
    pub fn grad(&self, batch: &mut Batch, d_z: &Tensor<T>, d_b: &Tensor<T>) -> Result<()> {
        let (rows, cols) = check("bias grad", d_z, d_b)?;
        let buffers = [d_z.buffer(), d_b.buffer()];
        let params = Words::new([rows, cols]);
        launch(batch, &self.grad, &buffers, &params, Grid::Elements(cols))
    }
}
