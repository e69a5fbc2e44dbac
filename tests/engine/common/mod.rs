//! Shared test helpers: one GPU per test process, random inputs, f64 references and
//! comparisons that print the largest differences when they fail.

#![allow(dead_code)]

pub mod reference;

use std::sync::OnceLock;

use rand::{Rng, SeedableRng};
use wideprobe::gpu::Gpu;
use wideprobe::linalg::Real;

/// The GPU for this test process (lavapipe on CPU-only machines).
pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        let gpu = Gpu::from_env().expect("a GPU adapter (install mesa-vulkan-drivers)");
        eprintln!("testing on {} ({})", gpu.summary.name, gpu.summary.backend);
        gpu
    })
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

pub fn real_to_f64<T: Real>(v: &[T]) -> Vec<f64> {
    v.iter().map(|&x| x.to_f64()).collect()
}

/// [`assert_close`] for a result in either precision.
pub fn assert_close_real<T: Real>(
    what: &str,
    got: &[T],
    want: &[f64],
    rel_frobenius: f64,
    atol: f64,
    rtol: f64,
) {
    assert_close(what, &real_to_f64(got), want, rel_frobenius, atol, rtol)
}

/// f64 unit roundoff over f32's: scales an f32 tolerance to the same number of ulps in f64.
pub const F64_OVER_F32: f64 = f64::EPSILON / f32::EPSILON as f64;

pub fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Asserts `got` matches `want` to a relative Frobenius error of `rel_frobenius`, and
/// elementwise to `|got - want| <= atol + rtol * |want|`. Prints the largest
/// differences and the first mismatches on failure. NaN anywhere fails.
pub fn assert_close(
    what: &str,
    got: &[f64],
    want: &[f64],
    rel_frobenius: f64,
    atol: f64,
    rtol: f64,
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
    let ok = bad.is_empty() && rel <= rel_frobenius;
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
    what: &str,
    got: &[f32],
    want: &[f64],
    rel_frobenius: f64,
    atol: f64,
    rtol: f64,
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
