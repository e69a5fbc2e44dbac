//! Experiment configs (YAML). A config names its `kind`; the rest is that kind's
//! settings. Unknown keys are errors that list the valid ones, and type errors give
//! the line and column (both from serde_yaml, parsing the text directly).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::data::{DatasetChoice, InputNorm};
use crate::linalg::Precision;
use crate::ops::activation::Activation;

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
}

impl ExperimentKind {
    pub fn name(self) -> &'static str {
        match self {
            ExperimentKind::ConditioningAtInit => "conditioning_at_init",
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

/// Any experiment config.
#[derive(Clone, Debug)]
pub enum ExperimentConfig {
    Conditioning(ConditioningConfig),
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
        None => bail!("{origin}: missing `kind`; use kind: conditioning_at_init"),
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
        _ => bail!(
            "{origin}: unknown kind {}: the kinds are conditioning_at_init",
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
