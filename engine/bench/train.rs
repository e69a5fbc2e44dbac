//! `wideprobe bench train`: the wall-clock cost of one training epoch (the step, then
//! the measurements), on synthetic inputs.

use anyhow::Result;

use crate::experiment::training::{Network, NetworkKernels, TrainingOps, CLASSES};
use crate::gpu::{Batch, Gpu, Tensor};
use crate::linalg::{LanczosOptions, Precision, Real};
use crate::measure::Gather;
use crate::nn::fcn::{ForwardCache, ParamTensors};
use crate::nn::ntk::{finish_ntk_spectrum, record_ntk_spectrum, NtkMethod};
use crate::nn::precision::{check_precisions, NetworkPrecision};
use crate::nn::{Activation, Fcn, FcnConfig, Loss};

/// Wall-clock cost of one epoch (`wideprobe bench train`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct EpochTiming {
    pub adapter: String,
    pub depth: usize,
    pub width: usize,
    pub n: usize,
    pub loss: String,
    /// Median seconds of one gradient-descent step: forward, loss, backward and update
    /// in one submission, waited for.
    pub step_seconds: f64,
    /// Median seconds of the measurements of one epoch (NTK spectrum, last hidden Ĝ and
    /// its spectrum, per-example gradient norms, gradient norm), recorded into one
    /// submission as a training epoch records them.
    pub measure_seconds: f64,
    pub ntk_method: String,
    pub precision: String,
    /// f32 or f64: the network's weights, passes and update.
    pub network_precision: String,
}

/// A relu_normalized network of `depth` x `width` in `T` and n standard-normal inputs
/// (d = 3072) labelled i mod 10, on the GPU.
fn synthetic_network<T: Real>(
    gpu: &Gpu, depth: usize, width: usize, n: usize,
) -> Result<(Fcn<T>, Tensor<T>, Tensor<u32>)> {
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};
    let d = crate::data::D;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let x: Vec<T> = (0..n * d)
        .map(|_| {
            let v: f32 = StandardNormal.sample(&mut rng);
            T::from_f64(v.into())
        })
        .collect();
    let labels: Vec<u32> = (0..n as u32).map(|i| i % CLASSES as u32).collect();
    let fcn = Fcn::init(
        gpu,
        FcnConfig {
            input_dim: d,
            widths: vec![width; depth],
            outputs: CLASSES,
            activation: Activation::ReluNormalized,
            renormalize: false,
            gain: None,
            bias: false,
            seed: 0,
        },
    )?;
    let xt = Tensor::from_slice(gpu, &[n, d], &x)?;
    let yt = Tensor::from_slice(gpu, &[n], &labels)?;
    Ok((fcn, xt, yt))
}

/// What `wideprobe bench train` times: a network of `depth` x `width` on `n` examples.
#[derive(Clone, Copy, Debug)]
pub struct EpochShape {
    pub depth: usize,
    pub width: usize,
    pub n: usize,
    pub loss: Loss,
}

/// A measured epoch's spectra and norms as training records them: one submission (the
/// gradient norm, the NTK's and Ĝ's assembly and dense reductions, the Lipschitz
/// terms), one readback of the scalars and one per dense spectrum. Returns the NTK's
/// method.
fn measure<T: Real>(
    gpu: &Gpu, ops: &TrainingOps, net: &NetworkKernels<T>, fcn: &Fcn<T>,
    (cache, deltas, grads): (&ForwardCache<T>, &[Tensor<T>], &ParamTensors<T>),
    options: &LanczosOptions,
) -> Result<String> {
    let depth = fcn.config.depth();
    let (forward, solvers) = (&net.step.forward, ops.spectral.ntk_solvers(options));
    let mut batch = Batch::new(gpu);
    let mut gather = Gather::default();
    let norm = net.params.record_norm(&mut batch, grads, &mut gather)?;
    let ntk = record_ntk_spectrum(
        &mut batch,
        forward,
        &ops.ntk,
        fcn,
        cache,
        NtkMethod::Auto,
        solvers,
    )?;
    let gram = match depth {
        0 => None,
        _ => Some(ops.spectral.record_gram_spectrum(
            &mut batch,
            &cache.inputs[depth],
            0,
            None,
            &mut gather,
        )?),
    };
    let lipschitz = net
        .params
        .record_lipschitz(&mut batch, cache, deltas, false, &mut gather)?;
    let read = gather.record(&mut batch)?;
    batch.submit()?;
    let values = read.read(gpu)?;
    let _ = (norm.finish(&values), lipschitz.finish(&values));
    let ntk = finish_ntk_spectrum(gpu, ntk, forward, fcn, cache, solvers)?;
    if let Some(gram) = gram {
        ops.spectral.finish_gram_spectrum(gpu, gram, &values)?;
    }
    Ok(ntk.method.name().to_string())
}

/// Times `repeat` training steps and `measure_repeat` epoch measurements of a network
/// in `network` precision on synthetic inputs (d = 3072, labels i mod 10).
pub fn time_epoch(
    gpu: &Gpu, shape: EpochShape, precision: Precision, network: NetworkPrecision, repeat: usize,
    measure_repeat: usize,
) -> Result<EpochTiming> {
    check_precisions(precision, network)?;
    let ops = TrainingOps::new(gpu, precision, network)?;
    match &ops.network {
        Network::F32(net) => time_epoch_in(gpu, &ops, net, shape, repeat, measure_repeat),
        Network::F64(net) => time_epoch_in(gpu, &ops, net, shape, repeat, measure_repeat),
    }
}

fn time_epoch_in<T: Real>(
    gpu: &Gpu, ops: &TrainingOps, net: &NetworkKernels<T>, shape: EpochShape, repeat: usize,
    measure_repeat: usize,
) -> Result<EpochTiming> {
    let EpochShape {
        depth,
        width,
        n,
        loss,
    } = shape;
    let (fcn, xt, yt) = synthetic_network::<T>(gpu, depth, width, n)?;
    let losses = Tensor::<T>::zeros(gpu, &[n])?;
    let d_logits = Tensor::<T>::zeros(gpu, &[n, CLASSES])?;
    type Step<T> = (ForwardCache<T>, Vec<Tensor<T>>, ParamTensors<T>);
    let step = |lr: f64| -> Result<Step<T>> {
        let mut batch = Batch::new(gpu);
        let s = net.step.record_loss_and_gradients(
            &mut batch,
            &fcn,
            &xt,
            &yt,
            loss.into(),
            &losses,
            &d_logits,
        )?;
        net.step.record_gd_step(&mut batch, &fcn, &s.grads, lr)?;
        batch.submit()?;
        Ok((s.cache, s.deltas, s.grads))
    };
    step(0.0)?; // warm-up: pipelines built, buffers touched
    let mut step_times = Vec::with_capacity(repeat);
    for _ in 0..repeat.max(1) {
        let start = std::time::Instant::now();
        step(0.0)?; // lr 0 keeps the network fixed, so every step costs the same
        step_times.push(start.elapsed().as_secs_f64());
    }
    let (cache, deltas, grads) = step(0.0)?;
    let options = LanczosOptions::default();
    let mut measure_times = Vec::new();
    let mut method = String::new();
    for _ in 0..measure_repeat.max(1) {
        let start = std::time::Instant::now();
        method = measure(gpu, ops, net, &fcn, (&cache, &deltas, &grads), &options)?;
        measure_times.push(start.elapsed().as_secs_f64());
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Ok(EpochTiming {
        adapter: gpu.summary.name.clone(),
        depth,
        width,
        n,
        loss: loss.name().to_string(),
        step_seconds: median(step_times),
        measure_seconds: median(measure_times),
        ntk_method: method,
        precision: ops.precision().name().to_string(),
        network_precision: T::PRECISION.name().to_string(),
    })
}
