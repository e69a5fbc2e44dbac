use rand::Rng;
use wideprobe::gpu::Tensor;
use wideprobe::ops::symstats::{proxies_from_row_stats, GershgorinProxies, SymStats};

use crate::common;

/// f64 reference of the Gershgorin proxies of a symmetric matrix.
fn reference(a: &[f64], n: usize) -> GershgorinProxies {
    let mut stats = Vec::with_capacity(4 * n);
    for i in 0..n {
        let row = &a[i * n..(i + 1) * n];
        let off = row
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, v)| v.abs());
        stats.extend([row[i], off.clone().sum(), off.fold(0.0, f64::max), 0.0]);
    }
    proxies_from_row_stats(&stats)
}

fn random_symmetric(rng: &mut impl Rng, n: usize) -> Vec<f64> {
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            // A unit-ish diagonal and small off-diagonals, like a normalised Gram matrix.
            let v: f64 = if i == j {
                rng.random_range(0.5..1.5)
            } else {
                rng.random_range(-0.1..0.1)
            };
            let v = v as f32 as f64; // exactly representable in both precisions
            a[i * n + j] = v;
            a[j * n + i] = v;
        }
    }
    a
}

fn check<T: wideprobe::ops::Real>(n: usize, from: fn(f64) -> T, tol: f64) {
    let gpu = common::gpu();
    let mut rng = common::rng(&format!("symstats {} n={n}", T::NAME));
    let a = random_symmetric(&mut rng, n);
    let want = reference(&a, n);
    let t = Tensor::from_slice(
        gpu,
        &[n, n],
        &a.iter().map(|&x| from(x)).collect::<Vec<T>>(),
    )
    .unwrap();
    let ops = SymStats::<T>::new(gpu).unwrap();
    let got = ops.gershgorin(gpu, &t).unwrap();
    let pairs = [
        ("min_diag", got.min_diag, want.min_diag),
        (
            "max_offdiag_rowsum",
            got.max_offdiag_rowsum,
            want.max_offdiag_rowsum,
        ),
        ("max_abs_offdiag", got.max_abs_offdiag, want.max_abs_offdiag),
        (
            "gershgorin_lower",
            got.gershgorin_lower,
            want.gershgorin_lower,
        ),
        (
            "gershgorin_upper",
            got.gershgorin_upper,
            want.gershgorin_upper,
        ),
    ];
    for (name, g, w) in pairs {
        // Sums of n terms below 0.1: rounding of order sqrt(n) u.
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{} n={n} {name}: got {g} want {w}",
            T::NAME
        );
    }

    let b = random_symmetric(&mut rng, n);
    let tb = Tensor::from_slice(
        gpu,
        &[n, n],
        &b.iter().map(|&x| from(x)).collect::<Vec<T>>(),
    )
    .unwrap();
    let want_fro = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt();
    let got_fro = ops.frobenius_distance(gpu, &t, &tb).unwrap();
    assert!(
        (got_fro - want_fro).abs() <= tol * want_fro.max(1e-30),
        "{} n={n} frobenius: got {got_fro} want {want_fro}",
        T::NAME
    );
}

#[test]
fn gershgorin_and_frobenius_f32_ragged_sizes() {
    for n in [1, 7, 33, 130, 257, 300] {
        check::<f32>(n, |x| x as f32, 1e-5);
    }
}

#[test]
fn gershgorin_and_frobenius_f64_ragged_sizes() {
    if common::skip_without_f64() {
        return;
    }
    for n in [1, 7, 33, 130, 257, 300] {
        check::<f64>(n, |x| x, 1e-13);
    }
}

#[test]
fn row_stats_write_every_row_over_poison() {
    let gpu = common::gpu();
    let n = 33;
    let a = Tensor::from_slice(gpu, &[n, n], &vec![0.25f32; n * n]).unwrap();
    let stats = Tensor::<f32>::zeros(gpu, &[n, 4]).unwrap();
    stats.poison(gpu).unwrap();
    let ops = SymStats::<f32>::new(gpu).unwrap();
    common::launch(|b| ops.record_row_stats(b, &a, &stats));
    let s = stats.to_vec(gpu).unwrap();
    for row in s.chunks(4) {
        assert_eq!(row, [0.25, 0.25 * (n - 1) as f32, 0.25, 0.0]);
    }
}

#[test]
fn non_square_input_is_an_error_naming_the_shape() {
    let gpu = common::gpu();
    let a = Tensor::<f32>::zeros(gpu, &[3, 4]).unwrap();
    let err = SymStats::<f32>::new(gpu)
        .unwrap()
        .gershgorin(gpu, &a)
        .unwrap_err()
        .to_string();
    assert!(err.contains("[3, 4]"), "{err}");
}
