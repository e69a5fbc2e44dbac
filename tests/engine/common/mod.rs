//! Shared test helpers: one GPU per test process, random inputs, f64 references and
//! comparisons that print the largest differences when they fail.

#![allow(dead_code)]

pub mod reference;

use std::sync::{Arc, OnceLock};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wideprobe::gpu::{Batch, Element, Gpu, Tensor};
use wideprobe::linalg::Real;
use wideprobe::nn::activation::Activation;
use wideprobe::nn::{Fcn, FcnConfig};
use wideprobe::ops::vector::VectorOps;

/// The GPU for this test process (lavapipe on CPU-only machines).
pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        let gpu = Gpu::from_env().expect("a GPU adapter (install mesa-vulkan-drivers)");
        eprintln!("testing on {} ({})", gpu.summary.name, gpu.summary.backend);
        gpu
    })
}

/// One `#[test]` per precision for the generic body `name::<T>(args)`, in a module named
/// after it: `name::f32` and `name::f64` (the latter says it is skipped, and passes,
/// where the adapter has no SHADER_F64). Arguments, where given, are per precision.
macro_rules! precision_tests {
    ($body:ident) => {
        precision_tests!($body, (), ());
    };
    ($body:ident, ($($f32_arg:expr),*), ($($f64_arg:expr),*)) => {
        mod $body {
            #[test]
            fn f32() {
                super::$body::<f32>($($f32_arg),*);
            }

            #[test]
            fn f64() {
                if !crate::common::skip_without_f64() {
                    super::$body::<f64>($($f64_arg),*);
                }
            }
        }
    };
}

/// A fresh generator. Seeds differ between runs unless WIDEPROBE_TEST_SEED is set;
/// the seed is printed so that a failure can be replayed.
pub fn rng(test: &str) -> rand::rngs::StdRng {
    let seed = std::env::var("WIDEPROBE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random::<u64>());
    eprintln!("{test}: WIDEPROBE_TEST_SEED={seed}");
    rand::rngs::StdRng::seed_from_u64(seed)
}

/// Where a Krylov solver test starts: the GPU, vector kernels in `T` for the solvers to
/// share, and the generator for `test` (see [`rng`]).
pub fn krylov_setup<T: Real>(test: &str) -> (&'static Gpu, Arc<VectorOps<T>>, StdRng) {
    let gpu = gpu();
    (gpu, Arc::new(VectorOps::new(gpu).unwrap()), rng(test))
}

/// Uniform in [-1, 1).
pub fn random_vec(rng: &mut impl Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// Uniform in [-1, 1), drawn in f64 and rounded to `T`: f64 inputs use all 53 bits.
pub fn random_real<T: Real>(rng: &mut impl Rng, len: usize) -> Vec<T> {
    (0..len)
        .map(|_| T::from_f64(rng.random_range(-1.0f64..1.0)))
        .collect()
}

/// Hidden pre-activations closer to 0 than this are redrawn by [`inputs_clear_of_kinks`]:
/// central differences of step 1e-6 move z by about 1e-6 and f32 rounds it by about as
/// much, so 1e-4 keeps every such test on one side of the relu kink.
pub const KINK_MARGIN: f64 = 1e-4;

/// Renormalised hidden rows whose root mean square is below this are redrawn by
/// [`inputs_clear_of_kinks`]: renormalising multiplies f32 rounding by its inverse.
pub const ROW_MARGIN: f64 = 1e-2;

/// Inputs [n, d] uniform in [-1, 1) (as [`random_real`]), drawn again until every hidden
/// pre-activation of `net` is at least [`KINK_MARGIN`] from 0 and, under renormalisation,
/// every hidden row's root mean square at least [`ROW_MARGIN`]. A gradient checked against
/// differences across a kink, or a row renormalised from almost nothing, fails for the
/// draw, not for the code (about 1% of draws at the test sizes).
pub fn inputs_clear_of_kinks<T: Real>(
    rng: &mut impl Rng, net: &reference::Network, n: usize, d: usize,
) -> Vec<T> {
    loop {
        let x = random_real::<T>(rng, n * d);
        let (kink, row) = net.margins(&real_to_f64(&x), n);
        if kink >= KINK_MARGIN && row >= ROW_MARGIN {
            return x;
        }
    }
}

pub fn real_to_f64<T: Real>(v: &[T]) -> Vec<f64> {
    v.iter().map(|&x| x.to_f64()).collect()
}

/// [`assert_close`] for a result in either precision.
pub fn assert_close_real<T: Real>(
    what: &str, got: &[T], want: &[f64], rel_frobenius: f64, atol: f64, rtol: f64,
) {
    assert_close(what, &real_to_f64(got), want, rel_frobenius, atol, rtol)
}

/// f32 tolerances scale by this to the same number of ulps in `T`: 1 for f32,
/// [`F64_OVER_F32`] for f64.
pub fn ulp_scale<T: Real>() -> f64 {
    T::UNIT_ROUNDOFF / <f32 as Real>::UNIT_ROUNDOFF
}

/// f64 unit roundoff over f32's: scales an f32 tolerance to the same number of ulps in f64.
pub const F64_OVER_F32: f64 = f64::EPSILON / f32::EPSILON as f64;

pub fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Asserts `got` matches `want` to a relative Frobenius error of `rel_frobenius`, and
/// elementwise to `|got - want| <= atol + rtol * |want|`. Prints the largest
/// differences and the first mismatches on failure. NaN anywhere fails.
/// The Frobenius check has one atol of absolute floor, ‖got − want‖ <= rel_frobenius
/// ‖want‖ + atol: an output that cancels to near zero (one element of a 1 x 1 product,
/// say) is otherwise held to a relative error its rounding cannot meet (a 4e-16 error on
/// a value of 0.02 failed 1.9e-14). Not atol √len: the elementwise check already implies
/// that bound, and the Frobenius check would then never bind on its own.
pub fn assert_close(
    what: &str, got: &[f64], want: &[f64], rel_frobenius: f64, atol: f64, rtol: f64,
) {
    assert_eq!(got.len(), want.len(), "{what}: length differs");
    let mut diff2 = 0.0;
    let mut norm2 = 0.0;
    let mut max_diff = 0.0f64;
    let mut bad = Vec::new();
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let d = (g - w).abs();
        diff2 += d * d;
        norm2 += w * w;
        if d.is_nan() || d > atol + rtol * w.abs() {
            bad.push((i, g, w));
        }
        if d.is_nan() || d > max_diff {
            max_diff = if d.is_nan() { f64::NAN } else { d };
        }
    }
    let rel = if norm2 > 0.0 {
        (diff2 / norm2).sqrt()
    } else {
        diff2.sqrt()
    };
    let frobenius_ok = rel <= rel_frobenius || diff2.sqrt() <= rel_frobenius * norm2.sqrt() + atol;
    let ok = bad.is_empty() && frobenius_ok;
    if !ok {
        let first: Vec<String> = bad
            .iter()
            .take(8)
            .map(|(i, g, w)| format!("[{i}] got {g:e} want {w:e}"))
            .collect();
        panic!(
            "{what}: relative Frobenius error {rel:e} (limit {rel_frobenius:e}), max |diff| {max_diff:e}, \
             {} elements outside atol {atol:e} + rtol {rtol:e}; first: {}",
            bad.len(),
            first.join(", ")
        );
    }
    eprintln!("{what}: ok, relative Frobenius error {rel:.2e}, max |diff| {max_diff:.2e}");
}

pub fn assert_close_f32(
    what: &str, got: &[f32], want: &[f64], rel_frobenius: f64, atol: f64, rtol: f64,
) {
    assert_close(what, &to_f64(got), want, rel_frobenius, atol, rtol)
}

/// True (after saying so) when the adapter has no SHADER_F64 (the GL backend, Apple):
/// an f64 test then has nothing to run.
pub fn skip_without_f64() -> bool {
    let skip = !gpu().has_f64();
    if skip {
        eprintln!("skipped: {} has no SHADER_F64", gpu().summary.name);
    }
    skip
}

/// The kernels of `all` this adapter runs (those that need subgroups are left out on the
/// GL backend), saying on stderr which are left out.
pub fn runnable<K: Copy + std::fmt::Debug>(
    all: impl IntoIterator<Item = K>, runs: impl Fn(K) -> bool,
) -> Vec<K> {
    all.into_iter()
        .filter(|&k| {
            let ok = runs(k);
            if !ok {
                eprintln!("skipping {k:?}: {} lacks subgroups", gpu().summary.name);
            }
            ok
        })
        .collect()
}

/// `data` on the GPU, in a tensor of `shape`.
pub fn upload<T: Element>(shape: &[usize], data: &[T]) -> Tensor<T> {
    Tensor::from_slice(gpu(), shape, data).unwrap()
}

/// A zero tensor of `shape` (for shape checks, and inputs whose values do not matter).
pub fn zeros<T: Element>(shape: &[usize]) -> Tensor<T> {
    Tensor::zeros(gpu(), shape).unwrap()
}

/// An output tensor of `shape` filled with [`Element::poison`] (NaN): an element the
/// kernel fails to write then fails the comparison instead of passing as a stale zero.
pub fn poisoned<T: Element>(shape: &[usize]) -> Tensor<T> {
    let t = zeros(shape);
    t.poison(gpu()).unwrap();
    t
}

/// The tensor's elements (waits for the submitted work).
pub fn download<T: Element>(t: &Tensor<T>) -> Vec<T> {
    t.to_vec(gpu()).unwrap()
}

/// Records what `record` launches into one batch and submits it (what the recording
/// returns besides is dropped).
pub fn launch<R>(record: impl FnOnce(&mut Batch<'static>) -> anyhow::Result<R>) {
    let mut batch = Batch::new(gpu());
    record(&mut batch).unwrap();
    batch.submit().unwrap();
}

/// Asserts that `result` is an error whose message names every one of `parts` (the
/// shapes or values a user would need to fix the call).
pub fn assert_error_names<T>(result: anyhow::Result<T>, parts: &[&str]) {
    let err = match result {
        Ok(_) => panic!("succeeded, but should have been an error naming {parts:?}"),
        Err(e) => e.to_string(),
    };
    assert!(parts.iter().all(|p| err.contains(p)), "{err}");
}

/// An FCN of `input_dim` inputs, hidden `widths`, `outputs` logits and `activation`,
/// initialised from `seed`: no renormalisation, no bias, the activation's own gain.
/// Tests set the rest with `FcnConfig { bias: true, ..fcn_config(..) }`.
pub fn fcn_config(
    input_dim: usize, widths: Vec<usize>, outputs: usize, activation: Activation, seed: u64,
) -> FcnConfig {
    FcnConfig {
        input_dim,
        widths,
        outputs,
        activation,
        renormalize: false,
        gain: None,
        bias: false,
        seed,
    }
}

/// The f64 reference network holding `fcn`'s current parameters and settings.
pub fn reference_network<T: Real>(fcn: &Fcn<T>) -> reference::Network {
    reference::Network {
        shapes: fcn.config.layer_shapes(),
        params: fcn
            .download(gpu())
            .unwrap()
            .iter()
            .map(|p| real_to_f64(p))
            .collect(),
        activation: fcn.config.activation.name().to_string(),
        renormalize: fcn.config.renormalize,
        bias: fcn.config.bias,
    }
}
