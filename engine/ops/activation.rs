//! Activations `a = phi(z)` and their derivatives `d_z = d_a * phi'(z)`, elementwise over
//! f32 tensors of any shape (shaders/activation.wgsl), plus f64 host versions for the
//! theory layer. MEASUREMENTS.md section 2 defines them.

use std::str::FromStr;
use std::sync::Arc;

use anyhow::{bail, Result};

use super::shaders;
use crate::gpu::{grid_1d, groups_for, Batch, Gpu, GpuError, Kernel, Tensor};

/// E[relu(g)] for g ~ N(0, 1): 1 / sqrt(2 pi).
pub const RELU_NORMALIZED_MEAN: f64 = 0.3989422804014327;
/// Std of relu(g) for g ~ N(0, 1): sqrt(E[relu(g)^2] - E[relu(g)]^2) = sqrt(1/2 - 1/(2 pi)).
pub const RELU_NORMALIZED_STD: f64 = 0.5838193701035489;
/// sqrt(E[tanh(g)^2]) for g ~ N(0, 1), E[tanh(g)^2] = 0.394294490397841.
pub const TANH_NORMALIZED_DIVISOR: f64 = 0.627928730349107;

/// The activation of a hidden layer; config names as in [`Activation::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// max(0, z).
    Relu,
    /// tanh(z).
    Tanh,
    /// (relu(z) - RELU_NORMALIZED_MEAN) / RELU_NORMALIZED_STD: mean 0, second moment 1 on N(0, 1).
    ReluNormalized,
    /// tanh(z) / TANH_NORMALIZED_DIVISOR: second moment 1 on N(0, 1) (mean 0 by symmetry).
    TanhNormalized,
}

impl Activation {
    /// In the order of their shader codes ([`Activation::code`]).
    pub const ALL: [Activation; 4] = [
        Activation::Relu,
        Activation::Tanh,
        Activation::ReluNormalized,
        Activation::TanhNormalized,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::ReluNormalized => "relu_normalized",
            Activation::TanhNormalized => "tanh_normalized",
        }
    }

    /// The `ACTIVATION` override of shaders/activation.wgsl.
    fn code(self) -> u32 {
        match self {
            Activation::Relu => 0,
            Activation::Tanh => 1,
            Activation::ReluNormalized => 2,
            Activation::TanhNormalized => 3,
        }
    }

    /// The init gain g of MEASUREMENTS section 2 (W entries ~ N(0, g / fan_in)): 2 for raw
    /// relu (He), making up for relu halving the second moment; 1 for tanh and the
    /// normalised ones (variance preserving by construction).
    pub fn init_gain(self) -> f64 {
        match self {
            Activation::Relu => 2.0,
            Activation::Tanh | Activation::ReluNormalized | Activation::TanhNormalized => 1.0,
        }
    }

    /// phi(z) in f64.
    pub fn eval(self, z: f64) -> f64 {
        match self {
            Activation::Relu => z.max(0.0),
            Activation::Tanh => z.tanh(),
            Activation::ReluNormalized => (z.max(0.0) - RELU_NORMALIZED_MEAN) / RELU_NORMALIZED_STD,
            Activation::TanhNormalized => z.tanh() / TANH_NORMALIZED_DIVISOR,
        }
    }

    /// phi'(z) in f64. At the relu kink z = 0 the derivative is 0 (as on the GPU).
    pub fn derivative(self, z: f64) -> f64 {
        let step = if z > 0.0 { 1.0 } else { 0.0 };
        match self {
            Activation::Relu => step,
            Activation::Tanh => tanh_derivative(z),
            Activation::ReluNormalized => step / RELU_NORMALIZED_STD,
            Activation::TanhNormalized => tanh_derivative(z) / TANH_NORMALIZED_DIVISOR,
        }
    }
}

/// 1 - tanh(z)^2 as sech(z)^2 = 4 s / (1 + s)^2, s = exp(-2|z|): keeps its relative
/// accuracy where tanh rounds to 1, and never overflows (the shader does the same).
fn tanh_derivative(z: f64) -> f64 {
    let s = (-2.0 * z.abs()).exp();
    4.0 * s / ((1.0 + s) * (1.0 + s))
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|a| a.name()).collect();
                anyhow::anyhow!("unknown activation `{s}`: use one of {}", names.join(", "))
            })
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    len: u32,
    _pad: [u32; 3],
}

/// The forward and backward kernels of every activation, built once.
pub struct ActivationOp {
    /// Indexed by [`Activation::code`].
    forward: Vec<Arc<Kernel>>,
    backward: Vec<Arc<Kernel>>,
}

impl ActivationOp {
    pub fn new(gpu: &Gpu) -> Result<Self> {
        let build = |entry: &str| -> Result<Vec<Arc<Kernel>>> {
            Activation::ALL
                .into_iter()
                .map(|act| {
                    gpu.kernel(
                        &shaders::ACTIVATION,
                        entry,
                        &[("ACTIVATION", act.code() as f64)],
                    )
                })
                .collect()
        };
        Ok(ActivationOp {
            forward: build("activation_forward")?,
            backward: build("activation_backward")?,
        })
    }

    /// a = phi(z), elementwise; `z` and `a` have the same shape (any rank) and must be
    /// different tensors.
    pub fn forward(
        &self,
        batch: &mut Batch,
        act: Activation,
        z: &Tensor,
        a: &Tensor,
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
        z: &Tensor,
        d_a: &Tensor,
        d_z: &Tensor,
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
