//! The dense GPU eigensolver (Householder tridiagonalisation + host QL) against faer on
//! the same stored matrix: every eigenvalue, in f32 and f64, at awkward orders, on
//! clustered, repeated, rank-deficient, indefinite and kappa = 1e8 spectra; each
//! reported bound must contain faer's eigenvalue (sorted pairs, Weyl). Also the
//! counters of the blocked Krylov solvers and the method choice.

use std::sync::Arc;

use rand::Rng;
use wideprobe::gpu::{Batch, Tensor};
use wideprobe::linalg::dense::dense_bound;
use wideprobe::linalg::power::PowerOptions;
use wideprobe::linalg::{
    lanczos, power_iteration, spectrum_with_method, DenseEigensolver, DenseMatrix, DenseReduction,
    LanczosOptions, Precision, Real, SpectrumMethod, SpectrumResult,
};
use wideprobe::ops::tridiagonalize::{Reduction, Tridiagonalize};
use wideprobe::ops::vector::VectorOps;

use crate::common;
use crate::spectral::{geometric, reference_eigenvalues, stored, with_spectrum};

fn spectra(rng: &mut impl Rng, n: usize) -> Vec<(&'static str, Vec<f64>)> {
    let clustered: Vec<f64> = (0..n)
        .map(|i| {
            if i < n.div_ceil(5) {
                1e-3 * (1.0 + 1e-3 * i as f64)
            } else {
                1.0 + rng.random_range(0.0..1.0)
            }
        })
        .collect();
    let repeated: Vec<f64> = (0..n).map(|i| [0.01, 0.5, 2.0][3 * i / n]).collect();
    let deficient: Vec<f64> = (0..n)
        .map(|i| {
            if i < n.div_ceil(7) {
                0.0
            } else {
                rng.random_range(0.1..3.0)
            }
        })
        .collect();
    let indefinite: Vec<f64> = (0..n).map(|_| rng.random_range(-2.0..3.0)).collect();
    vec![
        ("clustered", clustered),
        ("repeated", repeated),
        ("rank-deficient", deficient),
        ("indefinite", indefinite),
        ("kappa=1e8", geometric(n, 1e8)),
    ]
}

/// Every eigenvalue within the reported bound of faer's (sorted pairs).
fn check_full(what: &str, values: &[f64], bound: f64, reference: &[f64]) -> f64 {
    assert_eq!(values.len(), reference.len(), "{what}: count");
    let worst = values
        .iter()
        .zip(reference)
        .map(|(v, r)| (v - r).abs())
        .fold(0.0f64, f64::max);
    let first_bad = values
        .iter()
        .zip(reference)
        .position(|(v, r)| (v - r).is_nan() || (v - r).abs() > bound);
    assert!(
        first_bad.is_none(),
        "{what}: eigenvalue {} is {} vs faer {}, outside the bound {bound:e} (max error {worst:e})",
        first_bad.unwrap(),
        values[first_bad.unwrap()],
        reference[first_bad.unwrap()]
    );
    worst / bound.max(f64::MIN_POSITIVE)
}

/// Every reduction: one stage (one workgroup per matrix, or each column spread over
/// workgroups) and two stages (full -> band on the GPU, band -> tridiagonal on the host).
const REDUCTIONS: [DenseReduction; 3] = DenseReduction::ALL;

/// The one-stage kernel's two ways to run.
const ONE_STAGE: [Reduction; 2] = [Reduction::Workgroup, Reduction::Wide];

/// One matrix reduced in a batch of its own, submitted, and its spectrum read.
fn solve_alone<T: Real>(
    solver: &DenseEigensolver<T>, matrix: &Tensor<T>, reduction: DenseReduction,
) -> SpectrumResult {
    let gpu = common::gpu();
    let mut batch = Batch::new(gpu);
    let pending = solver.record_with(&mut batch, matrix, reduction).unwrap();
    batch.submit().unwrap();
    solver.finish(gpu, pending, 1, 1).unwrap().remove(0)
}

fn dense_cases<T: Real>(orders: &[usize], reduction: DenseReduction) {
    let gpu = common::gpu();
    let solver = DenseEigensolver::<T>::new(gpu).unwrap();
    let mut rng = common::rng(&format!("dense {}", T::NAME));
    let mut worst_ratio = 0.0f64;
    for &n in orders {
        for (name, lambdas) in spectra(&mut rng, n) {
            let a = stored::<T>(&with_spectrum(&mut rng, &lambdas));
            let reference = reference_eigenvalues(&a, n);
            let converted: Vec<T> = a.iter().map(|&x| T::from_f64(x)).collect();
            let matrix = Tensor::from_slice(gpu, &[n, n], &converted).unwrap();
            let r = solve_alone(&solver, &matrix, reduction);
            let what = format!("dense {} n={n} {name} {reduction:?}", T::NAME);
            let values = r.full_spectrum.as_ref().expect("every eigenvalue");
            let bound = r.smallest[0].bound;
            let ratio = check_full(&what, values, bound, &reference);
            worst_ratio = worst_ratio.max(ratio);
            eprintln!("{what}: max error / bound {ratio:.2e}");
            assert_eq!((r.submissions, r.readbacks), (1, 1), "{what}: counters");
            assert_eq!(r.method, "dense");
            assert_eq!(r.lambda_min(), values[0]);
            assert_eq!(r.lambda_max(), values[n - 1]);
        }
    }
    eprintln!(
        "dense {} {reduction:?}: worst error / bound {worst_ratio:.2e}",
        T::NAME
    );
}

fn dense_contains_faer_eigenvalues_within_its_bound<T: Real>() {
    for reduction in REDUCTIONS {
        dense_cases::<T>(&[1, 2, 7, 33, 130, 257], reduction);
    }
}

precision_tests!(dense_contains_faer_eigenvalues_within_its_bound);

/// A matrix that is already tridiagonal has nothing to annihilate: every reduction must
/// leave it exactly as it is (H = I, as LAPACK's larfg), so the eigenvalues are bit for
/// bit those of the host's root-free QL on the input's own diagonals. n = 2 is always such a
/// matrix: reflecting its last column anyway once cost 8 u ||A||, past the bound.
fn tridiagonal_input_passes_through_exactly<T: Real>() {
    let gpu = common::gpu();
    let solver = DenseEigensolver::<T>::new(gpu).unwrap();
    let mut rng = common::rng(&format!("dense tridiagonal {}", T::NAME));
    for n in [2usize, 3, 7, 33, 130] {
        for reduction in REDUCTIONS {
            let d: Vec<f64> = (0..n)
                .map(|_| T::from_f64(rng.random_range(-2.0..2.0)).to_f64())
                .collect();
            let e: Vec<f64> = (0..n - 1)
                .map(|_| T::from_f64(rng.random_range(-2.0..2.0)).to_f64())
                .collect();
            let mut a = vec![T::from_f64(0.0); n * n];
            for i in 0..n {
                a[i * n + i] = T::from_f64(d[i]);
                if i + 1 < n {
                    a[(i + 1) * n + i] = T::from_f64(e[i]);
                    a[i * n + i + 1] = T::from_f64(e[i]);
                }
            }
            let matrix = Tensor::from_slice(gpu, &[n, n], &a).unwrap();
            let r = solve_alone(&solver, &matrix, reduction);
            let want = wideprobe::linalg::tridiag::tridiag_eigenvalues(&d, &e).unwrap();
            assert_eq!(
                r.full_spectrum.as_ref().unwrap(),
                &want,
                "{} n={n} {reduction:?}: a tridiagonal input was changed by its reduction",
                T::NAME
            );
        }
    }
}

precision_tests!(tridiagonal_input_passes_through_exactly);

/// Issue 11 asks for n = 1000 too: every spectrum kind, f64, about 30 s on lavapipe.
#[test]
fn dense_f64_at_order_1000() {
    if common::skip_without_f64() {
        return;
    }
    for reduction in [
        DenseReduction::OneStage(Reduction::Wide),
        DenseReduction::TwoStage,
    ] {
        dense_cases::<f64>(&[1000], reduction);
    }
}

/// The kernel itself, its output poisoned first: the tridiagonal it leaves has faer's
/// eigenvalues, and every slot of it is written.
#[test]
fn tridiagonalize_writes_every_slot_of_a_poisoned_output() {
    let gpu = common::gpu();
    let mut rng = common::rng("tridiagonalize poisoned");
    let reduce = Tridiagonalize::<f32>::new(gpu).unwrap();
    for (n, reduction) in [1usize, 7, 33, 130]
        .into_iter()
        .flat_map(|n| ONE_STAGE.map(|r| (n, r)))
    {
        let lambdas: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let a = stored::<f32>(&with_spectrum(&mut rng, &lambdas));
        let matrix = Tensor::from_slice(
            gpu,
            &[n, n],
            &a.iter().map(|&x| x as f32).collect::<Vec<_>>(),
        )
        .unwrap();
        let work = reduce.work(gpu, 1, n, reduction).unwrap();
        work.tri.poison(gpu).unwrap();
        common::launch(|b| reduce.record(b, &matrix, &work));
        let tri: Vec<f64> = work
            .tri
            .to_vec(gpu)
            .unwrap()
            .iter()
            .map(|&x| x as f64)
            .collect();
        assert!(
            tri.iter().all(|x| x.is_finite()),
            "n={n} {reduction:?}: unwritten slot in {tri:?}"
        );
        let (d, e) = tri.split_at(n);
        let values = wideprobe::linalg::tridiag::tridiag_eigenvalues(d, &e[..n - 1]).unwrap();
        let reference = reference_eigenvalues(&a, n);
        check_full(
            &format!("tridiagonalize n={n} {reduction:?}"),
            &values,
            dense_bound(f32::UNIT_ROUNDOFF, n, 1.0),
            &reference,
        );
    }
}

/// A stack of matrices reduced in one dispatch, and several reductions recorded into
/// one batch, give bit-identical spectra to one matrix at a time.
#[test]
fn batched_dense_spectra_are_bit_identical_to_unbatched() {
    for reduction in REDUCTIONS {
        batched_equals_unbatched(reduction, 33);
    }
    batched_equals_unbatched(DenseReduction::OneStage(Reduction::Wide), 130);
    batched_equals_unbatched(DenseReduction::TwoStage, 130);
}

fn batched_equals_unbatched(reduction: DenseReduction, n: usize) {
    let gpu = common::gpu();
    let mut rng = common::rng("dense batched");
    let solver = DenseEigensolver::<f32>::new(gpu).unwrap();
    let mats: Vec<Vec<f32>> = (0..3)
        .map(|_| {
            let lambdas: Vec<f64> = (0..n).map(|_| rng.random_range(0.0..2.0)).collect();
            with_spectrum(&mut rng, &lambdas)
                .iter()
                .map(|&x| x as f32)
                .collect()
        })
        .collect();
    let single: Vec<Vec<f64>> = mats
        .iter()
        .map(|m| {
            let t = Tensor::from_slice(gpu, &[n, n], m).unwrap();
            solve_alone(&solver, &t, reduction).full_spectrum.unwrap()
        })
        .collect();
    let stack = Tensor::from_slice(gpu, &[3, n, n], &mats.concat()).unwrap();
    let mut batch = Batch::new(gpu);
    let pending_stack = solver.record_with(&mut batch, &stack, reduction).unwrap();
    let separate: Vec<_> = mats
        .iter()
        .map(|m| Tensor::from_slice(gpu, &[n, n], m).unwrap())
        .collect();
    let pending: Vec<_> = separate
        .iter()
        .map(|t| solver.record_with(&mut batch, t, reduction).unwrap())
        .collect();
    batch.submit().unwrap();
    let stacked = solver.finish(gpu, pending_stack, 1, 1).unwrap();
    for (i, p) in pending.into_iter().enumerate() {
        let one = solver.finish(gpu, p, 1, 1).unwrap().remove(0);
        assert_eq!(
            one.full_spectrum.as_ref().unwrap(),
            &single[i],
            "{reduction:?} n={n}: matrix {i} in a shared batch"
        );
        assert_eq!(
            stacked[i].full_spectrum.as_ref().unwrap(),
            &single[i],
            "{reduction:?} n={n}: matrix {i} in a stack"
        );
    }
}

#[test]
fn dense_reports_non_finite_input_clearly() {
    let gpu = common::gpu();
    let solver = DenseEigensolver::<f32>::new(gpu).unwrap();
    for n in [7, 130] {
        let mut a = vec![0.0f32; n * n];
        a[3 * n + 2] = f32::NAN;
        let t = common::upload(&[n, n], &a);
        common::assert_error_names(solver.spectrum(gpu, &t, 1), &["non-finite"]);
    }
}

/// Blocked Krylov: one readback per block of 8, 16, 32, 64 steps, so at most
/// 1 + steps / 8 readbacks, plus one per restart.
#[test]
fn krylov_readbacks_stay_within_one_per_eight_steps() {
    let (gpu, ops, mut rng) = common::krylov_setup::<f32>("krylov counters");
    for n in [7usize, 33, 130] {
        let a = stored::<f32>(&with_spectrum(&mut rng, &geometric(n, 1e3)));
        let op = DenseMatrix::<f32>::from_host(gpu, n, &a).unwrap();
        for full in [false, true] {
            let opts = LanczosOptions {
                full,
                ..Default::default()
            };
            let r = lanczos(gpu, ops.clone(), &op, &opts).unwrap();
            eprintln!(
                "lanczos n={n} full={full}: {} steps, {} submissions, {} readbacks",
                r.iterations, r.submissions, r.readbacks
            );
            // A restart (the tridiagonal split: f32 rounding can make a tiny β look
            // like one on a few random matrices) cuts one block short: one more.
            assert!(
                r.readbacks >= 1 && r.readbacks <= 1 + r.restarts + r.iterations / 8,
                "n={n}: {} readbacks for {} steps and {} restarts",
                r.readbacks,
                r.iterations,
                r.restarts
            );
            assert_eq!(r.submissions, r.readbacks);
        }
        let p = power_iteration(gpu, ops.clone(), &op, &PowerOptions::default()).unwrap();
        eprintln!(
            "power n={n}: {} steps, {} readbacks",
            p.iterations, p.readbacks
        );
        assert!(
            p.readbacks <= 2 + p.iterations / 8,
            "power n={n}: {} readbacks for {} steps",
            p.readbacks,
            p.iterations
        );
    }
}

#[test]
fn lanczos_reports_non_finite_input_clearly() {
    let gpu = common::gpu();
    let ops = Arc::new(VectorOps::<f32>::new(gpu).unwrap());
    let mut a = vec![0.5f64; 100];
    a[11] = f64::INFINITY;
    let op = DenseMatrix::<f32>::from_host(gpu, 10, &a).unwrap();
    let err = lanczos(gpu, ops, &op, &LanczosOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("non-finite"), "{err}");
}

#[test]
fn spectrum_method_parses_resolves_and_runs() {
    let gpu = common::gpu();
    for m in SpectrumMethod::ALL {
        assert_eq!(m.name().parse::<SpectrumMethod>().unwrap(), m);
    }
    let err = "qr".parse::<SpectrumMethod>().unwrap_err().to_string();
    assert!(err.contains("auto, lanczos or dense"), "{err}");
    let opts = LanczosOptions::default();
    assert_eq!(
        SpectrumMethod::Auto.resolve(gpu, 33, 4, &opts).unwrap(),
        SpectrumMethod::Dense
    );
    // Above AUTO_DENSE_MAX_ORDER auto takes Lanczos even where the matrix would fit
    // (1-byte elements keep it under lavapipe's binding limit).
    let above = wideprobe::linalg::AUTO_DENSE_MAX_ORDER + 1;
    assert_eq!(
        SpectrumMethod::Auto.resolve(gpu, above, 1, &opts).unwrap(),
        SpectrumMethod::Lanczos
    );
    // Below it, dense where the matrix fits one binding, else Lanczos.
    let fits = 5000u64 * 5000 * 4 <= gpu.max_binding_bytes();
    assert_eq!(
        SpectrumMethod::Auto.resolve(gpu, 5000, 4, &opts).unwrap(),
        if fits {
            SpectrumMethod::Dense
        } else {
            SpectrumMethod::Lanczos
        }
    );
    let beyond_binding = ((gpu.max_binding_bytes() / 8) as f64).sqrt() as usize + 1;
    assert_eq!(
        SpectrumMethod::Auto
            .resolve(gpu, beyond_binding, 8, &opts)
            .unwrap(),
        SpectrumMethod::Lanczos
    );
    assert!(SpectrumMethod::Dense
        .resolve(gpu, 1 << 20, 8, &opts)
        .is_err());
    let mut rng = common::rng("method choice");
    let n = 20;
    let a = stored::<f32>(&with_spectrum(&mut rng, &geometric(n, 1e2)));
    let reference = reference_eigenvalues(&a, n);
    for (method, name) in [
        (SpectrumMethod::Auto, "dense"),
        (SpectrumMethod::Lanczos, "lanczos"),
        (SpectrumMethod::Dense, "dense"),
    ] {
        let r = spectrum_with_method(gpu, n, &a, Precision::F32, method, &opts).unwrap();
        assert_eq!(r.method, name);
        assert!((r.lambda_max() - reference[n - 1]).abs() <= r.largest[0].bound);
    }
}

/// The launches of one reduction cover columns 0 .. n-1 in order, without gaps, and
/// a large order is split (lavapipe leaves over-long launches unfinished).
#[test]
fn tridiagonalize_column_ranges_cover_every_column_once() {
    use wideprobe::ops::tridiagonalize::column_ranges;
    for n in [1usize, 2, 7, 130, 257, 1000] {
        let ranges = column_ranges(n);
        assert_eq!(ranges[0].0, 0, "n={n}");
        assert_eq!(ranges.last().unwrap().1, n - 1, "n={n}");
        assert!(
            ranges
                .windows(2)
                .all(|w| w[0].1 == w[1].0 && w[0].0 < w[0].1),
            "n={n}: {ranges:?}"
        );
    }
    assert!(column_ranges(257).len() > 1);
}
