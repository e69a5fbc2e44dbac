//! The rows of `epochs.csv` and `runs.csv` ([`EpochRow`], [`RunRow`]) and the records
//! they are filled from.

use super::super::config::{TrainingConfig, TrainingRun};
use crate::io::tables::{EpochRow, Row as _, RunRow};
use crate::linalg::{Precision, SpectrumResult};
use crate::theory::bounds::LossPrediction;

/// Per-epoch columns of `epochs.csv`, after the columns identifying the run.
pub const EPOCH_COLUMNS: &[&str] = EpochRow::OWN_COLUMNS;

pub fn epochs_header() -> Vec<&'static str> {
    EpochRow::COLUMNS.to_vec()
}

pub fn runs_header() -> Vec<&'static str> {
    RunRow::COLUMNS.to_vec()
}

/// A `$row` ([`EpochRow`] or [`RunRow`]: both start with the columns identifying the
/// run) of the run `$run` of `$config` on `$dataset`, its other fields `$own`.
macro_rules! training_run_row {
    ($row:ident { $($own:tt)* }, $run:expr, $dataset:expr, $config:expr) => {{
        let (run, config): (&TrainingRun, &TrainingConfig) = ($run, $config);
        $row {
            run_id: run.id(),
            dataset: $dataset.to_string(),
            depth: run.depth,
            width: run.width,
            n: run.n,
            activation: run.activation.name().to_string(),
            loss: run.loss.name().to_string(),
            loss_reduction: config.loss_reduction.name().to_string(),
            lr: run.lr,
            renormalize: run.renormalize,
            bias: config.bias,
            seed: run.seed,
            network_precision: config.common.network_precision.name().to_string(),
            $($own)*
        }
    }};
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
    /// Loss-prediction bounds and ratios per constant source (NTK, gradient).
    pub prediction_ntk: Option<LossPrediction>,
    pub prediction_grad: Option<LossPrediction>,
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

impl EpochRecord {
    /// This epoch's row of `epochs.csv` of the run `run` of `config`; `precision` is
    /// the spectral solves' (written at measured epochs only).
    pub(super) fn row(
        &self, run: &TrainingRun, dataset: &str, config: &TrainingConfig, precision: Precision,
    ) -> EpochRow {
        let (ntk, lemma2) = (self.ntk.as_ref(), self.lemma2.as_ref());
        let (by_ntk, by_grad) = (self.prediction_ntk, self.prediction_grad);
        training_run_row!(
            EpochRow {
                epoch: self.epoch,
                train_loss: self.train_loss,
                train_accuracy: self.train_accuracy,
                test_loss: self.test_loss,
                test_accuracy: self.test_accuracy,
                grad_norm: self.grad_norm,
                mu_grad: self.mu_grad,
                l_secant: self.l_secant,
                mu_ntk: self.mu_ntk,
                l_ntk: self.l_ntk,
                gram_frobenius_change: self.gram_change,
                lambda_min_lower_eq13: self.eq13,
                ntk_lambda_min: ntk.map(|(s, ..)| s.lambda_min()),
                ntk_lambda_min_bound: ntk.map(|(s, ..)| s.smallest[0].bound),
                ntk_lambda_max: ntk.map(|(s, ..)| s.lambda_max()),
                ntk_lambda_max_bound: ntk.map(|(s, ..)| s.largest[0].bound),
                ntk_kappa: ntk.map(|(s, ..)| s.kappa()),
                ntk_log10_kappa: ntk.map(|(s, ..)| s.kappa().log10()),
                ntk_converged: ntk.map(|(s, ..)| s.converged),
                ntk_method: ntk.map(|(_, m, _)| m.clone()).unwrap_or_default(),
                ntk_precision: ntk.map(|(.., p)| p.name().into()).unwrap_or_default(),
                bound_lemma1_ntk: by_ntk.map(|p| p.bound_lemma1),
                bound_eta_ntk: by_ntk.map(|p| p.bound_eta),
                ratio_lemma1_ntk: by_ntk.map(|p| p.ratio_lemma1),
                ratio_eta_ntk: by_ntk.map(|p| p.ratio_eta),
                eta_exceeds_2_over_l_ntk: by_ntk.map(|p| p.eta_exceeds_2_over_l),
                bound_lemma1_grad: by_grad.map(|p| p.bound_lemma1),
                bound_eta_grad: by_grad.map(|p| p.bound_eta),
                ratio_lemma1_grad: by_grad.map(|p| p.ratio_lemma1),
                ratio_eta_grad: by_grad.map(|p| p.ratio_eta),
                eta_exceeds_2_over_l_grad: by_grad.map(|p| p.eta_exceeds_2_over_l),
                gram_lambda_min: self.gram.as_ref().map(|s| s.lambda_min()),
                gram_lambda_max: self.gram.as_ref().map(|s| s.lambda_max()),
                gram_log10_kappa: self.gram.as_ref().map(|s| s.kappa().log10()),
                g_lipschitz: lemma2.map(|l| l.g_lipschitz),
                lemma2_m: lemma2.map(|l| l.m),
                lemma2_delta: lemma2.map(|l| l.delta),
                lemma2_beta_grad: lemma2.map(|l| l.beta_grad),
                gen_bound_grad: lemma2.map(|l| l.gen_bound_grad),
                lemma2_beta_ntk: lemma2.and_then(|l| l.beta_ntk),
                gen_bound_ntk: lemma2.and_then(|l| l.gen_bound_ntk),
                gen_gap: lemma2.and_then(|l| l.gap),
                vacuous: lemma2.map(|l| l.vacuous),
                precision: if self.measured {
                    precision.name().to_string()
                } else {
                    String::new()
                },
            },
            run,
            dataset,
            config
        )
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

/// A run's row of `runs.csv`: its summary, or for a run that failed (no summary) its
/// status and time only; `seconds` it took.
pub fn run_row(
    summary: Option<&RunSummary>, run: &TrainingRun, dataset: &str, config: &TrainingConfig,
    seconds: f64,
) -> RunRow {
    let failed = training_run_row!(
        RunRow {
            status: "failed".into(),
            seconds,
            ..Default::default()
        },
        run,
        dataset,
        config
    );
    match summary {
        None => failed,
        Some(s) => RunRow {
            status: s.status.clone(),
            epochs_run: Some(s.epochs_run),
            diverged_epoch: s.diverged_epoch,
            final_train_loss: Some(s.final_train_loss),
            final_train_accuracy: Some(s.final_train_accuracy),
            final_test_loss: s.final_test_loss,
            final_test_accuracy: s.final_test_accuracy,
            passes_accuracy_filter: s.passes_accuracy_filter,
            ..failed
        },
    }
}
