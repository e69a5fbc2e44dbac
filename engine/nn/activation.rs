//! Hidden-layer activations phi and their host (f64) formulas: phi, phi', the init gain,
//! names and parsing. MEASUREMENTS.md section 2 defines them; the GPU kernels are
//! `ops::activation`, the dual activations `theory::dual`.

use std::str::FromStr;

use anyhow::Result;

use crate::ops::parse_name;

/// E[relu(g)] for g ~ N(0, 1): 1 / sqrt(2 pi).
pub const RELU_NORMALIZED_MEAN: f64 = 0.3989422804014327;
/// Std of relu(g) for g ~ N(0, 1): sqrt(E[relu(g)^2] - E[relu(g)]^2) = sqrt(1/2 - 1/(2 pi)).
pub const RELU_NORMALIZED_STD: f64 = 0.5838193701035489;
/// sqrt(E[tanh(g)^2]) for g ~ N(0, 1), E[tanh(g)^2] = 0.394294490397841.
pub const TANH_NORMALIZED_DIVISOR: f64 = 0.627928730349107;

/// The activation of a hidden layer; config names as in [`Activation::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// max(0, z).
    Relu,
    /// tanh(z).
    Tanh,
    /// (relu(z) - RELU_NORMALIZED_MEAN) / RELU_NORMALIZED_STD: mean 0, second moment 1 on N(0, 1).
    ReluNormalized,
    /// tanh(z) / TANH_NORMALIZED_DIVISOR: second moment 1 on N(0, 1) (mean 0 by symmetry).
    TanhNormalized,
}

impl Activation {
    /// In the order of their shader codes ([`Activation::code`]).
    pub const ALL: [Activation; 4] = [
        Activation::Relu,
        Activation::Tanh,
        Activation::ReluNormalized,
        Activation::TanhNormalized,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::ReluNormalized => "relu_normalized",
            Activation::TanhNormalized => "tanh_normalized",
        }
    }

    /// The `ACTIVATION` override of shaders/activation.wgsl.
    pub(crate) fn code(self) -> u32 {
        match self {
            Activation::Relu => 0,
            Activation::Tanh => 1,
            Activation::ReluNormalized => 2,
            Activation::TanhNormalized => 3,
        }
    }

    /// The init gain g of MEASUREMENTS section 2 (W entries ~ N(0, g / fan_in)): 2 for raw
    /// relu (He), making up for relu halving the second moment; 1 for tanh and the
    /// normalised ones (variance preserving by construction).
    pub fn init_gain(self) -> f64 {
        match self {
            Activation::Relu => 2.0,
            Activation::Tanh | Activation::ReluNormalized | Activation::TanhNormalized => 1.0,
        }
    }

    /// phi(z) in f64.
    pub fn eval(self, z: f64) -> f64 {
        match self {
            Activation::Relu => z.max(0.0),
            Activation::Tanh => z.tanh(),
            Activation::ReluNormalized => (z.max(0.0) - RELU_NORMALIZED_MEAN) / RELU_NORMALIZED_STD,
            Activation::TanhNormalized => z.tanh() / TANH_NORMALIZED_DIVISOR,
        }
    }

    /// phi'(z) in f64. At the relu kink z = 0 the derivative is 0 (as on the GPU).
    pub fn derivative(self, z: f64) -> f64 {
        let step = if z > 0.0 { 1.0 } else { 0.0 };
        match self {
            Activation::Relu => step,
            Activation::Tanh => tanh_derivative(z),
            Activation::ReluNormalized => step / RELU_NORMALIZED_STD,
            Activation::TanhNormalized => tanh_derivative(z) / TANH_NORMALIZED_DIVISOR,
        }
    }
}

/// 1 - tanh(z)^2 as sech(z)^2 = 4 s / (1 + s)^2, s = exp(-2|z|): keeps its relative
/// accuracy where tanh rounds to 1, and never overflows (the shader does the same).
fn tanh_derivative(z: f64) -> f64 {
    let s = (-2.0 * z.abs()).exp();
    4.0 * s / ((1.0 + s) * (1.0 + s))
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        parse_name("activation", s, &Self::ALL, Self::name)
    }
}
