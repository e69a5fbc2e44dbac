//! The spectral engine against faer's dense f64 eigensolver (an independent reference),
//! on matrices Q diag(λ) Qᵀ with prescribed spectra, applied to the same stored matrix
//! (MEASUREMENTS.md §7): f32 λ_max relative error <= 1e-5 and |λ_min error| <= 1e-5 λ_max;
//! f64 the same with 1e-12. Every converged estimate must lie within its own bound.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use wideprobe::gpu::Tensor;
use wideprobe::linalg::bidiag::DenseFactor;
use wideprobe::linalg::power::PowerOptions;
use wideprobe::linalg::{
    golub_kahan, lanczos, power_iteration, DenseMatrix, LanczosOptions, Precision, Real,
    SpectrumResult,
};

use crate::common;

/// A random orthogonal n x m matrix (orthonormal columns, m <= n), row-major, by
/// Gram-Schmidt applied twice to a Gaussian matrix.
pub(crate) fn orthonormal_columns(rng: &mut impl Rng, n: usize, m: usize) -> Vec<f64> {
    let mut cols: Vec<Vec<f64>> = Vec::with_capacity(m);
    while cols.len() < m {
        let mut v: Vec<f64> = (0..n).map(|_| StandardNormal.sample(rng)).collect();
        for _ in 0..2 {
            for c in &cols {
                let d: f64 = c.iter().zip(&v).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(c).for_each(|(x, y)| *x -= d * y);
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 1e-8 {
            cols.push(v.into_iter().map(|x| x / norm).collect());
        }
    }
    let mut q = vec![0.0; n * m];
    for (j, c) in cols.iter().enumerate() {
        for i in 0..n {
            q[i * m + j] = c[i];
        }
    }
    q
}

/// Q diag(λ) Qᵀ, exactly symmetric.
pub(crate) fn with_spectrum(rng: &mut impl Rng, lambdas: &[f64]) -> Vec<f64> {
    let n = lambdas.len();
    let q = orthonormal_columns(rng, n, n);
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..n)
                .map(|p| q[i * n + p] * lambdas[p] * q[j * n + p])
                .sum();
            a[i * n + j] = s;
            a[j * n + i] = s;
        }
    }
    a
}

/// faer's eigenvalues of a symmetric matrix, ascending.
pub(crate) fn reference_eigenvalues(a: &[f64], n: usize) -> Vec<f64> {
    let m = faer::Mat::<f64>::from_fn(n, n, |i, j| a[i * n + j]);
    let mut ev = m
        .self_adjoint_eigenvalues(faer::Side::Lower)
        .expect("faer eigenvalues");
    ev.sort_by(|x, y| x.total_cmp(y));
    ev
}

/// The matrix as the device stores it, back in f64 (what the reference must see).
pub(crate) fn stored<T: Real>(a: &[f64]) -> Vec<f64> {
    a.iter().map(|&x| T::from_f64(x).to_f64()).collect()
}

struct Case {
    name: String,
    lambdas: Vec<f64>,
}

pub(crate) fn geometric(n: usize, kappa: f64) -> Vec<f64> {
    (0..n)
        .map(|i| {
            if n == 1 {
                1.0
            } else {
                kappa.powf(-(i as f64) / (n - 1) as f64)
            }
        })
        .collect()
}

fn cases(rng: &mut impl Rng) -> Vec<Case> {
    let mut out = Vec::new();
    for n in [1usize, 2, 17, 100, 260] {
        for kappa in [1.0, 1e2, 1e4, 1e6] {
            out.push(Case {
                name: format!("n={n} geometric kappa={kappa:e}"),
                lambdas: geometric(n, kappa),
            });
        }
    }
    // Clustered bottom: the hard case for λ_min.
    let mut clustered: Vec<f64> = (0..100).map(|_| 1.0 + rng.random_range(0.0..1.0)).collect();
    clustered[..20]
        .iter_mut()
        .enumerate()
        .for_each(|(i, x)| *x = 1e-3 * (1.0 + 1e-3 * i as f64));
    // Repeated eigenvalues (multiplicities 30, 40, 30).
    let repeated: Vec<f64> = (0..100)
        .map(|i| {
            if i < 30 {
                0.01
            } else if i < 70 {
                0.5
            } else {
                2.0
            }
        })
        .collect();
    // Rank-deficient PSD: 10 exact zeros.
    let deficient: Vec<f64> = (0..70)
        .map(|i| {
            if i < 10 {
                0.0
            } else {
                rng.random_range(0.1..3.0)
            }
        })
        .collect();
    out.extend(
        [
            ("n=100 clustered bottom", clustered),
            ("n=100 repeated", repeated),
            ("n=70 rank-deficient", deficient),
        ]
        .map(|(name, lambdas)| Case {
            name: name.into(),
            lambdas,
        }),
    );
    out
}

/// Checks the §7 targets and that each converged estimate is within its bound.
fn check_against_reference(what: &str, r: &SpectrumResult, reference: &[f64], rel: f64) {
    let (lo, hi) = (reference[0], *reference.last().unwrap());
    let scale = hi.abs().max(lo.abs()).max(f64::MIN_POSITIVE);
    let err_max = (r.lambda_max() - hi).abs();
    let err_min = (r.lambda_min() - lo).abs();
    eprintln!(
        "{what}: λ_max {:.6e} (err {:.1e}, bound {:.1e}), λ_min {:.6e} (err {:.1e}, bound {:.1e}), {} steps, {} restarts{}",
        r.lambda_max(),
        err_max,
        r.largest[0].bound,
        r.lambda_min(),
        err_min,
        r.smallest[0].bound,
        r.iterations,
        r.restarts,
        if r.converged { "" } else { ", NOT converged" }
    );
    assert!(r.converged, "{what}: did not converge ({:?})", r.notes);
    assert!(
        err_max <= rel * scale,
        "{what}: λ_max error {err_max:e} > {rel:e} x {scale:e}"
    );
    assert!(
        err_min <= rel * scale,
        "{what}: λ_min error {err_min:e} > {rel:e} x λ_max {scale:e}"
    );
    // Each extreme estimate lies within its bound of the true extreme eigenvalue.
    assert!(
        err_max <= r.largest[0].bound,
        "{what}: λ_max error {err_max:e} exceeds its bound {:e}",
        r.largest[0].bound
    );
    assert!(
        err_min <= r.smallest[0].bound,
        "{what}: λ_min error {err_min:e} exceeds its bound {:e}",
        r.smallest[0].bound
    );
}

/// `rel` is the accuracy target; the tolerances are the spec's defaults in f32, and
/// 1e-12 in f64 (the defaults, 1e-6 and 1e-4 relative, cannot promise 1e-12).
fn lanczos_meets_targets_on_prescribed_spectra<T: Real>(rel: f64) {
    let (gpu, ops, mut rng) = common::krylov_setup::<T>(&format!("lanczos {}", T::NAME));
    for case in cases(&mut rng) {
        let n = case.lambdas.len();
        let a = stored::<T>(&with_spectrum(&mut rng, &case.lambdas));
        let reference = reference_eigenvalues(&a, n);
        let op = DenseMatrix::<T>::from_host(gpu, n, &a).unwrap();
        let mut opts = LanczosOptions {
            seed: rng.random(),
            ..Default::default()
        };
        if rel < 1e-6 {
            (opts.tol_max, opts.tol_min) = (rel, rel);
        }
        let r = lanczos(gpu, ops.clone(), &op, &opts).unwrap();
        check_against_reference(
            &format!("lanczos {} {}", T::NAME, case.name),
            &r,
            &reference,
            rel,
        );
    }
}

precision_tests!(lanczos_meets_targets_on_prescribed_spectra, (1e-5), (1e-12));

/// Repeated eigenvalues make Lanczos break down (β at rounding level) once per distinct
/// value. For the extremes alone the first invariant subspace settles them: at most one
/// restart (to reach dimension 2), a couple of submissions. For several at each end the restarts
/// must find the multiplicity: the three smallest of a value repeated 20 times are that
/// value three times.
fn repeated_eigenvalues_stop_early_for_extremes_and_restart_for_several<T: Real>(rel: f64) {
    let (gpu, ops, mut rng) = common::krylov_setup::<T>(&format!("lanczos repeated {}", T::NAME));
    let n = 60;
    let scaled_identity = vec![2.0; n];
    let three_values: Vec<f64> = (0..n).map(|i| [0.5, 1.0, 3.0][3 * i / n]).collect();
    for (name, lambdas) in [("2 I", &scaled_identity), ("three values", &three_values)] {
        let a = stored::<T>(&with_spectrum(&mut rng, lambdas));
        let reference = reference_eigenvalues(&a, n);
        let op = DenseMatrix::<T>::from_host(gpu, n, &a).unwrap();
        let one = LanczosOptions {
            seed: rng.random(),
            ..Default::default()
        };
        let r = lanczos(gpu, ops.clone(), &op, &one).unwrap();
        let what = format!("lanczos {} {name}, k = 1", T::NAME);
        check_against_reference(&what, &r, &reference, rel);
        // In f32 the β left by three values is noise of about u sqrt(n) ||A||, which
        // times n (what it may hide) exceeds the f32 allowance: restarts settle it.
        let early = name == "2 I" || T::PRECISION == Precision::F64;
        assert!(
            !early || (r.restarts <= 1 && r.submissions <= 2),
            "{what}: {} restarts, {} submissions, {} steps",
            r.restarts,
            r.submissions,
            r.iterations
        );

        let several = LanczosOptions {
            k: 3,
            seed: rng.random(),
            ..Default::default()
        };
        let r = lanczos(gpu, ops.clone(), &op, &several).unwrap();
        let what = format!("lanczos {} {name}, k = 3", T::NAME);
        assert!(r.converged, "{what}: {:?}", r.notes);
        assert!(r.restarts >= 2, "{what}: {} restarts", r.restarts);
        let ends = [
            (&r.smallest, &reference[..3]),
            (&r.largest, &reference[n - 3..]),
        ];
        for (estimates, want) in ends {
            let mut got: Vec<f64> = estimates.iter().map(|e| e.value).collect();
            got.sort_by(f64::total_cmp);
            for (e, (g, w)) in estimates.iter().zip(got.iter().zip(want)) {
                assert!(
                    (g - w).abs() <= e.bound.max(rel * reference[n - 1]),
                    "{what}: {got:?} against {want:?}"
                );
            }
        }
    }
}

precision_tests!(
    repeated_eigenvalues_stop_early_for_extremes_and_restart_for_several,
    (1e-5),
    (1e-12)
);

fn full_krylov_dimension_gives_the_whole_spectrum<T: Real>(rel: f64) {
    let (gpu, ops, mut rng) = common::krylov_setup::<T>(&format!("full spectrum {}", T::NAME));
    for n in [1usize, 2, 17, 100, 200] {
        let lambdas: Vec<f64> = (0..n).map(|_| rng.random_range(0.0..1.0)).collect();
        let a = stored::<T>(&with_spectrum(&mut rng, &lambdas));
        let reference = reference_eigenvalues(&a, n);
        let op = DenseMatrix::<T>::from_host(gpu, n, &a).unwrap();
        let opts = LanczosOptions {
            full: true,
            seed: rng.random(),
            ..Default::default()
        };
        let r = lanczos(gpu, ops.clone(), &op, &opts).unwrap();
        let full = r
            .full_spectrum
            .as_ref()
            .expect("full spectrum at the full Krylov dimension");
        assert_eq!(full.len(), n);
        let scale = reference.last().unwrap().abs().max(1e-300);
        let worst = full
            .iter()
            .zip(&reference)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        eprintln!(
            "full spectrum {} n={n}: max error {worst:.1e} (relative to λ_max {scale:.3e})",
            T::NAME
        );
        assert!(
            worst <= rel * scale,
            "full spectrum {} n={n}: max error {worst:e}",
            T::NAME
        );
    }
}

precision_tests!(
    full_krylov_dimension_gives_the_whole_spectrum,
    (1e-5),
    (1e-12)
);

#[test]
fn power_iteration_agrees_with_lanczos_on_lambda_max() {
    let (gpu, ops, mut rng) = common::krylov_setup::<f32>("power vs lanczos");
    for n in [1usize, 17, 100] {
        // A gap at the top so that power iteration converges in a few hundred steps.
        let mut lambdas = geometric(n, 1e3);
        lambdas[0] = 2.0;
        let a = stored::<f32>(&with_spectrum(&mut rng, &lambdas));
        let op = DenseMatrix::<f32>::from_host(gpu, n, &a).unwrap();
        let l = lanczos(gpu, ops.clone(), &op, &LanczosOptions::default()).unwrap();
        let p = power_iteration(
            gpu,
            ops.clone(),
            &op,
            &PowerOptions {
                seed: 3,
                ..Default::default()
            },
        )
        .unwrap();
        let rel = (p.lambda_max() - l.lambda_max()).abs() / l.lambda_max();
        eprintln!(
            "n={n}: power λ_max {:.7e}, lanczos {:.7e}, rel diff {rel:.1e}",
            p.lambda_max(),
            l.lambda_max()
        );
        assert!(
            p.largest[0].converged,
            "power iteration did not converge for n={n}"
        );
        assert!(
            rel <= 1e-5,
            "n={n}: power {} vs lanczos {}",
            p.lambda_max(),
            l.lambda_max()
        );
        assert!(
            p.lambda_min() >= l.lambda_min() - p.smallest[0].bound - l.smallest[0].bound - 1e-6
        );
    }
}

/// F = U diag(σ) Vᵀ, n x d with n <= d, orthonormal U (n x n) and V (d x n).
fn factor_with_singular_values(rng: &mut impl Rng, sigmas: &[f64], d: usize) -> Vec<f64> {
    let n = sigmas.len();
    let u = orthonormal_columns(rng, n, n);
    let v = orthonormal_columns(rng, d, n);
    let mut f = vec![0.0; n * d];
    for i in 0..n {
        for j in 0..d {
            f[i * d + j] = (0..n)
                .map(|p| u[i * n + p] * sigmas[p] * v[j * n + p])
                .sum();
        }
    }
    f
}

#[test]
fn golub_kahan_f32_resolves_lambda_min_at_kappa_1e8() {
    let (gpu, ops, mut rng) = common::krylov_setup::<f32>("golub-kahan f32");
    for (n, d, kappa) in [
        (1usize, 7usize, 1.0f64),
        (17, 33, 1e4),
        (60, 130, 1e6),
        (100, 130, 1e8),
    ] {
        let sigmas: Vec<f64> = geometric(n, kappa.sqrt());
        let f = stored::<f32>(&factor_with_singular_values(&mut rng, &sigmas, d));
        // Reference: squared singular values of the stored factor, by faer in f64.
        let fm = faer::Mat::<f64>::from_fn(n, d, |i, j| f[i * d + j]);
        let mut reference: Vec<f64> = fm
            .singular_values()
            .expect("faer svd")
            .iter()
            .map(|s| s * s)
            .collect();
        reference.sort_by(|x, y| x.total_cmp(y));
        let tensor = Tensor::from_slice(
            gpu,
            &[n, d],
            &f.iter().map(|&x| x as f32).collect::<Vec<_>>(),
        )
        .unwrap();
        let factor = DenseFactor::new(tensor, ops.clone()).unwrap();
        let r = golub_kahan(
            gpu,
            ops.clone(),
            &factor,
            &LanczosOptions {
                seed: rng.random(),
                ..Default::default()
            },
        )
        .unwrap();
        let (lo, hi) = (reference[0], *reference.last().unwrap());
        let rel_min = (r.lambda_min() - lo).abs() / lo;
        let rel_max = (r.lambda_max() - hi).abs() / hi;
        eprintln!(
            "golub-kahan f32 n={n} d={d} kappa={kappa:e}: λ_min rel err {rel_min:.1e} (bound {:.1e}), λ_max rel err {rel_max:.1e}, {} steps",
            r.smallest[0].bound / lo,
            r.iterations
        );
        // Working on F, σ_min carries an error of a few u·σ_max, so λ_min = σ_min² a
        // relative one of a few u·sqrt(κ) (u = 2⁻²⁴): 1.2e-3 at κ 1e8 for 2u, which a run
        // that stops one step early at a negligible β does reach. Forming G in f32 would
        // give u·κ, i.e. no digit at all at κ 1e8.
        let tol_min = 16.0 * <f32 as Real>::UNIT_ROUNDOFF * kappa.sqrt();
        assert!(
            rel_min <= tol_min,
            "λ_min {} vs {lo}: rel err {rel_min:.1e} over {tol_min:.1e}",
            r.lambda_min()
        );
        assert!(rel_max <= 1e-5, "λ_max {} vs {hi}", r.lambda_max());
        assert!(
            (r.lambda_min() - lo).abs() <= r.smallest[0].bound,
            "λ_min outside its bound"
        );
    }
}

#[test]
fn golub_kahan_agrees_with_lanczos_on_the_formed_gram_matrix() {
    if common::skip_without_f64() {
        return;
    }
    let (gpu, ops, mut rng) = common::krylov_setup::<f64>("golub-kahan vs lanczos f64");
    let (n, d) = (50, 80);
    let f: Vec<f64> = (0..n * d)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    let mut g = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            g[i * n + j] = (0..d).map(|p| f[i * d + p] * f[j * d + p]).sum();
        }
    }
    let factor =
        DenseFactor::new(Tensor::from_slice(gpu, &[n, d], &f).unwrap(), ops.clone()).unwrap();
    // Tolerances far below 1e-9: a run stopped by the default 1e-4 could be off by
    // about (1e-4 λ_min)² / gap, which for these matrices reaches 1e-9 λ_max.
    let tight = LanczosOptions {
        tol_min: 1e-13,
        tol_max: 1e-13,
        ..Default::default()
    };
    let gk = golub_kahan(gpu, ops.clone(), &factor, &tight).unwrap();
    let op = DenseMatrix::<f64>::from_host(gpu, n, &g).unwrap();
    let l = lanczos(gpu, ops.clone(), &op, &tight).unwrap();
    for (a, b) in [
        (gk.lambda_max(), l.lambda_max()),
        (gk.lambda_min(), l.lambda_min()),
    ] {
        assert!(
            (a - b).abs() <= 1e-9 * l.lambda_max(),
            "golub-kahan {a} vs lanczos {b}"
        );
    }
    // α and β stay on the device: one readback per block of 8 to 64 steps.
    assert!(
        gk.readbacks >= 1 && gk.readbacks <= 1 + gk.iterations / 8,
        "golub-kahan: {} readbacks for {} steps",
        gk.readbacks,
        gk.iterations
    );
    assert_eq!(gk.submissions, gk.readbacks);
}

#[test]
fn more_examples_than_width_gives_zero_lambda_min_by_golub_kahan() {
    // n > d: F Fᵀ is singular; the process finds the zero eigenvalue itself.
    let (gpu, ops, mut rng) = common::krylov_setup::<f32>("golub-kahan rank deficient");
    let (n, d) = (40, 7);
    let f: Vec<f32> = common::random_vec(&mut rng, n * d);
    let factor =
        DenseFactor::new(Tensor::from_slice(gpu, &[n, d], &f).unwrap(), ops.clone()).unwrap();
    let r = golub_kahan(gpu, ops, &factor, &LanczosOptions::default()).unwrap();
    assert!(
        r.lambda_min().abs() <= r.smallest[0].bound,
        "λ_min {} bound {}",
        r.lambda_min(),
        r.smallest[0].bound
    );
    assert_eq!(r.kappa(), f64::INFINITY.min(r.kappa()));
}
