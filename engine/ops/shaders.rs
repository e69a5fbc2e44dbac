//! Every WGSL file of `shaders/`, in one list, so tests can validate them all.

use crate::gpu::Shader;

const NONE: wgpu::Features = wgpu::Features::empty();
const F64: wgpu::Features = wgpu::Features::SHADER_F64;
const SUBGROUP: wgpu::Features = wgpu::Features::SUBGROUP;

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
/// type).
macro_rules! instance {
    (@features f32) => {
        NONE
    };
    (@features f64) => {
        F64
    };
    ($family:literal, $precision:ident, $name:expr, $prefix:expr, $trusted:expr) => {
        Shader {
            name: $name,
            source: concat!(
                include_str!(concat!("../../shaders/prelude_", stringify!($precision), ".wgsl")),
                include_str!("../../shaders/common.wgsl"),
                $prefix,
                include_str!(concat!("../../shaders/", $family, ".wgsl"))
            ),
            features: instance!(@features $precision),
            trusted: $trusted,
        }
    };
}

/// A kernel family: one WGSL body in both precisions. [`super::Real::of`] picks the
/// instance of a tensor's element type.
pub struct Family {
    pub f32: Shader,
    pub f64: Shader,
}

/// The families, each from `shaders/<name>.wgsl` (`prefix:` as in [`instance`]), and
/// [`ALL`]: every family in both precisions, then the shaders listed in `also`.
macro_rules! families {
    (also: [$($extra:expr),*]; $($ident:ident = $family:literal, trusted: $trusted:expr $(, prefix: $prefix:literal)?;)*) => {
        $(
            pub static $ident: Family = Family {
                f32: instance!($family, f32, concat!($family, "_f32"), concat!("" $(, $prefix)?), $trusted),
                f64: instance!($family, f64, concat!($family, "_f64"), concat!("" $(, $prefix)?), $trusted),
            };
        )*

        /// All shaders, every family in every precision, for validation and translation
        /// tests.
        pub static ALL: &[&Shader] = &[$(&$ident.f32, &$ident.f64,)* $(&$extra),*];
    };
}

families! {
    also: [
        GRAM_F64_INPUT_F64,
        GRAM_BCAST.f32,
        GRAM_BCAST.f64,
        GRAM_BCAST_F64_INPUT_F64,
        MATMUL_BCAST.f32,
        MATMUL_BCAST.f64,
        BANDREDUCE_BCAST.f32,
        BANDREDUCE_BCAST.f64,
        BASELINE
    ];
    MATMUL = "matmul", trusted: true;
    // Gram of f32 features (G in f32 or f64); GRAM_F64_INPUT_F64 below takes f64 features.
    GRAM = "gram", trusted: true, prefix: "alias GramInput = f32;\n";
    ACTIVATION = "activation", trusted: false;
    ROWNORM = "rownorm", trusted: false;
    REDUCE = "reduce", trusted: false;
    VECTOR = "vector", trusted: false;
    LOSS = "loss", trusted: false;
    SYMSTATS = "symstats", trusted: false;
    BIAS = "bias", trusted: false;
    NTK = "ntk", trusted: false;
    TRIDIAGONALIZE = "tridiagonalize", trusted: false;
    BANDREDUCE = "bandreduce", trusted: false;
}

/// Gram of f64 features (an f64 network), G in f64.
pub static GRAM_F64_INPUT_F64: Shader = instance!(
    "gram",
    f64,
    "gram_f64_input_f64",
    "alias GramInput = f64;\n",
    true
);
shader!(BASELINE, "baseline", NONE, trusted: true);

/// A family's body with a second body joined after it (and shaders/subgroup.wgsl's
/// helpers), whose kernels use the first's declarations and need SUBGROUP, which the
/// first family's kernels must not (shaders/matmul_bcast.wgsl,
/// shaders/bandreduce_bcast.wgsl, shaders/gram_bcast.wgsl). Named after the second.
/// `prefix:` as in [`instance`].
macro_rules! with_subgroups {
    (@instance $family:literal, $extra:literal, $precision:ident, $name:expr, $prefix:expr, $features:expr, $trusted:expr) => {
        Shader {
            name: $name,
            source: concat!(
                include_str!(concat!(
                    "../../shaders/prelude_",
                    stringify!($precision),
                    ".wgsl"
                )),
                include_str!("../../shaders/common.wgsl"),
                $prefix,
                include_str!(concat!("../../shaders/", $family, ".wgsl")),
                include_str!("../../shaders/subgroup.wgsl"),
                include_str!(concat!("../../shaders/", $extra, ".wgsl"))
            ),
            features: $features,
            trusted: $trusted,
        }
    };
    ($ident:ident = $family:literal + $extra:literal, trusted: $trusted:expr $(, prefix: $prefix:literal)?) => {
        pub static $ident: Family = Family {
            f32: with_subgroups!(
                @instance $family, $extra, f32, concat!($extra, "_f32"),
                concat!("" $(, $prefix)?), SUBGROUP, $trusted
            ),
            f64: with_subgroups!(
                @instance $family, $extra, f64, concat!($extra, "_f64"),
                concat!("" $(, $prefix)?), F64.union(SUBGROUP), $trusted
            ),
        };
    };
}

with_subgroups!(MATMUL_BCAST = "matmul" + "matmul_bcast", trusted: true);
with_subgroups!(BANDREDUCE_BCAST = "bandreduce" + "bandreduce_bcast", trusted: false);
with_subgroups!(
    GRAM_BCAST = "gram" + "gram_bcast", trusted: true, prefix: "alias GramInput = f32;\n"
);

/// [`GRAM_BCAST`] of f64 features (an f64 network), G in f64.
pub static GRAM_BCAST_F64_INPUT_F64: Shader = with_subgroups!(
    @instance "gram", "gram_bcast", f64, "gram_bcast_f64_input_f64",
    "alias GramInput = f64;\n", F64.union(SUBGROUP), true
);
