//! Experiment configs (YAML). A config names its `kind`; the rest is that kind's
//! settings. Unknown keys are errors that list the valid ones, and type errors give
//! the line and column (both from serde_yaml, parsing the text directly).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::data::{DatasetChoice, InputNorm};
use crate::linalg::{Precision, SpectrumMethod};
use crate::nn::activation::Activation;
use crate::nn::loss::{Loss, LossReduction, Objective};
use crate::nn::ntk::NtkMethod;
use crate::nn::params::MAX_DEPTH;
use crate::nn::precision::{check_precisions, NetworkPrecision};

use super::grid::grid_runs;
pub use super::grid::{grid_product, OneOrMany};

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ExperimentKind {
    ConditioningAtInit,
    Training,
}

impl ExperimentKind {
    pub fn name(self) -> &'static str {
        match self {
            ExperimentKind::ConditioningAtInit => "conditioning_at_init",
            ExperimentKind::Training => "training",
        }
    }
}

fn default_activation() -> OneOrMany<Activation> {
    OneOrMany::One(Activation::ReluNormalized)
}
fn default_false() -> OneOrMany<bool> {
    OneOrMany::One(false)
}
fn default_seed() -> OneOrMany<u64> {
    OneOrMany::One(0)
}
fn yes() -> bool {
    true
}

/// The grid of a conditioning experiment: lists expand to their Cartesian product.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditioningGrid {
    /// Hidden width (the same for every hidden layer).
    pub width: OneOrMany<usize>,
    /// Number of hidden layers.
    pub depth: OneOrMany<usize>,
    /// Number of examples.
    pub n: OneOrMany<usize>,
    #[serde(default = "default_activation")]
    pub activation: OneOrMany<Activation>,
    #[serde(default = "default_false")]
    pub renormalize: OneOrMany<bool>,
    #[serde(default = "default_seed")]
    pub seed: OneOrMany<u64>,
}

impl ConditioningGrid {
    /// Every axis holds a value; widths, depths and n are at least 1.
    fn validate(&self) -> Result<()> {
        check_count_axes([
            ("width", self.width.values(), 1),
            ("depth", self.depth.values(), 1),
            ("n", self.n.values(), 1),
        ])?;
        check_listed_axes(&[
            (
                "activation",
                texts(&self.activation, |a| a.name().to_string()),
            ),
            ("renormalize", texts(&self.renormalize, bool::to_string)),
            ("seed", texts(&self.seed, u64::to_string)),
        ])
    }
}

/// The keys both experiment kinds share. Read from the same YAML mapping as the kind's
/// own keys (see [`parse_config`]); serialized beside them in the manifest.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Common {
    /// Where results go (overridden by `--out`); default `runs/<config file stem>`.
    #[serde(default)]
    pub out: Option<PathBuf>,
    /// cifar10, synthetic or auto (CIFAR-10 when found, else synthetic with a warning).
    #[serde(default)]
    pub dataset: DatasetChoice,
    /// CIFAR-10 directory; else $WIDEPROBE_DATA, else the cache directory.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// sqrt_fan_in (default), unit or none.
    #[serde(default)]
    pub input_norm: InputNorm,
    /// Spectral solves (Gram, NTK): auto (f64 where available), f32 or f64.
    #[serde(default)]
    pub precision: Precision,
    /// The network (weights, forward, backward, JVP, NTK assembly, update): f32
    /// (default) or f64 (needs SHADER_F64 and a precision of auto or f64). Serialised
    /// only when f64, so that f32 runs keep the fingerprints they had before the key.
    #[serde(default, skip_serializing_if = "NetworkPrecision::is_f32")]
    pub network_precision: NetworkPrecision,
    /// How stored matrices' spectra are computed: auto (the dense solver up to order
    /// 8192 when the matrix fits the device, else Lanczos), lanczos or dense. Matrix-free operators always use Lanczos.
    #[serde(default)]
    pub spectrum_method: SpectrumMethod,
    /// Relative residual tolerance of λ_min for Lanczos (MEASUREMENTS.md §7): default
    /// 1e-4 (log10 κ to 5e-5); 1e-12 gives exact extremes.
    #[serde(default)]
    pub spectrum_tol_min: Option<f64>,
    /// Override of the hidden layers' init gain g (default: variance preserving).
    #[serde(default)]
    pub gain: Option<f64>,
    /// Write the run's tensors as .npy files (inputs, weights; Ĝ^l for conditioning).
    #[serde(default)]
    pub save_tensors: bool,
}

impl Common {
    /// The keys of [`Common`], as they appear in a config.
    pub const KEYS: &'static [&'static str] = &[
        "out",
        "dataset",
        "data_dir",
        "input_norm",
        "precision",
        "network_precision",
        "spectrum_method",
        "spectrum_tol_min",
        "gain",
        "save_tensors",
    ];

    fn validate(&self) -> Result<()> {
        check_precisions(self.precision, self.network_precision)?;
        if let Some(tol) = self.spectrum_tol_min {
            if !(tol > 0.0 && tol < 1.0) {
                bail!("spectrum_tol_min must be a number strictly between 0 and 1 (e.g. 1e-4, or 1e-12 for exact extremes), got {tol}");
            }
        }
        if let Some(gain) = self.gain {
            if !(gain > 0.0 && gain.is_finite()) {
                bail!("gain must be a positive number, got {gain}");
            }
        }
        Ok(())
    }
}

/// Keys a kind's struct does not know, collected so they can be checked against
/// [`Common::KEYS`] (serde's `deny_unknown_fields` does not combine with `flatten`).
type OtherKeys = std::collections::BTreeMap<String, serde::de::IgnoredAny>;

/// `kind: conditioning_at_init` (MEASUREMENTS.md §1-4; paper Figures 1 and 3).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConditioningConfig {
    pub kind: ExperimentKind,
    #[serde(skip)]
    pub common: Common,
    /// Also compute the infinite-width kernels Σ^l (MEASUREMENTS.md §4).
    #[serde(default = "yes")]
    pub infinite_width: bool,
    pub grid: ConditioningGrid,
    #[serde(flatten, skip_serializing)]
    other: OtherKeys,
}

impl ConditioningConfig {
    /// The keys of this kind besides [`Common::KEYS`].
    pub const KEYS: &'static [&'static str] = &["kind", "infinite_width", "grid"];
}

/// One point of a conditioning grid.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ConditioningRun {
    pub width: usize,
    pub depth: usize,
    pub n: usize,
    pub activation: Activation,
    pub renormalize: bool,
    pub seed: u64,
}

impl ConditioningRun {
    /// A stable, readable identifier, also the run's folder name.
    pub fn id(&self) -> String {
        format!(
            "w{}_d{}_n{}_{}_{}_s{}",
            self.width,
            self.depth,
            self.n,
            self.activation.name(),
            if self.renormalize { "renorm" } else { "plain" },
            self.seed
        )
    }
}

impl ConditioningConfig {
    /// Every grid point, seeds innermost.
    pub fn runs(&self) -> Vec<ConditioningRun> {
        let g = &self.grid;
        grid_runs!(ConditioningRun {
            width: g.width,
            depth: g.depth,
            n: g.n,
            activation: g.activation,
            renormalize: g.renormalize,
            seed: g.seed,
        })
    }

    fn validate(&self) -> Result<()> {
        self.grid.validate()?;
        self.common.validate()
    }
}

/// The count axes of a grid (name, values, smallest allowed) each hold a value, none
/// below its minimum.
fn check_count_axes(axes: [(&str, Vec<usize>, usize); 3]) -> Result<()> {
    for (name, values, min) in axes {
        if values.is_empty() {
            bail!("grid.{name} is an empty list: give at least one value");
        }
        if let Some(v) = values.iter().find(|&&v| v < min) {
            bail!("grid.{name} contains {v}: every value must be at least {min}");
        }
        check_distinct(name, &values)?;
        // Refused here, before anything is allocated for them (widths are checked
        // against the adapter when the network is built).
        let (max, why) = match name {
            "depth" => (MAX_DEPTH, "layers, each with its own buffers"),
            "n" => (
                MAX_TRAIN_EXAMPLES,
                "examples, CIFAR-10's training set (and the synthetic set's cap)",
            ),
            _ => (usize::MAX, ""),
        };
        if let Some(v) = values.iter().find(|&&v| v > max) {
            bail!("grid.{name} contains {v}: at most {max} {why}");
        }
    }
    Ok(())
}

/// The most training examples a run takes: CIFAR-10's training set. The synthetic set
/// is held to the same sizes, so that a config means the same on either.
pub const MAX_TRAIN_EXAMPLES: usize = 50_000;
/// The most test examples (`n_test`): CIFAR-10's test set.
pub const MAX_TEST_EXAMPLES: usize = 10_000;
/// The most epochs a training run takes (one gradient step each).
pub const MAX_EPOCHS: usize = 1_000_000;

/// The other axes of a grid (name, its values as written in run ids) each hold a value,
/// none twice.
fn check_listed_axes(axes: &[(&str, Vec<String>)]) -> Result<()> {
    for (name, values) in axes {
        if values.is_empty() {
            bail!("grid.{name} is an empty list: give at least one value");
        }
        check_distinct(name, values)?;
    }
    Ok(())
}

/// No axis lists a value twice (`0.1` and `1e-1` are one value): a repeat names the same
/// run twice, and the second would report the first as already finished.
fn check_distinct<T: PartialEq + std::fmt::Display>(name: &str, values: &[T]) -> Result<()> {
    match values
        .iter()
        .enumerate()
        .find(|&(i, v)| values[..i].contains(v))
    {
        Some((_, v)) => {
            bail!("grid.{name} lists {v} more than once: each value is one run; remove the repeat")
        }
        None => Ok(()),
    }
}

/// An axis's values as text.
fn texts<T: Clone>(axis: &OneOrMany<T>, text: impl Fn(&T) -> String) -> Vec<String> {
    axis.values().iter().map(text).collect()
}

fn default_loss() -> OneOrMany<Loss> {
    OneOrMany::One(Loss::Mse)
}
fn default_epochs() -> usize {
    80
}
fn default_one() -> usize {
    1
}
fn default_n_test() -> usize {
    500
}
fn default_min_accuracy() -> f64 {
    0.12
}
fn default_delta() -> f64 {
    0.05
}

/// The grid of a training experiment: lists expand to their Cartesian product.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingGrid {
    pub depth: OneOrMany<usize>,
    pub width: OneOrMany<usize>,
    #[serde(default = "default_activation")]
    pub activation: OneOrMany<Activation>,
    #[serde(default = "default_loss")]
    pub loss: OneOrMany<Loss>,
    /// Learning rate η of full-batch gradient descent.
    pub lr: OneOrMany<f64>,
    /// Number of training examples.
    pub n: OneOrMany<usize>,
    #[serde(default = "default_false")]
    pub renormalize: OneOrMany<bool>,
    #[serde(default = "default_seed")]
    pub seed: OneOrMany<u64>,
}

impl TrainingGrid {
    /// Every axis holds a value; widths are at least 1, n at least 2, learning rates
    /// positive.
    fn validate(&self) -> Result<()> {
        check_count_axes([
            ("width", self.width.values(), 1),
            ("depth", self.depth.values(), 0),
            ("n", self.n.values(), 2),
        ])?;
        let lrs = self.lr.values();
        if lrs.is_empty() {
            bail!("grid.lr is an empty list: give at least one learning rate");
        }
        if let Some(lr) = lrs.iter().find(|lr| !(**lr > 0.0 && lr.is_finite())) {
            bail!("grid.lr contains {lr}: learning rates must be positive numbers");
        }
        check_listed_axes(&[
            (
                "activation",
                texts(&self.activation, |a| a.name().to_string()),
            ),
            ("loss", texts(&self.loss, |l| l.name().to_string())),
            ("lr", texts(&self.lr, f64::to_string)),
            ("renormalize", texts(&self.renormalize, bool::to_string)),
            ("seed", texts(&self.seed, u64::to_string)),
        ])
    }
}

/// `kind: training` (MEASUREMENTS.md §5, §6, §8; paper Figures 2 and 4).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainingConfig {
    pub kind: ExperimentKind,
    #[serde(skip)]
    pub common: Common,
    /// Biases on every layer (initialised to 0).
    #[serde(default)]
    pub bias: bool,
    /// Gradient-descent steps (one step is one epoch).
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    /// Held-out test examples (from the test batch) for test loss, accuracy and the
    /// measured generalisation gap; 0 for none.
    #[serde(default = "default_n_test")]
    pub n_test: usize,
    /// Measure every this many epochs (the init and the last epoch always). Bounds and
    /// ratios need the previous epoch measured, so they need measure_every: 1.
    #[serde(default = "default_one")]
    pub measure_every: usize,
    /// Runs whose final train accuracy is at or below this are left out of aggregate
    /// figures (kept in the tables).
    #[serde(default = "default_min_accuracy")]
    pub min_final_accuracy: f64,
    /// NTK spectrum: auto (explicit when the (nk)² matrix fits), explicit, matrix_free.
    #[serde(default)]
    pub ntk: NtkMethod,
    /// δ of Lemma 2.
    #[serde(default = "default_delta")]
    pub delta: f64,
    /// Squared-error reduction over the k outputs (MEASUREMENTS.md §5): `half_sum`
    /// (the theory's) or `mean` (PyTorch's `nn.MSELoss()`, for which the paper's
    /// learning rates were chosen).
    #[serde(default)]
    pub loss_reduction: LossReduction,
    pub grid: TrainingGrid,
    #[serde(flatten, skip_serializing)]
    other: OtherKeys,
}

impl TrainingConfig {
    /// The keys of this kind besides [`Common::KEYS`].
    pub const KEYS: &'static [&'static str] = &[
        "kind",
        "bias",
        "epochs",
        "n_test",
        "measure_every",
        "min_final_accuracy",
        "ntk",
        "delta",
        "loss_reduction",
        "grid",
    ];

    /// What gradient descent minimises for a run with this loss.
    pub fn objective(&self, loss: Loss) -> Objective {
        Objective {
            loss,
            reduction: self.loss_reduction,
        }
    }
}

/// One point of a training grid.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TrainingRun {
    pub depth: usize,
    pub width: usize,
    pub activation: Activation,
    pub loss: Loss,
    pub lr: f64,
    pub n: usize,
    pub renormalize: bool,
    pub seed: u64,
}

/// The longest run id that spells the learning rate out in decimals; past it (1e300 has
/// 301 digits) the id takes the exponent form, which keeps folder names within the
/// file system's 255 bytes. Ids up to it are unchanged, so earlier results are found.
const MAX_PLAIN_ID: usize = 180;

impl TrainingRun {
    pub fn id(&self) -> String {
        let id = |lr: &dyn std::fmt::Display| {
            format!(
                "d{}_w{}_n{}_{}_{}_lr{}_{}_s{}",
                self.depth,
                self.width,
                self.n,
                self.activation.name(),
                self.loss.name(),
                lr,
                if self.renormalize { "renorm" } else { "plain" },
                self.seed
            )
        };
        let plain = id(&self.lr);
        if plain.len() <= MAX_PLAIN_ID {
            plain
        } else {
            id(&format_args!("{:e}", self.lr))
        }
    }
}

impl TrainingConfig {
    /// Every grid point, seeds innermost.
    pub fn runs(&self) -> Vec<TrainingRun> {
        let g = &self.grid;
        grid_runs!(TrainingRun {
            depth: g.depth,
            width: g.width,
            activation: g.activation,
            loss: g.loss,
            lr: g.lr,
            n: g.n,
            renormalize: g.renormalize,
            seed: g.seed,
        })
    }

    fn validate(&self) -> Result<()> {
        self.grid.validate()?;
        if self.epochs == 0 {
            bail!("epochs must be at least 1");
        }
        if self.epochs > MAX_EPOCHS {
            bail!(
                "epochs is {}: at most {MAX_EPOCHS} (one gradient step each)",
                self.epochs
            );
        }
        if self.n_test > MAX_TEST_EXAMPLES {
            bail!(
                "n_test is {}: at most {MAX_TEST_EXAMPLES}, CIFAR-10's test set (and the \
                 synthetic set's cap)",
                self.n_test
            );
        }
        if self.measure_every == 0 {
            bail!("measure_every must be at least 1 (1 measures every epoch)");
        }
        if !(0.0..1.0).contains(&self.min_final_accuracy) {
            bail!(
                "min_final_accuracy must be in [0, 1), got {}",
                self.min_final_accuracy
            );
        }
        if !(self.delta > 0.0 && self.delta < 1.0) {
            bail!("delta must be in (0, 1), got {}", self.delta);
        }
        self.common.validate()
    }
}

/// Any experiment config.
#[derive(Clone, Debug)]
pub enum ExperimentConfig {
    Conditioning(ConditioningConfig),
    Training(TrainingConfig),
}

#[derive(Deserialize)]
struct KindOnly {
    kind: Option<serde_yaml::Value>,
}

/// Parses a config from YAML text; `origin` names it in errors. The kind's keys and
/// the [`Common`] keys are read from the same mapping; a key neither knows is an error
/// that lists the valid ones.
impl ExperimentConfig {
    pub fn common_mut(&mut self) -> &mut Common {
        match self {
            ExperimentConfig::Conditioning(c) => &mut c.common,
            ExperimentConfig::Training(c) => &mut c.common,
        }
    }
}

pub fn parse_config(text: &str, origin: &str) -> Result<ExperimentConfig> {
    let kind: KindOnly =
        serde_yaml::from_str(text).with_context(|| format!("{origin}: not a YAML mapping"))?;
    let kind = match kind.kind {
        None => bail!("{origin}: missing `kind`; use kind: conditioning_at_init or kind: training"),
        Some(v) => v,
    };
    let at = |e: anyhow::Error| anyhow::anyhow!("{origin}: {e}");
    match kind.as_str() {
        Some("conditioning_at_init") => {
            let keys = ConditioningConfig::KEYS;
            let mut config: ConditioningConfig =
                parse_kind(text, keys, |c: &ConditioningConfig| &c.other).map_err(at)?;
            config.common = serde_yaml::from_str(text).map_err(|e| at(e.into()))?;
            config.validate().map_err(at)?;
            Ok(ExperimentConfig::Conditioning(config))
        }
        Some("training") => {
            let keys = TrainingConfig::KEYS;
            let mut config: TrainingConfig =
                parse_kind(text, keys, |c: &TrainingConfig| &c.other).map_err(at)?;
            config.common = serde_yaml::from_str(text).map_err(|e| at(e.into()))?;
            config.validate().map_err(at)?;
            Ok(ExperimentConfig::Training(config))
        }
        _ => bail!(
            "{origin}: unknown kind {}: the kinds are conditioning_at_init and training",
            serde_yaml::to_string(&kind).unwrap_or_default().trim()
        ),
    }
}

/// A kind's config from `text`, failing on a key that is neither one of `keys` nor a
/// [`Common`] key (with its line and column, and the valid keys).
fn parse_kind<T: serde::de::DeserializeOwned>(
    text: &str, keys: &[&str], other: impl Fn(&T) -> &OtherKeys,
) -> Result<T> {
    let config: T = serde_yaml::from_str(text)?;
    if let Some(key) = other(&config)
        .keys()
        .find(|k| !Common::KEYS.contains(&k.as_str()))
    {
        let valid: Vec<String> = keys
            .iter()
            .chain(Common::KEYS)
            .map(|k| format!("`{k}`"))
            .collect();
        bail!(
            "unknown field `{key}`{}: expected one of {}",
            key_location(text, key),
            valid.join(", ")
        );
    }
    Ok(config)
}

/// " at line L column 1" of a top-level `key:` in `text` (empty when not found).
fn key_location(text: &str, key: &str) -> String {
    text.lines()
        .enumerate()
        .find(|(_, line)| {
            line.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map(|(i, _)| format!(" at line {} column 1", i + 1))
        .unwrap_or_default()
}

/// Reads and parses a config file.
pub fn load_config(path: &Path) -> Result<ExperimentConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config {}", path.display()))?;
    parse_config(&text, &path.display().to_string())
}
