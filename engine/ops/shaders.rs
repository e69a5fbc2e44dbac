//! Every WGSL file of `shaders/`, in one list, so tests can validate them all.

use crate::gpu::Shader;

const NONE: wgpu::Features = wgpu::Features::empty();
const F64: wgpu::Features = wgpu::Features::SHADER_F64;

macro_rules! shader {
    ($ident:ident, $name:literal, $features:expr, trusted: $trusted:expr) => {
        pub static $ident: Shader = Shader {
            name: $name,
            source: include_str!(concat!("../../shaders/", $name, ".wgsl")),
            features: $features,
            trusted: $trusted,
        };
    };
}

shader!(MATMUL, "matmul", NONE, trusted: true);
shader!(GRAM, "gram", NONE, trusted: true);
shader!(GRAM_F64, "gram_f64", F64, trusted: true);
shader!(ACTIVATION, "activation", NONE, trusted: false);
shader!(ROWNORM, "rownorm", NONE, trusted: false);
shader!(REDUCE, "reduce", NONE, trusted: false);
shader!(VECTOR, "vector", NONE, trusted: false);
shader!(VECTOR_F64, "vector_f64", F64, trusted: false);
shader!(LOSS, "loss", NONE, trusted: false);
shader!(SYMSTATS, "symstats", NONE, trusted: false);
shader!(SYMSTATS_F64, "symstats_f64", F64, trusted: false);
shader!(BIAS, "bias", NONE, trusted: false);
shader!(NTK, "ntk", NONE, trusted: false);
shader!(NTK_F64, "ntk_f64", F64, trusted: false);

/// All shaders, for validation and translation tests.
pub static ALL: &[&Shader] = &[
    &MATMUL,
    &GRAM,
    &GRAM_F64,
    &ACTIVATION,
    &ROWNORM,
    &REDUCE,
    &VECTOR,
    &VECTOR_F64,
    &LOSS,
    &SYMSTATS,
    &SYMSTATS_F64,
    &BIAS,
    &NTK,
    &NTK_F64,
];
