//! Training by full-batch gradient descent with per-epoch measurements
//! (MEASUREMENTS.md §5, §6, §8): losses and accuracies, ‖∇h‖, μ_grad, L_secant, the
//! empirical NTK's extreme eigenvalues and μ_ntk, L_ntk, the loss-prediction bounds and
//! ratios, the last hidden layer's Ĝ with the Eq. 13 bound, and Lemma 2's stability
//! bound. One run gives the rows of `epochs.csv` and one row of `runs.csv`.
//!
//! Row t describes θ_t (t = 0 is the init). The step θ_{t+1} = θ_t − η∇h(θ_t) is one
//! submission (forward, loss, backward, update); measurements read back only what they
//! report.

use std::path::Path;

use anyhow::{bail, Result};

use super::conditioning::{normalized_gram_spectrum, SpectralOps};
use super::config::{TrainingConfig, TrainingRun};
use crate::io::npy::write_npy_f32;
use crate::io::table::Table;
use crate::data::Dataset;
use crate::gpu::{Batch, Gpu, Tensor};
use crate::linalg::{LanczosOptions, Precision, SpectrumResult};
use crate::nn::fcn::{
    check_renormalizable, record_backward_deltas, record_forward_cached, ForwardCache, ParamTensors,
};
use crate::nn::ntk::{ntk_spectrum, NtkKernels, NtkMethod, NtkSpectrum};
use crate::nn::{forward, Fcn, FcnConfig, ForwardOps};
use crate::ops::loss::{check_labels, Loss, LossOp};
use crate::ops::vector::VectorOps;
use crate::theory::bounds::{mu_grad, predict_loss, stability_bound};

/// Number of logits (CIFAR-10 classes).
pub const CLASSES: usize = 10;

/// Columns identifying a training run, first in `epochs.csv` and `runs.csv`.
pub const TRAINING_RUN_COLUMNS: &[&str] = &[
    "run_id",
    "dataset",
    "depth",
    "width",
    "n",
    "activation",
    "loss",
    "lr",
    "renormalize",
    "bias",
    "seed",
];

/// Per-epoch columns of `epochs.csv` (empty cell: not measured or not defined).
pub const EPOCH_COLUMNS: &[&str] = &[
    "epoch",
    "train_loss",
    "train_accuracy",
    "test_loss",
    "test_accuracy",
    "grad_norm",
    "mu_grad",
    "L_secant",
    "ntk_lambda_min",
    "ntk_lambda_min_bound",
    "ntk_lambda_max",
    "ntk_lambda_max_bound",
    "ntk_kappa",
    "ntk_log10_kappa",
    "ntk_converged",
    "ntk_method",
    "ntk_precision",
    "mu_ntk",
    "L_ntk",
    "bound_lemma1_ntk",
    "bound_eta_ntk",
    "ratio_lemma1_ntk",
    "ratio_eta_ntk",
    "eta_exceeds_2_over_L_ntk",
    "bound_lemma1_grad",
    "bound_eta_grad",
    "ratio_lemma1_grad",
    "ratio_eta_grad",
    "eta_exceeds_2_over_L_grad",
    "gram_lambda_min",
    "gram_lambda_max",
    "gram_log10_kappa",
    "gram_frobenius_change",
    "lambda_min_lower_eq13",
    "G_lipschitz",
    "lemma2_M",
    "lemma2_delta",
    "lemma2_beta_grad",
    "gen_bound_grad",
    "lemma2_beta_ntk",
    "gen_bound_ntk",
    "gen_gap",
    "vacuous",
    "precision",
];

/// Per-run columns of `runs.csv` after the run columns.
pub const RUN_SUMMARY_COLUMNS: &[&str] = &[
    "status",
    "epochs_run",
    "diverged_epoch",
    "final_train_loss",
    "final_train_accuracy",
    "final_test_loss",
    "final_test_accuracy",
    "passes_accuracy_filter",
    "seconds",
];

pub fn epochs_header() -> Vec<&'static str> {
    TRAINING_RUN_COLUMNS
        .iter()
        .chain(EPOCH_COLUMNS)
        .copied()
        .collect()
}

pub fn runs_header() -> Vec<&'static str> {
    TRAINING_RUN_COLUMNS
        .iter()
        .chain(RUN_SUMMARY_COLUMNS)
        .copied()
        .collect()
}

pub fn run_cells(run: &TrainingRun, dataset: &str, bias: bool) -> Vec<String> {
    vec![
        run.id(),
        dataset.to_string(),
        run.depth.to_string(),
        run.width.to_string(),
        run.n.to_string(),
        run.activation.name().to_string(),
        run.loss.name().to_string(),
        run.lr.to_string(),
        run.renormalize.to_string(),
        bias.to_string(),
        run.seed.to_string(),
    ]
}

/// The kernels a training run uses, built once per device.
pub struct TrainingOps {
    forward: ForwardOps,
    loss: LossOp,
    ntk: NtkKernels,
    spectral: SpectralOps,
}

impl TrainingOps {
    pub fn new(gpu: &Gpu, precision: Precision) -> Result<Self> {
        Ok(TrainingOps {
            forward: ForwardOps::new(gpu)?,
            loss: LossOp::new(gpu)?,
            ntk: NtkKernels::new(gpu)?,
            spectral: SpectralOps::new(gpu, precision)?,
        })
    }

    pub fn precision(&self) -> Precision {
        self.spectral.precision
    }

    /// Records forward, loss and backward of h at the current parameters; returns the
    /// forward cache, the gradients and every layer's δ (for per-example norms).
    /// Writes the per-example losses into `losses` and ∂h/∂logits into `d_logits`.
    #[allow(clippy::too_many_arguments)]
    fn record_loss_and_gradients(
        &self,
        batch: &mut Batch,
        fcn: &Fcn,
        x: &Tensor,
        labels: &Tensor<u32>,
        loss: Loss,
        losses: &Tensor,
        d_logits: &Tensor,
    ) -> Result<(ForwardCache, ParamTensors, Vec<Tensor>)> {
        let cache = record_forward_cached(batch, &self.forward, fcn, x)?;
        self.loss
            .forward_backward(batch, loss, &cache.logits, labels, losses, d_logits)?;
        let (grads, deltas) = record_backward_deltas(batch, &self.forward, fcn, &cache, d_logits)?;
        Ok((cache, grads, deltas))
    }

    /// Records θ ← θ − η g.
    fn record_gd_step(
        &self,
        batch: &mut Batch,
        fcn: &Fcn,
        grads: &ParamTensors,
        lr: f64,
    ) -> Result<()> {
        for (g, w) in grads.tensors().zip(fcn.params.tensors()) {
            self.loss.gd_step(batch, lr as f32, g, w)?;
        }
        Ok(())
    }

    /// The NTK's extreme eigenvalues at `fcn` / `cache`.
    fn ntk_spectrum(
        &self,
        gpu: &Gpu,
        fcn: &Fcn,
        cache: &ForwardCache,
        method: NtkMethod,
        options: &LanczosOptions,
    ) -> Result<NtkSpectrum> {
        let s = &self.spectral;
        ntk_spectrum(
            gpu,
            &self.forward,
            &self.ntk,
            &s.vectors_f32,
            s.vectors_f64.as_ref(),
            fcn,
            cache,
            method,
            s.precision,
            options,
        )
    }
}

/// One row of `epochs.csv` before formatting.
#[derive(Clone, Debug, Default)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub test_loss: Option<f64>,
    pub test_accuracy: Option<f64>,
    pub grad_norm: f64,
    pub mu_grad: f64,
    pub l_secant: Option<f64>,
    /// The spectrum, the method (explicit, matrix_free) and the precision it ran in.
    pub ntk: Option<(SpectrumResult, String, Precision)>,
    pub mu_ntk: Option<f64>,
    pub l_ntk: Option<f64>,
    /// (bound_lemma1, bound_eta, ratio_lemma1, ratio_eta, eta > 2/L) per constant source.
    pub prediction_ntk: Option<(f64, f64, f64, f64, bool)>,
    pub prediction_grad: Option<(f64, f64, f64, f64, bool)>,
    pub gram: Option<SpectrumResult>,
    pub gram_change: Option<f64>,
    pub eq13: Option<f64>,
    /// G, M, δ, β_grad, bound_grad, β_ntk, bound_ntk, gap, vacuous.
    pub lemma2: Option<Lemma2Cells>,
    pub measured: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Lemma2Cells {
    pub g_lipschitz: f64,
    pub m: f64,
    pub delta: f64,
    pub beta_grad: f64,
    pub gen_bound_grad: f64,
    pub beta_ntk: Option<f64>,
    pub gen_bound_ntk: Option<f64>,
    pub gap: Option<f64>,
    pub vacuous: bool,
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

impl EpochRecord {
    fn cells(&self, precision: Precision) -> Vec<String> {
        let mut c = vec![
            self.epoch.to_string(),
            self.train_loss.to_string(),
            self.train_accuracy.to_string(),
            opt(self.test_loss),
            opt(self.test_accuracy),
            self.grad_norm.to_string(),
            self.mu_grad.to_string(),
            opt(self.l_secant),
        ];
        match &self.ntk {
            Some((s, method, precision)) => c.extend([
                s.lambda_min().to_string(),
                s.smallest[0].bound.to_string(),
                s.lambda_max().to_string(),
                s.largest[0].bound.to_string(),
                s.kappa().to_string(),
                s.kappa().log10().to_string(),
                s.converged.to_string(),
                method.clone(),
                precision.name().to_string(),
            ]),
            None => c.extend(std::iter::repeat_n(String::new(), 9)),
        }
        c.extend([opt(self.mu_ntk), opt(self.l_ntk)]);
        for p in [&self.prediction_ntk, &self.prediction_grad] {
            match p {
                Some((b1, be, r1, re, flag)) => c.extend([
                    b1.to_string(),
                    be.to_string(),
                    r1.to_string(),
                    re.to_string(),
                    flag.to_string(),
                ]),
                None => c.extend(std::iter::repeat_n(String::new(), 5)),
            }
        }
        match &self.gram {
            Some(s) => c.extend([
                s.lambda_min().to_string(),
                s.lambda_max().to_string(),
                s.kappa().log10().to_string(),
            ]),
            None => c.extend(std::iter::repeat_n(String::new(), 3)),
        }
        c.extend([opt(self.gram_change), opt(self.eq13)]);
        match &self.lemma2 {
            Some(l) => c.extend([
                l.g_lipschitz.to_string(),
                l.m.to_string(),
                l.delta.to_string(),
                l.beta_grad.to_string(),
                l.gen_bound_grad.to_string(),
                opt(l.beta_ntk),
                opt(l.gen_bound_ntk),
                opt(l.gap),
                l.vacuous.to_string(),
            ]),
            None => c.extend(std::iter::repeat_n(String::new(), 9)),
        }
        c.push(if self.measured {
            precision.name().to_string()
        } else {
            String::new()
        });
        c
    }
}

/// How a run ended.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RunSummary {
    /// done or diverged.
    pub status: String,
    pub epochs_run: usize,
    pub diverged_epoch: Option<usize>,
    /// What was non-finite, when the run diverged.
    #[serde(default)]
    pub diverged_reason: Option<String>,
    pub final_train_loss: f64,
    pub final_train_accuracy: f64,
    pub final_test_loss: Option<f64>,
    pub final_test_accuracy: Option<f64>,
    pub passes_accuracy_filter: bool,
}

impl RunSummary {
    pub fn cells(&self, seconds: f64) -> Vec<String> {
        vec![
            self.status.clone(),
            self.epochs_run.to_string(),
            self.diverged_epoch
                .map(|e| e.to_string())
                .unwrap_or_default(),
            self.final_train_loss.to_string(),
            self.final_train_accuracy.to_string(),
            opt(self.final_test_loss),
            opt(self.final_test_accuracy),
            self.passes_accuracy_filter.to_string(),
            seconds.to_string(),
        ]
    }
}

/// The last hidden layer's Ĝ in the solver's precision (kept at t = 0 for Eq. 13).
enum GramTensor {
    F32(Tensor<f32>),
    F64(Tensor<f64>),
}

/// Ĝ = F Fᵀ / w of `features` and its spectrum; with `initial`, also ‖Ĝ − Ĝ_0‖_F.
fn gram_measure(
    gpu: &Gpu,
    ops: &TrainingOps,
    features: &Tensor,
    initial: Option<&GramTensor>,
    seed: u64,
) -> Result<(GramTensor, SpectrumResult, Option<f64>)> {
    let s = &ops.spectral;
    match (&s.vectors_f64, &s.stats_f64) {
        (Some(v), Some(stats)) => {
            let (g, spectrum) = normalized_gram_spectrum(gpu, &s.gram, v, features, seed)?;
            let change = match initial {
                Some(GramTensor::F64(g0)) => Some(stats.frobenius_distance(gpu, &g, g0)?),
                _ => None,
            };
            Ok((GramTensor::F64(g), spectrum, change))
        }
        _ => {
            let (g, spectrum) =
                normalized_gram_spectrum(gpu, &s.gram, &s.vectors_f32, features, seed)?;
            let change = match initial {
                Some(GramTensor::F32(g0)) => Some(s.stats_f32.frobenius_distance(gpu, &g, g0)?),
                _ => None,
            };
            Ok((GramTensor::F32(g), spectrum, change))
        }
    }
}

/// Sum of squares of every tensor, read back once.
fn sum_of_squares<'a>(
    gpu: &Gpu,
    vectors: &VectorOps<f32>,
    tensors: impl Iterator<Item = &'a Tensor>,
) -> Result<f64> {
    let tensors: Vec<&Tensor> = tensors.collect();
    let gather = Tensor::<f32>::zeros(gpu, &[tensors.len()])?;
    let mut batch = Batch::new(gpu);
    let mut outs = Vec::with_capacity(tensors.len());
    for (i, t) in tensors.iter().enumerate() {
        let out = Tensor::<f32>::zeros(gpu, &[1])?;
        let flat = t.view(&[t.len()])?;
        vectors.nrm2(&mut batch, &flat, &out)?;
        batch.copy_region(out.buffer(), 0, gather.buffer(), 4 * i as u64, 4);
        outs.push(out);
    }
    batch.submit()?;
    Ok(gather
        .to_vec(gpu)?
        .iter()
        .map(|&v| (v as f64) * (v as f64))
        .sum())
}

/// ‖a − b‖ over parameter lists of the same shapes.
fn distance(
    gpu: &Gpu,
    vectors: &VectorOps<f32>,
    a: &ParamTensors,
    b: &ParamTensors,
) -> Result<f64> {
    let diffs: Vec<Tensor> = a
        .tensors()
        .map(|t| Tensor::<f32>::zeros(gpu, &[t.len()]))
        .collect::<Result<_>>()?;
    let mut batch = Batch::new(gpu);
    for ((x, y), d) in a.tensors().zip(b.tensors()).zip(&diffs) {
        vectors.copy(&mut batch, &x.view(&[x.len()])?, d)?;
        vectors.axpy(&mut batch, -1.0, &y.view(&[y.len()])?, d)?;
    }
    batch.submit()?;
    Ok(sum_of_squares(gpu, vectors, diffs.iter())?.sqrt())
}

/// Loss (mean of per-example losses) and accuracy of logits against labels; also the
/// per-example losses.
fn loss_and_accuracy(
    gpu: &Gpu,
    ops: &TrainingOps,
    loss: Loss,
    logits: &Tensor,
    labels: &Tensor<u32>,
    host_labels: &[u32],
) -> Result<(f64, f64, Vec<f64>)> {
    let (n, _) = logits.dims2("logits")?;
    let losses = Tensor::<f32>::zeros(gpu, &[n])?;
    let d_logits = Tensor::<f32>::zeros(gpu, logits.shape())?;
    let mut batch = Batch::new(gpu);
    ops.loss
        .forward_backward(&mut batch, loss, logits, labels, &losses, &d_logits)?;
    batch.submit()?;
    let per_example: Vec<f64> = losses.to_vec(gpu)?.into_iter().map(f64::from).collect();
    let h = per_example.iter().sum::<f64>() / n as f64;
    Ok((h, accuracy(&logits.to_vec(gpu)?, host_labels), per_example))
}

/// Fraction of rows whose argmax (first on ties) is the label.
pub fn accuracy(logits: &[f32], labels: &[u32]) -> f64 {
    let n = labels.len();
    if n == 0 {
        return f64::NAN;
    }
    let k = logits.len() / n;
    let correct = logits
        .chunks(k)
        .zip(labels)
        .filter(|(row, &y)| {
            let mut best = 0;
            for c in 1..k {
                if row[c] > row[best] {
                    best = c;
                }
            }
            best == y as usize
        })
        .count();
    correct as f64 / n as f64
}

/// max_i ‖∇_θ l_i‖ with l_i = n × (example i's share of h): per layer
/// ‖δ_i‖² (‖a_i^{l−1}‖² + [bias]), summed over layers.
fn lipschitz(
    gpu: &Gpu,
    ops: &TrainingOps,
    cache: &ForwardCache,
    deltas: &[Tensor],
    bias: bool,
) -> Result<f64> {
    let n = cache.logits.shape()[0];
    let mut batch = Batch::new(gpu);
    let mut norms = Vec::new();
    for (input, delta) in cache.inputs.iter().zip(deltas) {
        let a = Tensor::<f32>::zeros(gpu, &[n])?;
        let d = Tensor::<f32>::zeros(gpu, &[n])?;
        ops.forward.rownorm.norms(&mut batch, input, &a)?;
        ops.forward.rownorm.norms(&mut batch, delta, &d)?;
        norms.push((a, d));
    }
    batch.submit()?;
    let mut per_example = vec![0.0f64; n];
    for (a, d) in &norms {
        let (a, d) = (a.to_vec(gpu)?, d.to_vec(gpu)?);
        for i in 0..n {
            let delta = d[i] as f64 * n as f64; // δ of l_i = n δ of h (row i)
            let a2 = (a[i] as f64).powi(2) + if bias { 1.0 } else { 0.0 };
            per_example[i] += delta * delta * a2;
        }
    }
    Ok(per_example.into_iter().fold(0.0f64, f64::max).sqrt())
}

/// Trains one grid point and measures it; returns its `epochs.csv` rows and summary.
/// A non-finite loss or gradient stops the run as `diverged` (not an error).
pub fn train_run(
    gpu: &Gpu,
    ops: &TrainingOps,
    config: &TrainingConfig,
    run: &TrainingRun,
    dataset: &Dataset,
    tensors_dir: Option<&Path>,
) -> Result<(Table, RunSummary)> {
    let n = run.n;
    let k = CLASSES;
    let labels: Vec<u32> = dataset.y_train.iter().map(|&y| y as u32).collect();
    let test_labels: Vec<u32> = dataset.y_test.iter().map(|&y| y as u32).collect();
    check_labels(&labels, k)?;
    check_labels(&test_labels, k)?;
    let n_test = test_labels.len();
    let fcn_config = FcnConfig {
        input_dim: dataset.d,
        widths: vec![run.width; run.depth],
        outputs: k,
        activation: run.activation,
        renormalize: run.renormalize,
        gain: config.gain,
        bias: config.bias,
        seed: run.seed,
    };
    let fcn = Fcn::init(gpu, fcn_config)?;
    let x = Tensor::from_slice(gpu, &[n, dataset.d], &dataset.x_train)?;
    let y = Tensor::from_slice(gpu, &[n], &labels)?;
    let test = if n_test > 0 {
        Some((
            Tensor::from_slice(gpu, &[n_test, dataset.d], &dataset.x_test)?,
            Tensor::from_slice(gpu, &[n_test], &test_labels)?,
        ))
    } else {
        None
    };
    if let Some(dir) = tensors_dir {
        save_inputs_and_weights(dir, dataset, &fcn, gpu, "initial")?;
    }
    let losses = Tensor::<f32>::zeros(gpu, &[n])?;
    let d_logits = Tensor::<f32>::zeros(gpu, &[n, k])?;
    let lr = run.lr;
    let mse = run.loss == Loss::Mse;
    let lemma2 = matches!(run.loss, Loss::Mse | Loss::MseSoftmax);
    let options = LanczosOptions {
        seed: run.seed,
        ..Default::default()
    };

    let mut records: Vec<EpochRecord> = Vec::new();
    let mut previous_grads: Option<ParamTensors> = None;
    let mut gram_initial: Option<(GramTensor, f64)> = None;
    let mut diverged_epoch = None;
    let mut diverged_reason: Option<String> = None;
    for t in 0..=config.epochs {
        // Forward, loss, backward: one submission.
        let mut batch = Batch::new(gpu);
        let (cache, grads, deltas) =
            ops.record_loss_and_gradients(&mut batch, &fcn, &x, &y, run.loss, &losses, &d_logits)?;
        batch.submit()?;
        if t == 0 {
            check_renormalizable(gpu, &cache)?;
        }
        let per_example: Vec<f64> = losses.to_vec(gpu)?.into_iter().map(f64::from).collect();
        let h = per_example.iter().sum::<f64>() / n as f64;
        let grad_norm = sum_of_squares(gpu, &ops.spectral.vectors_f32, grads.tensors())?.sqrt();
        if !h.is_finite() || !grad_norm.is_finite() {
            diverged_epoch = Some(t);
            diverged_reason = Some(format!(
                "epoch {t}: non-finite loss ({h}) or gradient norm ({grad_norm})"
            ));
            break;
        }
        // L_secant of the previous row: ‖g_t − g_{t−1}‖ / (η ‖g_{t−1}‖).
        if let (Some(prev), Some(last)) = (&previous_grads, records.last_mut()) {
            let change = distance(gpu, &ops.spectral.vectors_f32, &grads, prev)?;
            last.l_secant = Some(change / (lr * last.grad_norm));
        }
        let measured = t % config.measure_every == 0 || t == config.epochs;
        let mut record = EpochRecord {
            epoch: t,
            train_loss: h,
            train_accuracy: accuracy(&cache.logits.to_vec(gpu)?, &labels),
            grad_norm,
            mu_grad: mu_grad(grad_norm, h, 0.0),
            measured,
            ..Default::default()
        };
        if measured {
            let outcome = (|| -> Result<()> {
                let mut test_losses = Vec::new();
                if let Some((xt, yt)) = &test {
                    let logits = forward(gpu, &ops.forward, &fcn, xt, |_, _| Ok(()))?;
                    let (h_test, acc, per) =
                        loss_and_accuracy(gpu, ops, run.loss, &logits, yt, &test_labels)?;
                    record.test_loss = Some(h_test);
                    record.test_accuracy = Some(acc);
                    test_losses = per;
                }
                let ntk = ops.ntk_spectrum(gpu, &fcn, &cache, config.ntk, &options)?;
                if mse {
                    record.mu_ntk = Some(ntk.spectrum.lambda_min() / n as f64);
                    record.l_ntk = Some(ntk.spectrum.lambda_max() / n as f64);
                }
                record.ntk = Some((ntk.spectrum, ntk.method.name().to_string(), ntk.precision));
                if run.depth > 0 {
                    let features = &cache.inputs[run.depth];
                    let initial = gram_initial.as_ref().map(|(g, _)| g);
                    let (g, s, change) = gram_measure(gpu, ops, features, initial, run.seed)?;
                    if let Some((_, lambda0)) = &gram_initial {
                        let change = change.unwrap_or(f64::NAN);
                        record.gram_change = Some(change);
                        record.eq13 = Some(lambda0 - change);
                    } else {
                        record.gram_change = Some(0.0);
                        record.eq13 = Some(s.lambda_min());
                        gram_initial = Some((g, s.lambda_min()));
                    }
                    record.gram = Some(s);
                }
                if lemma2 {
                    let g_lip = lipschitz(gpu, ops, &cache, &deltas, config.bias)?;
                    let m = if run.loss == Loss::MseSoftmax {
                        1.0
                    } else {
                        per_example
                            .iter()
                            .chain(&test_losses)
                            .cloned()
                            .fold(0.0f64, f64::max)
                    };
                    let by_grad = stability_bound(h, g_lip, record.mu_grad, n, m, config.delta);
                    let by_ntk = record
                        .mu_ntk
                        .map(|mu| stability_bound(h, g_lip, mu, n, m, config.delta));
                    record.lemma2 = Some(Lemma2Cells {
                        g_lipschitz: g_lip,
                        m,
                        delta: config.delta,
                        beta_grad: by_grad.beta,
                        gen_bound_grad: by_grad.gen_bound,
                        beta_ntk: by_ntk.map(|b| b.beta),
                        gen_bound_ntk: by_ntk.map(|b| b.gen_bound),
                        gap: record.test_loss.map(|h_test| h_test - h),
                        vacuous: by_grad.gen_bound >= m,
                    });
                }
                Ok(())
            })();
            if let Err(e) = outcome {
                // A network that has blown up but not yet overflowed its loss (f32 NTK or
                // Gram entries past 1e38) has diverged, like a non-finite loss.
                let message = format!("{e:#}");
                if message.contains("non-finite") {
                    diverged_epoch = Some(t);
                    diverged_reason = Some(format!("epoch {t}: {message}"));
                    break;
                }
                return Err(e);
            }
        }
        // Bounds at t from the constants of t − 1 (when it was measured).
        if let Some(prev) = records.last().filter(|p| p.epoch + 1 == t && p.measured) {
            if let (Some(mu), Some(l)) = (prev.mu_ntk, prev.l_ntk) {
                let p = predict_loss(prev.train_loss, h, 0.0, mu, l, lr);
                record.prediction_ntk = Some((
                    p.bound_lemma1,
                    p.bound_eta,
                    p.ratio_lemma1,
                    p.ratio_eta,
                    p.eta_exceeds_2_over_l,
                ));
            }
            if let Some(l) = prev.l_secant {
                let p = predict_loss(prev.train_loss, h, 0.0, prev.mu_grad, l, lr);
                record.prediction_grad = Some((
                    p.bound_lemma1,
                    p.bound_eta,
                    p.ratio_lemma1,
                    p.ratio_eta,
                    p.eta_exceeds_2_over_l,
                ));
            }
        }
        records.push(record);
        if t == config.epochs {
            break;
        }
        // The step θ_{t+1} = θ_t − η g_t.
        let mut batch = Batch::new(gpu);
        ops.record_gd_step(&mut batch, &fcn, &grads, lr)?;
        batch.submit()?;
        previous_grads = Some(grads);
    }
    if let Some(dir) = tensors_dir {
        save_inputs_and_weights(dir, dataset, &fcn, gpu, "final")?;
    }
    // Rows that were not measured keep only the cheap columns; drop none of them.
    let mut table = Table::new(&epochs_header());
    for r in &records {
        let mut row = run_cells(run, &dataset.name, config.bias);
        row.extend(r.cells(ops.precision()));
        table.push(row);
    }
    let last = match records.last() {
        Some(r) => r.clone(),
        None => bail!("run {} diverged before its first measurement", run.id()),
    };
    let last_test = records
        .iter()
        .rev()
        .find_map(|r| r.test_loss.zip(r.test_accuracy));
    let summary = RunSummary {
        status: if diverged_epoch.is_some() {
            "diverged".into()
        } else {
            "done".into()
        },
        epochs_run: last.epoch,
        diverged_epoch,
        diverged_reason,
        final_train_loss: last.train_loss,
        final_train_accuracy: last.train_accuracy,
        final_test_loss: last_test.map(|(l, _)| l),
        final_test_accuracy: last_test.map(|(_, a)| a),
        passes_accuracy_filter: diverged_epoch.is_none()
            && last.train_accuracy > config.min_final_accuracy,
    };
    Ok((table, summary))
}

fn save_inputs_and_weights(
    dir: &Path,
    dataset: &Dataset,
    fcn: &Fcn,
    gpu: &Gpu,
    stage: &str,
) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let n = dataset.train_indices.len();
    if stage == "initial" {
        write_npy_f32(&dir.join("inputs.npy"), &[n, dataset.d], &dataset.x_train)?;
        let labels: Vec<f32> = dataset.y_train.iter().map(|&y| y as f32).collect();
        write_npy_f32(&dir.join("labels.npy"), &[n], &labels)?;
        let indices = serde_json::json!({
            "train_indices": dataset.train_indices,
            "test_indices": dataset.test_indices,
        });
        std::fs::write(
            dir.join("indices.json"),
            serde_json::to_string_pretty(&indices)?,
        )?;
    }
    let layers = fcn.config.layer_shapes().len();
    for (i, (t, values)) in fcn.params.tensors().zip(fcn.download(gpu)?).enumerate() {
        let name = if i < layers {
            format!("weights_{}_{stage}.npy", i + 1)
        } else {
            format!("bias_{}_{stage}.npy", i - layers + 1)
        };
        write_npy_f32(&dir.join(name), t.shape(), &values)?;
    }
    Ok(())
}

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
    /// its spectrum, per-example gradient norms, gradient norm).
    pub measure_seconds: f64,
    pub ntk_method: String,
    pub precision: String,
}

/// Times `repeat` training steps and `measure_repeat` epoch measurements of a network
/// on synthetic inputs (d = 3072, labels i mod 10).
#[allow(clippy::too_many_arguments)]
pub fn time_epoch(
    gpu: &Gpu,
    depth: usize,
    width: usize,
    n: usize,
    loss: Loss,
    precision: Precision,
    repeat: usize,
    measure_repeat: usize,
) -> Result<EpochTiming> {
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};
    let d = crate::data::D;
    let ops = TrainingOps::new(gpu, precision)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let x: Vec<f32> = (0..n * d)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    let labels: Vec<u32> = (0..n as u32).map(|i| i % CLASSES as u32).collect();
    let fcn = Fcn::init(
        gpu,
        FcnConfig {
            input_dim: d,
            widths: vec![width; depth],
            outputs: CLASSES,
            activation: crate::ops::activation::Activation::ReluNormalized,
            renormalize: false,
            gain: None,
            bias: false,
            seed: 0,
        },
    )?;
    let xt = Tensor::from_slice(gpu, &[n, d], &x)?;
    let yt = Tensor::from_slice(gpu, &[n], &labels)?;
    let losses = Tensor::<f32>::zeros(gpu, &[n])?;
    let d_logits = Tensor::<f32>::zeros(gpu, &[n, CLASSES])?;
    let step = |lr: f64| -> Result<(ForwardCache, Vec<Tensor>, ParamTensors)> {
        let mut batch = Batch::new(gpu);
        let (cache, grads, deltas) =
            ops.record_loss_and_gradients(&mut batch, &fcn, &xt, &yt, loss, &losses, &d_logits)?;
        ops.record_gd_step(&mut batch, &fcn, &grads, lr)?;
        batch.submit()?;
        Ok((cache, deltas, grads))
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
        let _ = sum_of_squares(gpu, &ops.spectral.vectors_f32, grads.tensors())?;
        let ntk = ops.ntk_spectrum(gpu, &fcn, &cache, NtkMethod::Auto, &options)?;
        method = ntk.method.name().to_string();
        if depth > 0 {
            gram_measure(gpu, &ops, &cache.inputs[depth], None, 0)?;
        }
        lipschitz(gpu, &ops, &cache, &deltas, false)?;
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
    })
}
