//! The bias of a dense layer and its gradient, in f32 or f64 (shaders/bias.wgsl).

use std::marker::PhantomData;
use std::sync::Arc;

use anyhow::{bail, Result};

use super::real::Real;
use crate::gpu::{grid_1d, groups_for, Batch, Gpu, GpuError, Kernel, Tensor};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    _pad: [u32; 2],
}

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
        Ok(BiasOp {
            add: gpu.kernel(T::BIAS, "bias_add", &[])?,
            grad: gpu.kernel(T::BIAS, "bias_grad", &[])?,
            _real: PhantomData,
        })
    }

    /// Records z[i, :] += b for every row i.
    pub fn add(&self, batch: &mut Batch, b: &Tensor<T>, z: &Tensor<T>) -> Result<()> {
        let (rows, cols) = check("bias add", z, b)?;
        let params = Params {
            rows: rows as u32,
            cols: cols as u32,
            _pad: [0; 2],
        };
        let groups = grid_1d(batch.gpu(), groups_for(rows * cols, 256))?;
        batch.dispatch(&self.add, &[b.buffer(), z.buffer()], Some(&params), groups)
    }

    /// Records d_b = Σ_i d_z[i, :] (the gradient of a bias added to every row).
    pub fn grad(&self, batch: &mut Batch, d_z: &Tensor<T>, d_b: &Tensor<T>) -> Result<()> {
        let (rows, cols) = check("bias grad", d_z, d_b)?;
        let params = Params {
            rows: rows as u32,
            cols: cols as u32,
            _pad: [0; 2],
        };
        let groups = grid_1d(batch.gpu(), groups_for(cols, 256))?;
        batch.dispatch(
            &self.grad,
            &[d_z.buffer(), d_b.buffer()],
            Some(&params),
            groups,
        )
    }
}
