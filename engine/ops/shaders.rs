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

/// One kernel family's body instantiated in one precision: the prelude that defines `Real`
/// (shaders/prelude_f32.wgsl or prelude_f64.wgsl) and the helpers every family shares
/// (shaders/common.wgsl) joined in front of the body at build time.
/// Its name is `<family>_<precision>`, so labels and pipeline keys tell the two apart.
/// `prefix:` adds declarations between the prelude and the body (the Gram family's input
/// type), and `name:` then gives the instantiation its own name.
macro_rules! family {
    (@features f32) => {
        NONE
    };
    (@features f64) => {
        F64
    };
    ($ident:ident, $family:literal, $precision:ident, trusted: $trusted:expr) => {
        family!($ident, $family, $precision, prefix: "",
            name: concat!($family, "_", stringify!($precision)), trusted: $trusted);
    };
    ($ident:ident, $family:literal, $precision:ident, prefix: $prefix:literal, name: $name:expr, trusted: $trusted:expr) => {
        pub static $ident: Shader = Shader {
            name: $name,
            source: concat!(
                include_str!(concat!("../../shaders/prelude_", stringify!($precision), ".wgsl")),
                include_str!("../../shaders/common.wgsl"),
                $prefix,
                include_str!(concat!("../../shaders/", $family, ".wgsl"))
            ),
            features: family!(@features $precision),
            trusted: $trusted,
        };
    };
}

family!(MATMUL_F32, "matmul", f32, trusted: true);
family!(MATMUL_F64, "matmul", f64, trusted: true);
// Gram: f32 features with f32 or f64 sums, or f64 features (of an f64 network) with f64 sums.
family!(GRAM_F32, "gram", f32, prefix: "alias GramInput = f32;\n", name: "gram_f32", trusted: true);
family!(GRAM_F64, "gram", f64, prefix: "alias GramInput = f32;\n", name: "gram_f64", trusted: true);
family!(GRAM_F64_INPUT_F64, "gram", f64, prefix: "alias GramInput = f64;\n", name: "gram_f64_input_f64", trusted: true);
family!(ACTIVATION_F32, "activation", f32, trusted: false);
family!(ACTIVATION_F64, "activation", f64, trusted: false);
family!(ROWNORM_F32, "rownorm", f32, trusted: false);
family!(ROWNORM_F64, "rownorm", f64, trusted: false);
family!(REDUCE_F32, "reduce", f32, trusted: false);
family!(REDUCE_F64, "reduce", f64, trusted: false);
family!(VECTOR_F32, "vector", f32, trusted: false);
family!(VECTOR_F64, "vector", f64, trusted: false);
family!(LOSS_F32, "loss", f32, trusted: false);
family!(LOSS_F64, "loss", f64, trusted: false);
family!(SYMSTATS_F32, "symstats", f32, trusted: false);
family!(SYMSTATS_F64, "symstats", f64, trusted: false);
family!(BIAS_F32, "bias", f32, trusted: false);
family!(BIAS_F64, "bias", f64, trusted: false);
family!(NTK_F32, "ntk", f32, trusted: false);
family!(NTK_F64, "ntk", f64, trusted: false);
shader!(BASELINE, "baseline", NONE, trusted: true);
family!(TRIDIAGONALIZE_F32, "tridiagonalize", f32, trusted: false);
family!(TRIDIAGONALIZE_F64, "tridiagonalize", f64, trusted: false);
family!(BANDREDUCE_F32, "bandreduce", f32, trusted: false);
family!(BANDREDUCE_F64, "bandreduce", f64, trusted: false);

/// All shaders, every family in every precision, for validation and translation tests.
pub static ALL: &[&Shader] = &[
    &MATMUL_F32,
    &MATMUL_F64,
    &GRAM_F32,
    &GRAM_F64,
    &GRAM_F64_INPUT_F64,
    &ACTIVATION_F32,
    &ACTIVATION_F64,
    &ROWNORM_F32,
    &ROWNORM_F64,
    &REDUCE_F32,
    &REDUCE_F64,
    &VECTOR_F32,
    &VECTOR_F64,
    &LOSS_F32,
    &LOSS_F64,
    &SYMSTATS_F32,
    &SYMSTATS_F64,
    &BIAS_F32,
    &BIAS_F64,
    &NTK_F32,
    &NTK_F64,
    &BASELINE,
    &TRIDIAGONALIZE_F32,
    &TRIDIAGONALIZE_F64,
    &BANDREDUCE_F32,
    &BANDREDUCE_F64,
];
