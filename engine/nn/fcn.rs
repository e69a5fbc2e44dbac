//! Fully connected networks (MEASUREMENTS.md §2): the passes on the GPU (the parameters
//! and their init are [`super::params`]).
//!
//! Layer l: z^l = a^{l-1} W_lᵀ (+ b_l) (a^{l-1} is n x fan_in, W_l is width x fan_in),
//! then a^l = phi(z^l), optionally renormalised to ‖a_i^l‖ = sqrt(width). The output
//! layer is linear to k logits. [`forward`] visits each layer's output and then lets it
//! go, so memory is O(n·width) whatever the depth; [`record_forward_cached`] keeps what
//! the backward pass ([`record_backward`]) and the forward-mode JVP ([`record_jvp`])
//! need. Each layer's forward, backward and JVP sit side by side below.

use anyhow::{bail, Result};

use crate::gpu::{Batch, Gpu, Tensor};
use crate::linalg::Real;
use crate::ops::activation::ActivationOp;
use crate::ops::bias::BiasOp;
use crate::ops::rownorm::{first_zero_row, RowNorm};
use crate::ops::{Layout, Matmul, MatmulVariant};

pub use super::params::{init_weights, init_weights_in, Fcn, FcnConfig, ParamTensors};

/// The kernels of the network passes, built once.
pub struct ForwardOps<T: Real = f32> {
    pub(crate) matmul: Matmul<T>,
    pub(crate) activation: ActivationOp<T>,
    pub(crate) rownorm: RowNorm<T>,
    pub(crate) bias: BiasOp<T>,
}

impl<T: Real> ForwardOps<T> {
    pub fn new(gpu: &Gpu) -> Result<Self> {
        Ok(ForwardOps {
            matmul: Matmul::new(gpu, MatmulVariant::for_device(gpu)?)?,
            activation: ActivationOp::new(gpu)?,
            rownorm: RowNorm::new(gpu)?,
            bias: BiasOp::new(gpu)?,
        })
    }
}

/// What a hidden layer's backward and JVP need from its forward: the pre-activation
/// z, phi(z) and, with renormalisation, the row norms of phi(z).
pub struct LayerCache<T: Real = f32> {
    pub z: Tensor<T>,
    pub phi: Tensor<T>,
    pub norms: Option<Tensor<T>>,
}

/// The forward pass with every layer kept: a^0 (the inputs) .. a^D (the output
/// layer's input), each hidden layer's [`LayerCache`], and the logits.
pub struct ForwardCache<T: Real = f32> {
    pub inputs: Vec<Tensor<T>>,
    pub layers: Vec<LayerCache<T>>,
    pub logits: Tensor<T>,
}

// ---------------------------------------------------------------------------------
// Dense map z = a Wᵀ (+ b): forward, backward, JVP.

fn record_dense_forward<T: Real>(
    batch: &mut Batch, ops: &ForwardOps<T>, input: &Tensor<T>, weight: &Tensor<T>,
    bias: Option<&Tensor<T>>, z: &Tensor<T>,
) -> Result<()> {
    ops.matmul
        .record(batch, Layout::NT, 1.0, input, weight, 0.0, z)?;
    if let Some(b) = bias {
        ops.bias.add(batch, b, z)?;
    }
    Ok(())
}

/// From d_z: d_W = d_zᵀ a, d_b = Σ_rows d_z, d_a = d_z W, each only where asked.
#[allow(clippy::too_many_arguments)]
fn record_dense_backward<T: Real>(
    batch: &mut Batch, ops: &ForwardOps<T>, input: &Tensor<T>, weight: &Tensor<T>, d_z: &Tensor<T>,
    d_weight: Option<&Tensor<T>>, d_bias: Option<&Tensor<T>>, d_input: Option<&Tensor<T>>,
) -> Result<()> {
    if let Some(d_w) = d_weight {
        ops.matmul
            .record(batch, Layout::TN, 1.0, d_z, input, 0.0, d_w)?;
    }
    if let Some(d_b) = d_bias {
        ops.bias.grad(batch, d_z, d_b)?;
    }
    if let Some(d_a) = d_input {
        record_input_gradient(batch, ops, weight, d_z, d_a)?;
    }
    Ok(())
}

/// d_a = d_z W: of a dense layer's backward, only the gradient with respect to its input.
pub(crate) fn record_input_gradient<T: Real>(
    batch: &mut Batch, ops: &ForwardOps<T>, weight: &Tensor<T>, d_z: &Tensor<T>,
    d_input: &Tensor<T>,
) -> Result<()> {
    ops.matmul
        .record(batch, Layout::NN, 1.0, d_z, weight, 0.0, d_input)?;
    Ok(())
}

/// Tangent of z = a Wᵀ + b: ż = a Ẇᵀ + ȧ Wᵀ + ḃ (ȧ = 0 for the network's inputs).
#[allow(clippy::too_many_arguments)]
fn record_dense_jvp<T: Real>(
    batch: &mut Batch, ops: &ForwardOps<T>, input: &Tensor<T>, t_input: Option<&Tensor<T>>,
    weight: &Tensor<T>, t_weight: &Tensor<T>, t_bias: Option<&Tensor<T>>, t_z: &Tensor<T>,
) -> Result<()> {
    ops.matmul
        .record(batch, Layout::NT, 1.0, input, t_weight, 0.0, t_z)?;
    if let Some(t_a) = t_input {
        ops.matmul
            .record(batch, Layout::NT, 1.0, t_a, weight, 1.0, t_z)?;
    }
    if let Some(t_b) = t_bias {
        ops.bias.add(batch, t_b, t_z)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// Hidden layer: dense, activation, optional renormalisation.

/// Records hidden layer `l` forward; returns its cache and its output a^l (without
/// renormalisation a view of phi). With renormalisation the norms are not checked
/// here: see [`check_renormalizable`].
fn record_hidden_forward<T: Real>(
    batch: &mut Batch, ops: &ForwardOps<T>, cfg: &FcnConfig, input: &Tensor<T>, weight: &Tensor<T>,
    bias: Option<&Tensor<T>>,
) -> Result<(LayerCache<T>, Tensor<T>)> {
    let gpu = batch.gpu();
    let n = input.shape()[0];
    let width = weight.shape()[0];
    let z = Tensor::<T>::zeros(gpu, &[n, width])?;
    let phi = Tensor::<T>::zeros(gpu, &[n, width])?;
    record_dense_forward(batch, ops, input, weight, bias, &z)?;
    ops.activation.forward(batch, cfg.activation, &z, &phi)?;
    if !cfg.renormalize {
        let out = phi.view(&[n, width])?;
        return Ok((
            LayerCache {
                z,
                phi,
                norms: None,
            },
            out,
        ));
    }
    let norms = Tensor::<T>::zeros(gpu, &[n])?;
    let out = Tensor::<T>::zeros(gpu, &[n, width])?;
    ops.rownorm.norms(batch, &phi, &norms)?;
    ops.rownorm
        .renormalize(batch, &phi, &norms, (width as f64).sqrt(), &out)?;
    Ok((
        LayerCache {
            z,
            phi,
            norms: Some(norms),
        },
        out,
    ))
}

/// The gradient at the layer's pre-activation from the gradient at its output:
/// d_z = phi'(z) ⊙ (renorm Jacobian · d_out). The renormalisation's Jacobian is
/// symmetric, so the same map serves the JVP ([`record_hidden_tangent`]).
pub(crate) fn record_hidden_backward<T: Real>(
    batch: &mut Batch, ops: &ForwardOps<T>, cfg: &FcnConfig, layer: &LayerCache<T>,
    d_out: &Tensor<T>,
) -> Result<Tensor<T>> {
    let gpu = batch.gpu();
    let (n, width) = d_out.dims2("the gradient of a layer's output")?;
    let d_z = Tensor::<T>::zeros(gpu, &[n, width])?;
    match &layer.norms {
        Some(norms) => {
            let d_phi = Tensor::<T>::zeros(gpu, &[n, width])?;
            ops.rownorm.renormalize_backward(
                batch,
                &layer.phi,
                norms,
                d_out,
                (width as f64).sqrt(),
                &d_phi,
            )?;
            ops.activation
                .backward(batch, cfg.activation, &layer.z, &d_phi, &d_z)?;
        }
        None => ops
            .activation
            .backward(batch, cfg.activation, &layer.z, d_out, &d_z)?,
    }
    Ok(d_z)
}

/// Tangent of the layer's output from the tangent ż of its pre-activation:
/// renorm Jacobian · (phi'(z) ⊙ ż).
fn record_hidden_tangent<T: Real>(
    batch: &mut Batch, ops: &ForwardOps<T>, cfg: &FcnConfig, layer: &LayerCache<T>, t_z: &Tensor<T>,
) -> Result<Tensor<T>> {
    let gpu = batch.gpu();
    let (n, width) = t_z.dims2("a layer's tangent")?;
    let t_phi = Tensor::<T>::zeros(gpu, &[n, width])?;
    ops.activation
        .backward(batch, cfg.activation, &layer.z, t_z, &t_phi)?;
    match &layer.norms {
        Some(norms) => {
            let t_out = Tensor::<T>::zeros(gpu, &[n, width])?;
            ops.rownorm.renormalize_backward(
                batch,
                &layer.phi,
                norms,
                &t_phi,
                (width as f64).sqrt(),
                &t_out,
            )?;
            Ok(t_out)
        }
        None => Ok(t_phi),
    }
}

/// An all-zero (or non-finite) row of phi cannot be renormalised: an error naming
/// the example and the layer. Reads the norms back, so call it after submitting.
pub fn check_renormalizable<T: Real>(gpu: &Gpu, cache: &ForwardCache<T>) -> Result<()> {
    for (l, layer) in cache.layers.iter().enumerate() {
        check_layer_renormalizable(gpu, layer, l + 1)?;
    }
    Ok(())
}

fn check_layer_renormalizable<T: Real>(
    gpu: &Gpu, layer: &LayerCache<T>, number: usize,
) -> Result<()> {
    match &layer.norms {
        Some(norms) => check_norms_renormalizable(&norms.to_vec(gpu)?, number),
        None => Ok(()),
    }
}

/// [`check_renormalizable`] for one layer's row norms of phi read back by the caller
/// (layer `number`, from 1).
pub fn check_norms_renormalizable<T: Real>(norms: &[T], number: usize) -> Result<()> {
    if let Some(i) = first_zero_row(norms) {
        bail!(
            "example {i} has an all-zero (or non-finite) activation vector at layer {number}: \
             it cannot be renormalised (try another seed, a wider layer, or \
             renormalize: false)"
        );
    }
    Ok(())
}

fn check_inputs<T: Real>(cfg: &FcnConfig, x: &Tensor<T>) -> Result<usize> {
    let (n, d) = x.dims2("the inputs")?;
    if d != cfg.input_dim {
        bail!(
            "the inputs have {d} features but the network expects {}",
            cfg.input_dim
        );
    }
    Ok(n)
}

// ---------------------------------------------------------------------------------
// Whole network.

/// Runs the forward pass on inputs `x` [n, input_dim]. Calls `visit(l, F^l)` for
/// l = 0 (the input) through D (the last hidden layer), each F^l of shape [n, w_l], in
/// order, and returns the logits [n, k]. One layer at a time: O(n·width) memory.
pub fn forward<T: Real>(
    gpu: &Gpu, ops: &ForwardOps<T>, fcn: &Fcn<T>, x: &Tensor<T>,
    mut visit: impl FnMut(usize, &Tensor<T>) -> Result<()>,
) -> Result<Tensor<T>> {
    let cfg = &fcn.config;
    let n = check_inputs(cfg, x)?;
    visit(0, x)?;
    let mut previous: Option<Tensor<T>> = None;
    for l in 0..cfg.depth() {
        let input = previous.as_ref().unwrap_or(x);
        let mut batch = Batch::new(gpu);
        let (layer, out) = record_hidden_forward(
            &mut batch,
            ops,
            cfg,
            input,
            &fcn.params.weights[l],
            fcn.params.bias(l),
        )?;
        batch.submit()?;
        check_layer_renormalizable(gpu, &layer, l + 1)?;
        visit(l + 1, &out)?;
        previous = Some(out);
    }
    let input = previous.as_ref().unwrap_or(x);
    let logits = Tensor::<T>::zeros(gpu, &[n, cfg.outputs])?;
    let mut batch = Batch::new(gpu);
    let depth = cfg.depth();
    record_dense_forward(
        &mut batch,
        ops,
        input,
        &fcn.params.weights[depth],
        fcn.params.bias(depth),
        &logits,
    )?;
    batch.submit()?;
    Ok(logits)
}

/// Records the forward pass keeping what [`record_backward`] and [`record_jvp`] need
/// (O(depth · n · width) memory). `x` must stay unchanged while the cache is in use
/// (the cache holds a view of it).
pub fn record_forward_cached<T: Real>(
    batch: &mut Batch, ops: &ForwardOps<T>, fcn: &Fcn<T>, x: &Tensor<T>,
) -> Result<ForwardCache<T>> {
    let cfg = &fcn.config;
    let n = check_inputs(cfg, x)?;
    let mut inputs = vec![x.view(x.shape())?];
    let mut layers = Vec::with_capacity(cfg.depth());
    for l in 0..cfg.depth() {
        let (layer, out) = record_hidden_forward(
            batch,
            ops,
            cfg,
            inputs.last().expect("the input"),
            &fcn.params.weights[l],
            fcn.params.bias(l),
        )?;
        layers.push(layer);
        inputs.push(out);
    }
    let logits = Tensor::<T>::zeros(batch.gpu(), &[n, cfg.outputs])?;
    let depth = cfg.depth();
    record_dense_forward(
        batch,
        ops,
        &inputs[depth],
        &fcn.params.weights[depth],
        fcn.params.bias(depth),
        &logits,
    )?;
    Ok(ForwardCache {
        inputs,
        layers,
        logits,
    })
}

/// [`record_forward_cached`], submitted, with the renormalisation check.
pub fn forward_cached<T: Real>(
    gpu: &Gpu, ops: &ForwardOps<T>, fcn: &Fcn<T>, x: &Tensor<T>,
) -> Result<ForwardCache<T>> {
    let mut batch = Batch::new(gpu);
    let cache = record_forward_cached(&mut batch, ops, fcn, x)?;
    batch.submit()?;
    check_renormalizable(gpu, &cache)?;
    Ok(cache)
}

/// Records the gradients with respect to every parameter given d_logits = ∂h/∂logits
/// (a VJP: with d_logits = v it gives Jᵀv). Shaped like `fcn.params`.
pub fn record_backward<T: Real>(
    batch: &mut Batch, ops: &ForwardOps<T>, fcn: &Fcn<T>, cache: &ForwardCache<T>,
    d_logits: &Tensor<T>,
) -> Result<ParamTensors<T>> {
    Ok(record_backward_deltas(batch, ops, fcn, cache, d_logits)?.0)
}

/// [`record_backward`], also returning every layer's δ = ∂h/∂z^l ([n, w_l] for the
/// hidden layers l = 1..D, then d_logits itself for the output layer): per-example
/// gradient norms are ‖δ_i‖·‖a_i^{l-1}‖ per layer.
pub fn record_backward_deltas<T: Real>(
    batch: &mut Batch, ops: &ForwardOps<T>, fcn: &Fcn<T>, cache: &ForwardCache<T>,
    d_logits: &Tensor<T>,
) -> Result<(ParamTensors<T>, Vec<Tensor<T>>)> {
    let gpu = batch.gpu();
    let cfg = &fcn.config;
    let depth = cfg.depth();
    let n = d_logits.shape()[0];
    let grads = ParamTensors::zeros(gpu, cfg)?;
    let mut deltas = Vec::with_capacity(depth + 1);
    let mut d_out = Tensor::<T>::zeros(gpu, &[n, cache.inputs[depth].shape()[1]])?;
    record_dense_backward(
        batch,
        ops,
        &cache.inputs[depth],
        &fcn.params.weights[depth],
        d_logits,
        Some(&grads.weights[depth]),
        grads.bias(depth),
        (depth > 0).then_some(&d_out),
    )?;
    deltas.push(d_logits.view(d_logits.shape())?);
    for l in (0..depth).rev() {
        let d_z = record_hidden_backward(batch, ops, cfg, &cache.layers[l], &d_out)?;
        let d_input = if l > 0 {
            Some(Tensor::<T>::zeros(gpu, &[n, cache.inputs[l].shape()[1]])?)
        } else {
            None
        };
        record_dense_backward(
            batch,
            ops,
            &cache.inputs[l],
            &fcn.params.weights[l],
            &d_z,
            Some(&grads.weights[l]),
            grads.bias(l),
            d_input.as_ref(),
        )?;
        deltas.push(d_z);
        if let Some(next) = d_input {
            d_out = next;
        }
    }
    deltas.reverse();
    Ok((grads, deltas))
}

/// [`record_backward`], submitted.
pub fn backward<T: Real>(
    gpu: &Gpu, ops: &ForwardOps<T>, fcn: &Fcn<T>, cache: &ForwardCache<T>, d_logits: &Tensor<T>,
) -> Result<ParamTensors<T>> {
    let mut batch = Batch::new(gpu);
    let grads = record_backward(&mut batch, ops, fcn, cache, d_logits)?;
    batch.submit()?;
    Ok(grads)
}

/// Records the forward-mode JVP: the tangent of the logits [n, k] when the parameters
/// move along `tangent` (J·u, with u shaped like `fcn.params`).
pub fn record_jvp<T: Real>(
    batch: &mut Batch, ops: &ForwardOps<T>, fcn: &Fcn<T>, cache: &ForwardCache<T>,
    tangent: &ParamTensors<T>,
) -> Result<Tensor<T>> {
    let cfg = &fcn.config;
    let n = cache.logits.shape()[0];
    // The tangent of layer l's pre-activations (of the logits at l = depth), `width` wide.
    let dense = |batch: &mut Batch, l: usize, width: usize, t_input: Option<&Tensor<T>>| {
        let t_z = Tensor::<T>::zeros(batch.gpu(), &[n, width])?;
        record_dense_jvp(
            batch,
            ops,
            &cache.inputs[l],
            t_input,
            &fcn.params.weights[l],
            &tangent.weights[l],
            tangent.bias(l),
            &t_z,
        )?;
        anyhow::Ok(t_z)
    };
    let mut t_input: Option<Tensor<T>> = None;
    for l in 0..cfg.depth() {
        let t_z = dense(batch, l, cfg.widths[l], t_input.as_ref())?;
        t_input = Some(record_hidden_tangent(
            batch,
            ops,
            cfg,
            &cache.layers[l],
            &t_z,
        )?);
    }
    dense(batch, cfg.depth(), cfg.outputs, t_input.as_ref())
}
