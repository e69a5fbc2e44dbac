//! Training losses h (MEASUREMENTS.md §5): names and parsing; the GPU kernels are
//! `ops::loss`.

use std::str::FromStr;

use anyhow::Result;

/// Training losses (MEASUREMENTS.md §5); h is the mean over the examples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// h = (1/2n) Σ ‖f(x_i) - y_i‖², y one-hot ("MSE on logits").
    Mse,
    /// The same on softmax(f(x_i)).
    MseSoftmax,
    /// h = (1/n) Σ -log softmax(f(x_i))_{y_i}.
    CrossEntropy,
}

impl Loss {
    pub const ALL: [Loss; 3] = [Loss::Mse, Loss::MseSoftmax, Loss::CrossEntropy];

    pub fn name(self) -> &'static str {
        match self {
            Loss::Mse => "mse",
            Loss::MseSoftmax => "mse_softmax",
            Loss::CrossEntropy => "cross_entropy",
        }
    }

    /// The `KIND` override of shaders/loss.wgsl.
    pub(crate) fn kind(self) -> f64 {
        match self {
            Loss::Mse => 0.0,
            Loss::MseSoftmax => 1.0,
            Loss::CrossEntropy => 2.0,
        }
    }
}

impl FromStr for Loss {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|l| l.name() == s)
            .ok_or_else(|| {
                anyhow::anyhow!("unknown loss `{s}`: use mse, mse_softmax or cross_entropy")
            })
    }
}
