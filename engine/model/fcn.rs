//! Fully connected networks (MEASUREMENTS.md §2): init and the forward pass on the GPU.
//!
//! Layer l: z^l = a^{l-1} W_lᵀ (a^{l-1} is n x fan_in, W_l is width x fan_in), then
//! a^l = phi(z^l), optionally renormalised to ‖a_i^l‖ = sqrt(width). The output layer
//! is linear to k logits. The forward pass visits each layer's output and then lets
//! it go, so memory is O(n·width) whatever the depth.

use anyhow::{bail, Result};
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};

use crate::gpu::{Batch, Gpu, Tensor};
use crate::ops::activation::{Activation, ActivationOp};
use crate::ops::rownorm::{first_zero_row, RowNorm};
use crate::ops::{Layout, Matmul, MatmulVariant};

/// Architecture and init of an FCN.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FcnConfig {
    pub input_dim: usize,
    /// Hidden widths w_1 .. w_D.
    pub widths: Vec<usize>,
    /// Number of logits k.
    pub outputs: usize,
    pub activation: Activation,
    pub renormalize: bool,
    /// Init gain g of the hidden layers (W entries ~ N(0, g / fan_in)); `None` for the
    /// variance-preserving default of the activation (2 for raw relu, else 1).
    pub gain: Option<f64>,
    pub seed: u64,
}

impl FcnConfig {
    pub fn depth(&self) -> usize {
        self.widths.len()
    }

    pub fn hidden_gain(&self) -> f64 {
        self.gain.unwrap_or_else(|| self.activation.init_gain())
    }

    /// (fan_out, fan_in) of every layer, the output layer last.
    pub fn layer_shapes(&self) -> Vec<(usize, usize)> {
        let mut shapes = Vec::with_capacity(self.widths.len() + 1);
        let mut fan_in = self.input_dim;
        for &w in self.widths.iter().chain(std::iter::once(&self.outputs)) {
            shapes.push((w, fan_in));
            fan_in = w;
        }
        shapes
    }

    /// Number of parameters P.
    pub fn parameters(&self) -> usize {
        self.layer_shapes().iter().map(|(o, i)| o * i).sum()
    }
}

/// An FCN's weights on the GPU (hidden layers, then the output layer).
pub struct Fcn {
    pub config: FcnConfig,
    pub weights: Vec<Tensor>,
}

/// The initial weights on the host: W_l entries ~ N(0, g / fan_in), the hidden layers'
/// gain g, 1 for the linear output layer. Deterministic in the config's seed.
pub fn init_weights(config: &FcnConfig) -> Vec<Vec<f32>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
    let shapes = config.layer_shapes();
    let last = shapes.len() - 1;
    shapes
        .iter()
        .enumerate()
        .map(|(l, &(fan_out, fan_in))| {
            let g = if l == last { 1.0 } else { config.hidden_gain() };
            let normal = Normal::new(0.0, (g / fan_in as f64).sqrt()).expect("finite std");
            (0..fan_out * fan_in)
                .map(|_| normal.sample(&mut rng) as f32)
                .collect()
        })
        .collect()
}

impl Fcn {
    pub fn init(gpu: &Gpu, config: FcnConfig) -> Result<Fcn> {
        if config.input_dim == 0 || config.outputs == 0 || config.widths.contains(&0) {
            bail!(
                "an FCN needs positive sizes: input {}, widths {:?}, outputs {}",
                config.input_dim,
                config.widths,
                config.outputs
            );
        }
        let host = init_weights(&config);
        let weights = config
            .layer_shapes()
            .iter()
            .zip(&host)
            .map(|(&(o, i), w)| Tensor::from_slice(gpu, &[o, i], w))
            .collect::<Result<Vec<_>>>()?;
        Ok(Fcn { config, weights })
    }
}

/// The kernels of the forward pass, built once.
pub struct ForwardOps {
    matmul: Matmul,
    activation: ActivationOp,
    rownorm: RowNorm,
}

impl ForwardOps {
    pub fn new(gpu: &Gpu) -> Result<Self> {
        Ok(ForwardOps {
            matmul: Matmul::new(gpu, MatmulVariant::Tiled)?,
            activation: ActivationOp::new(gpu)?,
            rownorm: RowNorm::new(gpu)?,
        })
    }
}

/// Runs the forward pass on inputs `x` [n, input_dim]. Calls `visit(l, F^l)` for
/// l = 0 (the input) through D (the last hidden layer), each F^l of shape [n, w_l], in
/// order, and returns the logits [n, k].
pub fn forward(
    gpu: &Gpu,
    ops: &ForwardOps,
    fcn: &Fcn,
    x: &Tensor,
    mut visit: impl FnMut(usize, &Tensor) -> Result<()>,
) -> Result<Tensor> {
    let cfg = &fcn.config;
    let (n, d) = x.dims2("the inputs")?;
    if d != cfg.input_dim {
        bail!(
            "the inputs have {d} features but the network expects {}",
            cfg.input_dim
        );
    }
    visit(0, x)?;
    let mut previous: Option<Tensor> = None;
    for (l, &width) in cfg.widths.iter().enumerate() {
        let input = previous.as_ref().unwrap_or(x);
        let z = Tensor::<f32>::zeros(gpu, &[n, width])?;
        let a = Tensor::<f32>::zeros(gpu, &[n, width])?;
        let mut batch = Batch::new(gpu);
        ops.matmul
            .record(&mut batch, Layout::NT, 1.0, input, &fcn.weights[l], 0.0, &z)?;
        ops.activation.forward(&mut batch, cfg.activation, &z, &a)?;
        let out = if cfg.renormalize {
            let norms = Tensor::<f32>::zeros(gpu, &[n])?;
            ops.rownorm.norms(&mut batch, &a, &norms)?;
            batch.submit()?;
            if let Some(i) = first_zero_row(&norms.to_vec(gpu)?) {
                bail!(
                    "example {i} has an all-zero (or non-finite) activation vector at layer {}: it cannot be \
                     renormalised (try another seed, a wider layer, or renormalize: false)",
                    l + 1
                );
            }
            let mut batch = Batch::new(gpu);
            // z is free now: reuse it for the renormalised output.
            ops.rownorm
                .renormalize(&mut batch, &a, &norms, (width as f32).sqrt(), &z)?;
            batch.submit()?;
            z
        } else {
            batch.submit()?;
            a
        };
        visit(l + 1, &out)?;
        previous = Some(out);
    }
    let input = previous.as_ref().unwrap_or(x);
    let logits = Tensor::<f32>::zeros(gpu, &[n, cfg.outputs])?;
    let mut batch = Batch::new(gpu);
    ops.matmul.record(
        &mut batch,
        Layout::NT,
        1.0,
        input,
        fcn.weights.last().expect("output layer"),
        0.0,
        &logits,
    )?;
    batch.submit()?;
    Ok(logits)
}
