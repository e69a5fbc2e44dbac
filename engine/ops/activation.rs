//! Activations `a = phi(z)` and their derivatives `d_z = d_a * phi'(z)`, elementwise over
//! f32 or f64 tensors of any shape (shaders/activation.wgsl). The enum and its f64 host formulas
//! are `nn::activation`. MEASUREMENTS.md section 2 defines them.

use std::marker::PhantomData;
use std::sync::Arc;

use anyhow::{bail, Result};

use super::real::Real;
use crate::gpu::{grid_1d, groups_for, Batch, Gpu, GpuError, Kernel, Tensor};
pub use crate::nn::activation::{
    Activation, RELU_NORMALIZED_MEAN, RELU_NORMALIZED_STD, TANH_NORMALIZED_DIVISOR,
};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    len: u32,
    _pad: [u32; 3],
}

/// The forward and backward kernels of every activation in one precision, built once.
pub struct ActivationOp<T: Real> {
    /// Indexed by [`Activation::code`].
    forward: Vec<Arc<Kernel>>,
    backward: Vec<Arc<Kernel>>,
    _real: PhantomData<T>,
}

impl<T: Real> ActivationOp<T> {
    pub fn new(gpu: &Gpu) -> Result<Self> {
        let build = |entry: &str| -> Result<Vec<Arc<Kernel>>> {
            Activation::ALL
                .into_iter()
                .map(|act| gpu.kernel(T::ACTIVATION, entry, &[("ACTIVATION", act.code() as f64)]))
                .collect()
        };
        Ok(ActivationOp {
            forward: build("activation_forward")?,
            backward: build("activation_backward")?,
            _real: PhantomData,
        })
    }

    /// a = phi(z), elementwise; `z` and `a` have the same shape (any rank) and must be
    /// different tensors.
    pub fn forward(
        &self,
        batch: &mut Batch,
        act: Activation,
        z: &Tensor<T>,
        a: &Tensor<T>,
    ) -> Result<()> {
        let what = format!("activation forward ({act})");
        if z.shape() != a.shape() {
            bail!(GpuError::Shape(format!(
                "{what}: z has shape {:?} but a has shape {:?}; they must match",
                z.shape(),
                a.shape()
            )));
        }
        if std::ptr::eq(z, a) {
            bail!("{what}: z and a are the same tensor; wgpu cannot bind one buffer as both input and output");
        }
        let kernel = &self.forward[act.code() as usize];
        launch(batch, kernel, &[z.buffer(), a.buffer()], z.len(), &what)
    }

    /// d_z = d_a * phi'(z), elementwise; `z`, `d_a` and `d_z` have the same shape, and
    /// `d_z` is a tensor of its own.
    pub fn backward(
        &self,
        batch: &mut Batch,
        act: Activation,
        z: &Tensor<T>,
        d_a: &Tensor<T>,
        d_z: &Tensor<T>,
    ) -> Result<()> {
        let what = format!("activation backward ({act})");
        if z.shape() != d_a.shape() || z.shape() != d_z.shape() {
            bail!(GpuError::Shape(format!(
                "{what}: z has shape {:?}, d_a {:?} and d_z {:?}; they must match",
                z.shape(),
                d_a.shape(),
                d_z.shape()
            )));
        }
        if std::ptr::eq(z, d_z) || std::ptr::eq(d_a, d_z) {
            bail!("{what}: d_z is also an input; wgpu cannot bind one buffer as both input and output");
        }
        let kernel = &self.backward[act.code() as usize];
        launch(
            batch,
            kernel,
            &[z.buffer(), d_a.buffer(), d_z.buffer()],
            z.len(),
            &what,
        )
    }
}

/// One invocation per element, workgroups spread over x and y by grid_1d.
fn launch(
    batch: &mut Batch,
    kernel: &Kernel,
    buffers: &[&wgpu::Buffer],
    len: usize,
    what: &str,
) -> Result<()> {
    let wg = kernel.workgroup_size[0];
    // The shader's element index (workgroup * wg + lane) must not wrap in u32.
    if len > (u32::MAX - wg) as usize {
        bail!("{what}: {len} elements exceed 32-bit indexing");
    }
    let params = Params {
        len: len as u32,
        _pad: [0; 3],
    };
    let groups = grid_1d(batch.gpu(), groups_for(len, wg))?;
    batch.dispatch(kernel, buffers, Some(&params), groups)
}
