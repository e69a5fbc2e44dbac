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
macro_rules! family {
    ($ident:ident, $family:literal, f32, trusted: $trusted:expr) => {
        pub static $ident: Shader = Shader {
            name: concat!($family, "_f32"),
            source: concat!(
                include_str!("../../shaders/prelude_f32.wgsl"),
                include_str!("../../shaders/common.wgsl"),
                include_str!(concat!("../../shaders/", $family, ".wgsl"))
            ),
            features: NONE,
            trusted: $trusted,
        };
    };
    ($ident:ident, $family:literal, f64, trusted: $trusted:expr) => {
        pub static $ident: Shader = Shader {
            name: concat!($family, "_f64"),
            source: concat!(
                include_str!("../../shaders/prelude_f64.wgsl"),
                include_str!("../../shaders/common.wgsl"),
                include_str!(concat!("../../shaders/", $family, ".wgsl"))
            ),
            features: F64,
            trusted: $trusted,
        };
    };
}

shader!(MATMUL, "matmul", NONE, trusted: true);
family!(GRAM_F32, "gram", f32, trusted: true);
family!(GRAM_F64, "gram", f64, trusted: true);
shader!(ACTIVATION, "activation", NONE, trusted: false);
shader!(ROWNORM, "rownorm", NONE, trusted: false);
shader!(REDUCE, "reduce", NONE, trusted: false);
family!(VECTOR_F32, "vector", f32, trusted: false);
family!(VECTOR_F64, "vector", f64, trusted: false);
shader!(LOSS, "loss", NONE, trusted: false);
family!(SYMSTATS_F32, "symstats", f32, trusted: false);
family!(SYMSTATS_F64, "symstats", f64, trusted: false);
shader!(BIAS, "bias", NONE, trusted: false);
family!(NTK_F32, "ntk", f32, trusted: false);
family!(NTK_F64, "ntk", f64, trusted: false);
shader!(BASELINE, "baseline", NONE, trusted: true);
family!(KRYLOV_F32, "krylov", f32, trusted: false);
family!(KRYLOV_F64, "krylov", f64, trusted: false);
family!(TRIDIAGONALIZE_F32, "tridiagonalize", f32, trusted: false);
family!(TRIDIAGONALIZE_F64, "tridiagonalize", f64, trusted: false);

/// All shaders, every family in every precision, for validation and translation tests.
pub static ALL: &[&Shader] = &[
    &MATMUL,
    &GRAM_F32,
    &GRAM_F64,
    &ACTIVATION,
    &ROWNORM,
    &REDUCE,
    &VECTOR_F32,
    &VECTOR_F64,
    &LOSS,
    &SYMSTATS_F32,
    &SYMSTATS_F64,
    &BIAS,
    &NTK_F32,
    &NTK_F64,
    &BASELINE,
    &KRYLOV_F32,
    &KRYLOV_F64,
    &TRIDIAGONALIZE_F32,
    &TRIDIAGONALIZE_F64,
];
