//! Experiment configs (YAML). A config names its `kind`; the rest is that kind's
//! settings. Unknown keys are errors that list the valid ones, and type errors give
//! the line and column (both from serde_yaml, parsing the text directly).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::data::{DatasetChoice, InputNorm};
use crate::linalg::Precision;
use crate::nn::ntk::NtkMethod;
use crate::ops::activation::Activation;
use crate::ops::loss::Loss;

/// A value or a list of values: `width: 500` or `width: [500, 1000]`.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

/// By hand rather than `untagged`, so that a bad element keeps its own message
/// ("unknown variant `sigmoid`, expected one of ...") and its line and column.
impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        use serde::de::{IntoDeserializer, SeqAccess, Visitor};
        struct OneOrManyVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for OneOrManyVisitor<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a value or a list of values")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut values = Vec::new();
                while let Some(v) = seq.next_element()? {
                    values.push(v);
                }
                Ok(OneOrMany::Many(values))
            }
            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(OneOrMany::One)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(OneOrMany::One)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(OneOrMany::One)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(OneOrMany::One)
            }
            fn visit_bool<E: serde::de::Error>(
                self,
                v: bool,
            ) -> std::result::Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(OneOrMany::One)
            }
        }
        deserializer.deserialize_any(OneOrManyVisitor(std::marker::PhantomData))
    }
}

impl<T: Clone> OneOrMany<T> {
    pub fn values(&self) -> Vec<T> {
        match self {
            OneOrMany::One(v) => vec![v.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

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

/// `kind: conditioning_at_init` (MEASUREMENTS.md §1-4; paper Figures 1 and 3).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditioningConfig {
    pub kind: ExperimentKind,
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
    /// Gram matrices and spectra: auto (f64 where available), f32 or f64.
    #[serde(default)]
    pub precision: Precision,
    /// Override of the hidden layers' init gain g (default: variance preserving).
    #[serde(default)]
    pub gain: Option<f64>,
    /// Also compute the infinite-width kernels Σ^l (MEASUREMENTS.md §4).
    #[serde(default = "yes")]
    pub infinite_width: bool,
    /// Write inputs, weights and every Ĝ^l as .npy files per run.
    #[serde(default)]
    pub save_tensors: bool,
    pub grid: ConditioningGrid,
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
        let mut runs = Vec::new();
        for width in g.width.values() {
            for depth in g.depth.values() {
                for n in g.n.values() {
                    for activation in g.activation.values() {
                        for renormalize in g.renormalize.values() {
                            for seed in g.seed.values() {
                                runs.push(ConditioningRun {
                                    width,
                                    depth,
                                    n,
                                    activation,
                                    renormalize,
                                    seed,
                                });
                            }
                        }
                    }
                }
            }
        }
        runs
    }

    fn validate(&self) -> Result<()> {
        let g = &self.grid;
        for (name, values) in [
            ("width", g.width.values()),
            ("depth", g.depth.values()),
            ("n", g.n.values()),
        ] {
            if values.is_empty() {
                bail!("grid.{name} is an empty list: give at least one value");
            }
            if values.contains(&0) {
                bail!("grid.{name} contains 0: every value must be at least 1");
            }
        }
        for (name, empty) in [
            ("activation", g.activation.values().is_empty()),
            ("renormalize", g.renormalize.values().is_empty()),
            ("seed", g.seed.values().is_empty()),
        ] {
            if empty {
                bail!("grid.{name} is an empty list: give at least one value");
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

/// `kind: training` (MEASUREMENTS.md §5, §6, §8; paper Figures 2 and 4).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingConfig {
    pub kind: ExperimentKind,
    #[serde(default)]
    pub out: Option<PathBuf>,
    #[serde(default)]
    pub dataset: DatasetChoice,
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    #[serde(default)]
    pub input_norm: InputNorm,
    /// Spectral solves (NTK, Gram): auto (f64 where available), f32 or f64.
    #[serde(default)]
    pub precision: Precision,
    #[serde(default)]
    pub gain: Option<f64>,
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
    /// Write inputs, initial and final weights as .npy per run.
    #[serde(default)]
    pub save_tensors: bool,
    pub grid: TrainingGrid,
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

impl TrainingRun {
    pub fn id(&self) -> String {
        format!(
            "d{}_w{}_n{}_{}_{}_lr{}_{}_s{}",
            self.depth,
            self.width,
            self.n,
            self.activation.name(),
            self.loss.name(),
            self.lr,
            if self.renormalize { "renorm" } else { "plain" },
            self.seed
        )
    }
}

impl TrainingConfig {
    /// Every grid point, seeds innermost.
    pub fn runs(&self) -> Vec<TrainingRun> {
        let g = &self.grid;
        let mut runs = Vec::new();
        for depth in g.depth.values() {
            for width in g.width.values() {
                for activation in g.activation.values() {
                    for loss in g.loss.values() {
                        for lr in g.lr.values() {
                            for n in g.n.values() {
                                for renormalize in g.renormalize.values() {
                                    for seed in g.seed.values() {
                                        runs.push(TrainingRun {
                                            depth,
                                            width,
                                            activation,
                                            loss,
                                            lr,
                                            n,
                                            renormalize,
                                            seed,
                                        });
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        runs
    }

    fn validate(&self) -> Result<()> {
        let g = &self.grid;
        for (name, values, min) in [
            ("width", g.width.values(), 1),
            ("depth", g.depth.values(), 0),
            ("n", g.n.values(), 2),
        ] {
            if values.is_empty() {
                bail!("grid.{name} is an empty list: give at least one value");
            }
            if let Some(v) = values.iter().find(|&&v| v < min) {
                bail!("grid.{name} contains {v}: every value must be at least {min}");
            }
        }
        let lrs = g.lr.values();
        if lrs.is_empty() {
            bail!("grid.lr is an empty list: give at least one learning rate");
        }
        if let Some(lr) = lrs.iter().find(|lr| !(**lr > 0.0 && lr.is_finite())) {
            bail!("grid.lr contains {lr}: learning rates must be positive numbers");
        }
        for (name, empty) in [
            ("activation", g.activation.values().is_empty()),
            ("loss", g.loss.values().is_empty()),
            ("renormalize", g.renormalize.values().is_empty()),
            ("seed", g.seed.values().is_empty()),
        ] {
            if empty {
                bail!("grid.{name} is an empty list: give at least one value");
            }
        }
        if self.epochs == 0 {
            bail!("epochs must be at least 1");
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
        if let Some(gain) = self.gain {
            if !(gain > 0.0 && gain.is_finite()) {
                bail!("gain must be a positive number, got {gain}");
            }
        }
        Ok(())
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

/// Parses a config from YAML text; `origin` names it in errors.
pub fn parse_config(text: &str, origin: &str) -> Result<ExperimentConfig> {
    let kind: KindOnly =
        serde_yaml::from_str(text).with_context(|| format!("{origin}: not a YAML mapping"))?;
    let kind = match kind.kind {
        None => bail!("{origin}: missing `kind`; use kind: conditioning_at_init or kind: training"),
        Some(v) => v,
    };
    match kind.as_str() {
        Some("conditioning_at_init") => {
            let config: ConditioningConfig =
                serde_yaml::from_str(text).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
            config
                .validate()
                .map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
            Ok(ExperimentConfig::Conditioning(config))
        }
        Some("training") => {
            let config: TrainingConfig =
                serde_yaml::from_str(text).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
            config
                .validate()
                .map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
            Ok(ExperimentConfig::Training(config))
        }
        _ => bail!(
            "{origin}: unknown kind {}: the kinds are conditioning_at_init and training",
            serde_yaml::to_string(&kind).unwrap_or_default().trim()
        ),
    }
}

/// Reads and parses a config file.
pub fn load_config(path: &Path) -> Result<ExperimentConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config {}", path.display()))?;
    parse_config(&text, &path.display().to_string())
}
