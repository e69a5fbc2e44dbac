//! The rows of `epochs.csv` and `runs.csv`: their columns and the records they are
//! formatted from.

use super::super::config::{TrainingConfig, TrainingRun};
use crate::linalg::{Precision, SpectrumResult};
use crate::theory::bounds::LossPrediction;

/// Columns identifying a training run, first in `epochs.csv` and `runs.csv`.
pub const TRAINING_RUN_COLUMNS: &[&str] = &[
    "run_id",
    "dataset",
    "depth",
    "width",
    "n",
    "activation",
    "loss",
    "loss_reduction",
    "lr",
    "renormalize",
    "bias",
    "seed",
    "network_precision",
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

pub fn run_cells(run: &TrainingRun, dataset: &str, config: &TrainingConfig) -> Vec<String> {
    vec![
        run.id(),
        dataset.to_string(),
        run.depth.to_string(),
        run.width.to_string(),
        run.n.to_string(),
        run.activation.name().to_string(),
        run.loss.name().to_string(),
        config.loss_reduction.name().to_string(),
        run.lr.to_string(),
        run.renormalize.to_string(),
        config.bias.to_string(),
        run.seed.to_string(),
        config.common.network_precision.name().to_string(),
    ]
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

fn opt(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

impl EpochRecord {
    pub(super) fn cells(&self, precision: Precision) -> Vec<String> {
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
                Some(p) => c.extend([
                    p.bound_lemma1.to_string(),
                    p.bound_eta.to_string(),
                    p.ratio_lemma1.to_string(),
                    p.ratio_eta.to_string(),
                    p.eta_exceeds_2_over_l.to_string(),
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
