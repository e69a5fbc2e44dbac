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
    for l in 0..cfg.depth() {
        let input = previous.as_ref().unwrap_or(x);
        let (_, phi, _, renormed) = hidden_forward(gpu, ops, cfg, l, input, &fcn.weights[l])?;
        let out = renormed.unwrap_or(phi);
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

/// What the backward pass needs from the forward pass, per hidden layer l = 1..=D:
/// its input a^{l-1}, pre-activation z^l, activation phi(z^l) and (with
/// renormalisation) the row norms of phi(z^l); and the output layer's input a^D.
pub struct ForwardCache {
    /// a^0 (the inputs) .. a^D: the input of each layer, the output layer's last.
    pub inputs: Vec<Tensor>,
    pub pre_activations: Vec<Tensor>,
    pub activations: Vec<Tensor>,
    pub norms: Vec<Option<Tensor>>,
    pub logits: Tensor,
}

/// Hidden layer l forward: z = a W_lᵀ, phi = phi(z), a_out = renorm(phi) or phi.
/// Returns (z, phi, norms, a_out); a_out is `phi` itself without renormalisation.
fn hidden_forward(
    gpu: &Gpu,
    ops: &ForwardOps,
    cfg: &FcnConfig,
    l: usize,
    input: &Tensor,
    weight: &Tensor,
) -> Result<(Tensor, Tensor, Option<Tensor>, Option<Tensor>)> {
    let n = input.shape()[0];
    let width = weight.shape()[0];
    let z = Tensor::<f32>::zeros(gpu, &[n, width])?;
    let phi = Tensor::<f32>::zeros(gpu, &[n, width])?;
    let mut batch = Batch::new(gpu);
    ops.matmul
        .record(&mut batch, Layout::NT, 1.0, input, weight, 0.0, &z)?;
    ops.activation
        .forward(&mut batch, cfg.activation, &z, &phi)?;
    if !cfg.renormalize {
        batch.submit()?;
        return Ok((z, phi, None, None));
    }
    let norms = Tensor::<f32>::zeros(gpu, &[n])?;
    ops.rownorm.norms(&mut batch, &phi, &norms)?;
    batch.submit()?;
    if let Some(i) = first_zero_row(&norms.to_vec(gpu)?) {
        bail!(
            "example {i} has an all-zero (or non-finite) activation vector at layer {}: it cannot be \
             renormalised (try another seed, a wider layer, or renormalize: false)",
            l + 1
        );
    }
    let out = Tensor::<f32>::zeros(gpu, &[n, width])?;
    let mut batch = Batch::new(gpu);
    ops.rownorm
        .renormalize(&mut batch, &phi, &norms, (width as f32).sqrt(), &out)?;
    batch.submit()?;
    Ok((z, phi, Some(norms), Some(out)))
}

/// Hidden layer l backward, the mirror of [`hidden_forward`]: from d_a_out (the
/// gradient at the layer's output) records d_W_l = d_zᵀ a^{l-1} into `d_weight` and,
/// when `d_input` is given, d_a^{l-1} = d_z W_l.
#[allow(clippy::too_many_arguments)]
fn hidden_backward(
    gpu: &Gpu,
    ops: &ForwardOps,
    cfg: &FcnConfig,
    cache: &ForwardCache,
    l: usize,
    weight: &Tensor,
    d_out: &Tensor,
    d_weight: &Tensor,
    d_input: Option<&Tensor>,
) -> Result<()> {
    let (n, width) = d_out.dims2("the gradient of a layer's output")?;
    let d_z = Tensor::<f32>::zeros(gpu, &[n, width])?;
    let mut batch = Batch::new(gpu);
    let d_phi_owned;
    let d_phi = match &cache.norms[l] {
        Some(norms) => {
            d_phi_owned = Tensor::<f32>::zeros(gpu, &[n, width])?;
            ops.rownorm.renormalize_backward(
                &mut batch,
                &cache.activations[l],
                norms,
                d_out,
                (width as f32).sqrt(),
                &d_phi_owned,
            )?;
            &d_phi_owned
        }
        None => d_out,
    };
    ops.activation.backward(
        &mut batch,
        cfg.activation,
        &cache.pre_activations[l],
        d_phi,
        &d_z,
    )?;
    ops.matmul.record(
        &mut batch,
        Layout::TN,
        1.0,
        &d_z,
        &cache.inputs[l],
        0.0,
        d_weight,
    )?;
    if let Some(d_input) = d_input {
        ops.matmul
            .record(&mut batch, Layout::NN, 1.0, &d_z, weight, 0.0, d_input)?;
    }
    batch.submit()?;
    Ok(())
}

/// The forward pass keeping what [`backward`] needs (O(depth · n · width) memory).
pub fn forward_cached(gpu: &Gpu, ops: &ForwardOps, fcn: &Fcn, x: &Tensor) -> Result<ForwardCache> {
    let cfg = &fcn.config;
    let (n, d) = x.dims2("the inputs")?;
    if d != cfg.input_dim {
        bail!(
            "the inputs have {d} features but the network expects {}",
            cfg.input_dim
        );
    }
    let x_copy = Tensor::<f32>::zeros(gpu, &[n, d])?;
    let mut batch = Batch::new(gpu);
    batch.copy(x.buffer(), x_copy.buffer(), x.bytes());
    batch.submit()?;
    let mut cache = ForwardCache {
        inputs: vec![x_copy],
        pre_activations: Vec::new(),
        activations: Vec::new(),
        norms: Vec::new(),
        logits: Tensor::zeros(gpu, &[n, cfg.outputs])?,
    };
    for l in 0..cfg.depth() {
        let (z, phi, norms, renormed) = hidden_forward(
            gpu,
            ops,
            cfg,
            l,
            cache.inputs.last().unwrap(),
            &fcn.weights[l],
        )?;
        let next = match renormed {
            Some(r) => r,
            None => {
                // The next layer's input is phi itself: keep one copy for each role.
                let copy = Tensor::<f32>::zeros(gpu, phi.shape())?;
                let mut batch = Batch::new(gpu);
                batch.copy(phi.buffer(), copy.buffer(), phi.bytes());
                batch.submit()?;
                copy
            }
        };
        cache.pre_activations.push(z);
        cache.activations.push(phi);
        cache.norms.push(norms);
        cache.inputs.push(next);
    }
    let mut batch = Batch::new(gpu);
    ops.matmul.record(
        &mut batch,
        Layout::NT,
        1.0,
        cache.inputs.last().unwrap(),
        fcn.weights.last().expect("output layer"),
        0.0,
        &cache.logits,
    )?;
    batch.submit()?;
    Ok(cache)
}

/// Gradients of h with respect to every weight matrix, given d_logits = ∂h/∂logits.
/// Returned in the order of `fcn.weights` (hidden layers, then the output layer).
pub fn backward(
    gpu: &Gpu,
    ops: &ForwardOps,
    fcn: &Fcn,
    cache: &ForwardCache,
    d_logits: &Tensor,
) -> Result<Vec<Tensor>> {
    let cfg = &fcn.config;
    let depth = cfg.depth();
    let n = d_logits.shape()[0];
    let grads: Vec<Tensor> = fcn
        .weights
        .iter()
        .map(|w| Tensor::<f32>::zeros(gpu, w.shape()))
        .collect::<Result<_>>()?;
    // Output layer: logits = a^D W_outᵀ.
    let mut d_a = Tensor::<f32>::zeros(gpu, &[n, cache.inputs[depth].shape()[1]])?;
    let mut batch = Batch::new(gpu);
    ops.matmul.record(
        &mut batch,
        Layout::TN,
        1.0,
        d_logits,
        &cache.inputs[depth],
        0.0,
        &grads[depth],
    )?;
    if depth > 0 {
        ops.matmul.record(
            &mut batch,
            Layout::NN,
            1.0,
            d_logits,
            &fcn.weights[depth],
            0.0,
            &d_a,
        )?;
    }
    batch.submit()?;
    for l in (0..depth).rev() {
        let d_input = if l > 0 {
            Some(Tensor::<f32>::zeros(gpu, &[n, cache.inputs[l].shape()[1]])?)
        } else {
            None
        };
        hidden_backward(
            gpu,
            ops,
            cfg,
            cache,
            l,
            &fcn.weights[l],
            &d_a,
            &grads[l],
            d_input.as_ref(),
        )?;
        if let Some(next) = d_input {
            d_a = next;
        }
    }
    Ok(grads)
}
