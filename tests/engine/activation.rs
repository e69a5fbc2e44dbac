use rand::Rng;
use rand_distr::StandardNormal;
use wideprobe::gpu::Batch;
use wideprobe::linalg::Real;
use wideprobe::ops::activation::{
    Activation, ActivationOp, RELU_NORMALIZED_MEAN, RELU_NORMALIZED_STD, TANH_NORMALIZED_DIVISOR,
};

use crate::common::{self, reference};

/// 1, 7, 33, 130 and 300 elements (not multiples of the 256-invocation workgroup), in
/// several ranks: the kernels are elementwise, so any shape works.
const SHAPES: &[&[usize]] = &[&[1], &[7], &[3, 11], &[2, 5, 13], &[300]];

const EPS32: f64 = f32::EPSILON as f64;

/// (atol, rtol) for the forward of `act` against the f64 reference.
fn forward_tolerance(act: Activation) -> (f64, f64) {
    match act {
        // max(z, 0) is exact.
        Activation::Relu => (0.0, 0.0),
        // f32 constants (half an ulp each), a subtraction and a division: a few ulps of the
        // result, plus the rounding of the mean, 0.4 * eps / 0.58, where it cancels.
        Activation::ReluNormalized => (EPS32, 4.0 * EPS32),
        // WGSL only promises tanh to the accuracy of (e^z - e^-z) / (e^z + e^-z) with exp
        // good to 3 + 2|z| ulps: near 0 that is an absolute error of a few ulps of 1, and a
        // relative one of (3 + 2 * 20) ulps after the clamp at 20.
        Activation::Tanh | Activation::TanhNormalized => (8.0 * EPS32, 48.0 * EPS32),
    }
}

/// (atol, rtol) for the backward of `act` on |z| <= `max_abs_z`.
fn backward_tolerance(act: Activation, max_abs_z: f64) -> (f64, f64) {
    match act {
        // d_a * 1 or d_a * 0: exact.
        Activation::Relu => (0.0, 0.0),
        // d_a times an f32 constant: two roundings.
        Activation::ReluNormalized => (0.0, 3.0 * EPS32),
        // exp(-2|z|) is good to 3 + 4|z| ulps, then ~5 roundings; the atol covers the f64
        // reference 1 - tanh^2, which is itself only good to ~1e-16 absolute.
        Activation::Tanh | Activation::TanhNormalized => {
            (1e-15, (8.0 + 4.0 * max_abs_z.min(20.0)) * EPS32)
        }
    }
}

fn gpu_forward<T: Real>(
    op: &ActivationOp<T>, act: Activation, shape: &[usize], z_data: &[T],
) -> Vec<T> {
    let z = common::upload(shape, z_data);
    let a = common::poisoned::<T>(shape);
    common::launch(|b| op.forward(b, act, &z, &a));
    common::download(&a)
}

fn gpu_backward<T: Real>(
    op: &ActivationOp<T>, act: Activation, shape: &[usize], z_data: &[T], d_a_data: &[T],
) -> Vec<T> {
    let (z, d_a) = (
        common::upload(shape, z_data),
        common::upload(shape, d_a_data),
    );
    let d_z = common::poisoned::<T>(shape);
    common::launch(|b| op.backward(b, act, &z, &d_a, &d_z));
    common::download(&d_z)
}

fn reference_forward<T: Real>(act: Activation, z: &[T]) -> Vec<f64> {
    z.iter()
        .map(|&v| reference::activation(act.name(), v.to_f64()))
        .collect()
}

fn reference_backward<T: Real>(act: Activation, z: &[T], d_a: &[T]) -> Vec<f64> {
    z.iter()
        .zip(d_a)
        .map(|(&v, &g)| g.to_f64() * reference::activation_derivative(act.name(), v.to_f64()))
        .collect()
}

/// The relative Frobenius limit implied by the elementwise one: rtol, plus atol over the
/// RMS of the reference (a short vector of outputs near 0, e.g. relu_normalized at z
/// near 0.4, is only good to atol, which is large relative to its norm).
fn frobenius_limit(want: &[f64], atol: f64, rtol: f64) -> f64 {
    let rms = (want.iter().map(|w| w * w).sum::<f64>() / want.len().max(1) as f64).sqrt();
    rtol.max(1e-7) + if rms > 0.0 { atol / rms } else { 0.0 }
}

/// `got` against `want` to (atol, rtol) elementwise and the Frobenius limit they imply.
fn assert_within(what: &str, got: &[f32], want: &[f64], (atol, rtol): (f64, f64)) {
    let limit = frobenius_limit(want, atol, rtol);
    common::assert_close_f32(what, got, want, limit, atol, rtol);
}

/// Pre-activations uniform in [-4, 4), past tanh's knee, with an exact 0 (the relu kink)
/// in the middle.
fn random_z(rng: &mut impl Rng, len: usize) -> Vec<f32> {
    let mut z: Vec<f32> = common::random_vec(rng, len)
        .into_iter()
        .map(|v| 4.0 * v)
        .collect();
    if len > 1 {
        z[len / 2] = 0.0;
    }
    z
}

/// Runs `check(what, act, shape, rng)` for every activation and shape, each case with a
/// generator of its own, named by `what` (which a failure reports).
fn for_every_activation_and_shape(
    test: &str, mut check: impl FnMut(&str, Activation, &[usize], &mut rand::rngs::StdRng),
) {
    for act in Activation::ALL {
        for &shape in SHAPES {
            let what = format!("{test} {act} {shape:?}");
            check(&what, act, shape, &mut common::rng(&what));
        }
    }
}

#[test]
fn forward_matches_reference_for_every_activation_and_shape() {
    let op = ActivationOp::<f32>::new(common::gpu()).unwrap();
    for_every_activation_and_shape("activation forward", |what, act, shape, rng| {
        let z = random_z(rng, shape.iter().product());
        let got = gpu_forward(&op, act, shape, &z);
        assert_within(
            what,
            &got,
            &reference_forward(act, &z),
            forward_tolerance(act),
        );
    });
}

#[test]
fn backward_matches_reference_for_every_activation_and_shape() {
    let op = ActivationOp::<f32>::new(common::gpu()).unwrap();
    for_every_activation_and_shape("activation backward", |what, act, shape, rng| {
        let z = random_z(rng, shape.iter().product());
        let d_a = common::random_vec(rng, z.len());
        let want = reference_backward(act, &z, &d_a);
        let got = gpu_backward(&op, act, shape, &z, &d_a);
        assert_within(what, &got, &want, backward_tolerance(act, 4.0));
    });
}

#[test]
fn large_and_special_inputs_stay_finite_and_correct() {
    let gpu = common::gpu();
    let op = ActivationOp::<f32>::new(gpu).unwrap();
    let z: Vec<f32> = vec![
        0.0, -0.0, 1e-30, -1e-30, 0.5, -0.5, 9.5, -9.5, 20.0, -20.0, 21.0, -21.0, 44.5, -44.5,
        100.0, -100.0, 1e30, -1e30,
    ];
    let d_a = vec![1.0f32; z.len()];
    let shape = [z.len()];
    for act in Activation::ALL {
        let a = gpu_forward(&op, act, &shape, &z);
        let d_z = gpu_backward(&op, act, &shape, &z, &d_a);
        for (i, &v) in z.iter().enumerate() {
            assert!(
                a[i].is_finite() && d_z[i].is_finite(),
                "{act} at z = {v:e}: phi = {}, phi' = {}",
                a[i],
                d_z[i]
            );
        }
        let (atol, rtol) = forward_tolerance(act);
        common::assert_close_f32(
            &format!("{act} forward at special values"),
            &a,
            &reference_forward(act, &z),
            rtol.max(1e-7),
            atol,
            rtol,
        );
        let (atol, rtol) = backward_tolerance(act, 20.0);
        common::assert_close_f32(
            &format!("{act} backward at special values"),
            &d_z,
            &reference_backward(act, &z, &d_a),
            rtol.max(1e-7),
            atol,
            rtol,
        );
        // The relu kink: phi'(0) = 0, for +0 and -0.
        if matches!(act, Activation::Relu | Activation::ReluNormalized) {
            assert_eq!((d_z[0], d_z[1]), (0.0, 0.0), "{act}'(0)");
        }
    }
    // Saturated tanh is exactly +-1 and its derivative exactly 0 (e^-200 underflows).
    let a = gpu_forward(&op, Activation::Tanh, &shape, &z);
    let d_z = gpu_backward(&op, Activation::Tanh, &shape, &z, &d_a);
    for i in 14..18 {
        assert_eq!(a[i], z[i].signum(), "tanh({:e})", z[i]);
        assert_eq!(d_z[i], 0.0, "tanh'({:e})", z[i]);
    }
}

/// Two launches cover more than one grid dimension: workgroups split over x and y.
#[test]
fn launch_wider_than_one_grid_dimension_covers_every_element() {
    let gpu = common::gpu();
    let op = ActivationOp::<f32>::new(gpu).unwrap();
    let max_groups = gpu.limits().max_compute_workgroups_per_dimension as usize;
    let len = max_groups * 256 + 7;
    if len * 4 > gpu.max_binding_bytes() as usize {
        eprintln!("skipped: {len} f32 exceed the binding limit");
        return;
    }
    let mut rng = common::rng("activation forward, 2-D grid");
    let z = random_z(&mut rng, len);
    let got = gpu_forward(&op, Activation::Relu, &[len], &z);
    // relu is exact, so compare exactly and report the first mismatch.
    if let Some(i) = (0..len).find(|&i| got[i] != z[i].max(0.0)) {
        panic!(
            "element {i} of {len}: got {} want {}",
            got[i],
            z[i].max(0.0)
        );
    }
}

#[test]
fn host_eval_and_derivative_match_reference() {
    for act in Activation::ALL {
        for k in -1200..=1200 {
            let z = k as f64 / 100.0;
            let (want, got) = (reference::activation(act.name(), z), act.eval(z));
            assert!(
                (got - want).abs() <= 1e-15 + 1e-14 * want.abs(),
                "{act}({z}) = {got}, want {want}"
            );
            let (want, got) = (
                reference::activation_derivative(act.name(), z),
                act.derivative(z),
            );
            // The reference's 1 - tanh^2 is good to ~1e-16 absolute only.
            assert!(
                (got - want).abs() <= 1e-15 + 1e-13 * want.abs(),
                "{act}'({z}) = {got}, want {want}"
            );
        }
        for z in [100.0, -100.0, 1e30, -1e30, 1e300] {
            assert!(
                act.eval(z).is_finite() && act.derivative(z).is_finite(),
                "{act} at {z}"
            );
        }
    }
}

#[test]
fn reference_derivatives_match_central_finite_differences() {
    let h = 1e-5;
    for act in Activation::ALL {
        for k in -600..=600 {
            let z = k as f64 / 100.0 + 0.003; // never within h of the relu kink
            let f = |v: f64| reference::activation(act.name(), v);
            let fd = (f(z + h) - f(z - h)) / (2.0 * h);
            let analytic = reference::activation_derivative(act.name(), z);
            // Truncation h^2 |phi'''| / 6 ~ 1e-10, cancellation eps |phi| / h ~ 1e-11.
            assert!(
                (fd - analytic).abs() <= 1e-8,
                "{act}'({z}): finite difference {fd}, analytic {analytic}"
            );
        }
    }
}

/// Composite Simpson rule for E[f(g)], g ~ N(0, 1), on [-12, 0] and [0, 12] separately so
/// that the relu kink sits on a node between two smooth pieces (tails beyond 12 < 1e-32).
fn gaussian_expectation(f: impl Fn(f64) -> f64) -> f64 {
    let pdf = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let simpson = |a: f64, b: f64| {
        let n = 24_000;
        let h = (b - a) / n as f64;
        let mut s = f(a) * pdf(a) + f(b) * pdf(b);
        for i in 1..n {
            let x = a + i as f64 * h;
            s += if i % 2 == 1 { 4.0 } else { 2.0 } * f(x) * pdf(x);
        }
        s * h / 3.0
    };
    simpson(-12.0, 0.0) + simpson(0.0, 12.0)
}

#[test]
fn normalising_constants_match_their_definitions() {
    let pi = std::f64::consts::PI;
    assert!((RELU_NORMALIZED_MEAN - 1.0 / (2.0 * pi).sqrt()).abs() <= 1e-16);
    assert!((RELU_NORMALIZED_STD - (0.5 - 1.0 / (2.0 * pi)).sqrt()).abs() <= 1e-16);
    assert!((TANH_NORMALIZED_DIVISOR.powi(2) - 0.394294490397841).abs() <= 1e-15);
    // The spec's E[tanh(g)^2], and the relu moments, by quadrature.
    let e_tanh2 = gaussian_expectation(|x| x.tanh().powi(2));
    assert!(
        (e_tanh2 - 0.394294490397841).abs() <= 1e-14,
        "E[tanh(g)^2] = {e_tanh2}"
    );
    assert!((gaussian_expectation(|x| x.max(0.0)) - RELU_NORMALIZED_MEAN).abs() <= 1e-12);
    assert!((gaussian_expectation(|x| x.max(0.0).powi(2)) - 0.5).abs() <= 1e-12);
    for act in [Activation::ReluNormalized, Activation::TanhNormalized] {
        let mean = gaussian_expectation(|x| act.eval(x));
        let second = gaussian_expectation(|x| act.eval(x).powi(2));
        assert!(
            mean.abs() <= 1e-12 && (second - 1.0).abs() <= 1e-12,
            "{act}: E = {mean}, E[phi^2] = {second}"
        );
    }
}

#[test]
fn normalised_activations_have_zero_mean_and_unit_second_moment_on_gaussian_samples() {
    let mut rng = common::rng("normalised activation moments");
    let n = 100_000;
    let g: Vec<f64> = (0..n).map(|_| rng.sample(StandardNormal)).collect();
    for act in [Activation::ReluNormalized, Activation::TanhNormalized] {
        let phi: Vec<f64> = g.iter().map(|&x| act.eval(x)).collect();
        let mean = phi.iter().sum::<f64>() / n as f64;
        let second = phi.iter().map(|p| p * p).sum::<f64>() / n as f64;
        // Standard errors from the sample: sqrt(Var(phi) / n), sqrt(Var(phi^2) / n); a
        // 6-sigma band fails by chance about once in 500 million, so the four bands of a
        // run about once in 100 million (5 sigma was once in 400,000 runs).
        let var_phi = second - mean * mean;
        let fourth = phi.iter().map(|p| p.powi(4)).sum::<f64>() / n as f64;
        let var_phi2 = fourth - second * second;
        let (tol_mean, tol_second) = (
            6.0 * (var_phi / n as f64).sqrt(),
            6.0 * (var_phi2 / n as f64).sqrt(),
        );
        eprintln!("{act}: mean {mean:.5} (tol {tol_mean:.4}), second moment {second:.5} (tol {tol_second:.4})");
        assert!(
            mean.abs() <= tol_mean,
            "{act}: mean {mean} over {n} samples, tolerance {tol_mean}"
        );
        assert!(
            (second - 1.0).abs() <= tol_second,
            "{act}: second moment {second} over {n} samples, tolerance {tol_second}"
        );
    }
}

#[test]
fn init_gains_are_he_for_raw_relu_only() {
    for act in Activation::ALL {
        let want = if act == Activation::Relu { 2.0 } else { 1.0 };
        assert_eq!(act.init_gain(), want, "{act}");
    }
}

#[test]
fn names_round_trip_through_from_str_and_serde() {
    for act in Activation::ALL {
        assert_eq!(act.name().parse::<Activation>().unwrap(), act);
        let json = serde_json::to_string(&act).unwrap();
        assert_eq!(json, format!("\"{}\"", act.name()));
        assert_eq!(serde_json::from_str::<Activation>(&json).unwrap(), act);
    }
    let err = "gelu".parse::<Activation>().unwrap_err().to_string();
    for act in Activation::ALL {
        assert!(err.contains(act.name()) && err.contains("gelu"), "{err}");
    }
}

#[test]
fn mismatched_shapes_are_errors_naming_the_shapes() {
    let op = ActivationOp::new(common::gpu()).unwrap();
    let z = common::zeros::<f32>(&[3, 4]);
    let a = common::zeros::<f32>(&[4, 3]);
    let d_a = common::zeros::<f32>(&[12]);
    let d_z = common::zeros::<f32>(&[3, 4]);
    let mut batch = Batch::new(common::gpu());
    let forward = op.forward(&mut batch, Activation::Tanh, &z, &a);
    common::assert_error_names(forward, &["[3, 4]", "[4, 3]"]);
    let backward = op.backward(&mut batch, Activation::Relu, &z, &d_a, &d_z);
    common::assert_error_names(backward, &["[3, 4]", "[12]"]);
    // One tensor as input and output would be a wgpu validation error: refused up front.
    let in_place = op.forward(&mut batch, Activation::Relu, &z, &z);
    common::assert_error_names(in_place, &["same tensor"]);
}

/// The f64 instantiation (its exp and tanh are the f64 prelude's own, not builtins)
/// against the f64 reference near 1e-14 relative, on fresh f64 inputs in [-4, 4) and on
/// special values up to 1e30.
#[test]
fn f64_forward_and_backward_match_reference() {
    if common::skip_without_f64() {
        return;
    }
    let gpu = common::gpu();
    let op = ActivationOp::<f64>::new(gpu).unwrap();
    let special = [
        0.0, -0.0, 1e-30, -1e-30, 1e-9, 0.5, -0.5, 0.25, 9.5, -9.5, 20.0, -21.0, 44.5, 1e30, -1e30,
    ];
    for act in Activation::ALL {
        for len in [1, 7, 33, 130] {
            let what = format!("activation f64 {act} [{len}]");
            let mut rng = common::rng(&what);
            let mut z: Vec<f64> = common::random_real::<f64>(&mut rng, len)
                .into_iter()
                .map(|v| 4.0 * v)
                .collect();
            if len == 130 {
                z[..special.len()].copy_from_slice(&special);
            }
            let d_a: Vec<f64> = common::random_real(&mut rng, len);
            let (f_atol, f_rtol, b_atol, b_rtol) = match act {
                Activation::Relu => (0.0, 0.0, 0.0, 0.0),
                Activation::ReluNormalized => (1e-16, 1e-15, 0.0, 1e-15),
                // The reference's 1 - tanh^2 is good to ~2e-16 absolute only.
                Activation::Tanh | Activation::TanhNormalized => (1e-16, 1e-14, 1e-15, 1e-13),
            };
            let shape = [len];
            let want = reference_forward(act, &z);
            let got = gpu_forward(&op, act, &shape, &z);
            common::assert_close_real(
                &format!("{what} forward"),
                &got,
                &want,
                1e-14,
                f_atol,
                f_rtol,
            );
            let want = reference_backward(act, &z, &d_a);
            let got = gpu_backward(&op, act, &shape, &z, &d_a);
            common::assert_close_real(
                &format!("{what} backward"),
                &got,
                &want,
                1e-13,
                b_atol,
                b_rtol,
            );
        }
    }
}
