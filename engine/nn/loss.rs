//! Training losses h (MEASUREMENTS.md §5): names and parsing; the GPU kernels are
//! `ops::loss`.

use std::str::FromStr;

use anyhow::Result;

use crate::ops::parse_name;

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

/// How the squared-error losses sum over the k outputs (MEASUREMENTS.md §5).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum LossReduction {
    /// l_i = (1/2) ‖f(x_i) − y_i‖²: the theory's convention, μ_loss = L_loss = 1/n.
    #[default]
    HalfSum,
    /// l_i = (1/k) ‖f(x_i) − y_i‖²: PyTorch's `nn.MSELoss()`, μ_loss = L_loss = 2/(n·k).
    Mean,
}

impl LossReduction {
    pub fn name(self) -> &'static str {
        match self {
            LossReduction::HalfSum => "half_sum",
            LossReduction::Mean => "mean",
        }
    }
}

/// A loss with its reduction: what gradient descent minimises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Objective {
    pub loss: Loss,
    pub reduction: LossReduction,
}

impl Objective {
    /// The factor between this objective's per-example loss (and gradient) and the
    /// half-sum one, for k outputs: 2/k for a `mean` squared error, else 1.
    /// Cross-entropy has one convention (the mean over examples, also PyTorch's).
    pub fn weight(self, k: usize) -> f64 {
        match (self.loss, self.reduction) {
            (Loss::Mse | Loss::MseSoftmax, LossReduction::Mean) => 2.0 / k as f64,
            _ => 1.0,
        }
    }

    /// μ_loss = L_loss of Lemma 3 for n examples and k outputs (squared errors on the
    /// logits): the weight over n.
    pub fn curvature(self, n: usize, k: usize) -> f64 {
        self.weight(k) / n as f64
    }
}

impl From<Loss> for Objective {
    /// The loss with the default (half-sum) reduction.
    fn from(loss: Loss) -> Self {
        Objective {
            loss,
            reduction: LossReduction::HalfSum,
        }
    }
}

impl FromStr for Loss {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        parse_name("loss", s, &Self::ALL, Self::name)
    }
}
