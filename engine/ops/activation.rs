//! Activations `a = phi(z)` and their derivatives `d_z = d_a * phi'(z)`, elementwise over
//! f32 or f64 tensors of any shape (shaders/activation.wgsl). The enum and its f64 host formulas
//! are `nn::activation`. MEASUREMENTS.md section 2 defines them.

use std::marker::PhantomData;

use anyhow::{bail, Result};

use super::launch::{launch, Grid, KernelsBy, Words};
use super::real::{distinct, same_shape, Real};
use super::shaders::ACTIVATION;
use crate::gpu::{Batch, Gpu, Kernel, Tensor};
pub use crate::nn::activation::{
    Activation, RELU_NORMALIZED_MEAN, RELU_NORMALIZED_STD, TANH_NORMALIZED_DIVISOR,
};

/// The forward and backward kernels of every activation in one precision, built once.
pub struct ActivationOp<T: Real> {
    forward: KernelsBy<Activation>,
    backward: KernelsBy<Activation>,
    _real: PhantomData<T>,
}

impl<T: Real> ActivationOp<T> {
    pub fn new(gpu: &Gpu) -> Result<Self> {
        let build = |entry: &str| {
            KernelsBy::new(Activation::ALL, |act| {
                gpu.kernel(
                    T::of(&ACTIVATION),
                    entry,
                    &[("ACTIVATION", act.code() as f64)],
                )
            })
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
        &self, batch: &mut Batch, act: Activation, z: &Tensor<T>, a: &Tensor<T>,
    ) -> Result<()> {
        let what = format!("activation forward ({act})");
        same_shape(&what, ("z", z), ("a", a))?;
        distinct(&what, ("z", z), ("a", a))?;
        let buffers = [z.buffer(), a.buffer()];
        elementwise(batch, self.forward.get(act), &buffers, z.len(), &what)
    }

    /// d_z = d_a * phi'(z), elementwise; `z`, `d_a` and `d_z` have the same shape, and
    /// `d_z` is a tensor of its own.
    pub fn backward(
        &self, batch: &mut Batch, act: Activation, z: &Tensor<T>, d_a: &Tensor<T>, d_z: &Tensor<T>,
    ) -> Result<()> {
        let what = format!("activation backward ({act})");
        same_shape(&what, ("z", z), ("d_a", d_a))?;
        same_shape(&what, ("z", z), ("d_z", d_z))?;
        distinct(&what, ("z", z), ("d_z", d_z))?;
        distinct(&what, ("d_a", d_a), ("d_z", d_z))?;
        let buffers = [z.buffer(), d_a.buffer(), d_z.buffer()];
        elementwise(batch, self.backward.get(act), &buffers, z.len(), &what)
    }
}

/// One invocation per element; the params are len.
fn elementwise(
    batch: &mut Batch, kernel: &Kernel, buffers: &[&wgpu::Buffer], len: usize, what: &str,
) -> Result<()> {
    let wg = kernel.workgroup_size[0];
    // The shader's element index (workgroup * wg + lane) must not wrap in u32.
    if len > (u32::MAX - wg) as usize {
        bail!("{what}: {len} elements exceed 32-bit indexing");
    }
    let params = Words::new([len]);
    launch(batch, kernel, buffers, &params, Grid::Elements(len))
}
