//! The host band → tridiagonal reduction (engine/linalg/band.rs) against faer's dense
//! f64 eigensolver on the same symmetric band matrix: every eigenvalue of the
//! tridiagonal (by `tridiag_eigen`) within a few max(n, 8) u ‖A‖_F of faer's, at awkward orders
//! and widths (b = 0, 1, b >= n - 1), on random, clustered, rank-deficient and indefinite
//! inputs; the invariants of an orthogonal similarity; errors; non-finite input.

use rand::Rng;
use wideprobe::linalg::band::band_to_tridiagonal;
use wideprobe::linalg::tridiag::tridiag_eigen;

use crate::common;
use crate::spectral::reference_eigenvalues;

const ORDERS: [usize; 7] = [1, 2, 3, 7, 33, 130, 257];
const WIDTHS: [usize; 8] = [0, 1, 2, 3, 8, 31, 32, 64];

/// The symmetric matrix of lower band storage (band[j * (b + 1) + k] = A[j + k][j]),
/// dense and row-major; entries past row n - 1 are ignored, as the reduction does.
fn dense_from_band(band: &[f64], n: usize, b: usize) -> Vec<f64> {
    let mut a = vec![0.0; n * n];
    for (j, col) in band.chunks_exact(b + 1).enumerate() {
        for (k, &x) in col.iter().enumerate().take(n - j) {
            a[(j + k) * n + j] = x;
            a[j * n + j + k] = x;
        }
    }
    a
}

/// Diagonal k (0 or 1) of the band, as the tridiagonal's d or e would hold it.
fn band_diagonal(band: &[f64], n: usize, b: usize, k: usize) -> Vec<f64> {
    let entries = band.iter().skip(k).step_by(b + 1).take(n - k);
    entries.copied().collect()
}

fn random_band(rng: &mut impl Rng, n: usize, b: usize) -> Vec<f64> {
    (0..n * (b + 1))
        .map(|_| rng.random_range(-1.0..1.0))
        .collect()
}

/// The test inputs: random; clustered (block diagonal of identical band blocks of order
/// 2b + 1, so every eigenvalue of a block repeats n / (2b + 1) times; b = 0 is a multiple
/// of the identity); rank-deficient (every third row and column zero); indefinite
/// (diagonal of both signs, |A_ii| in [1, 3], weaker off-diagonal).
fn inputs(rng: &mut impl Rng, n: usize, b: usize) -> Vec<(&'static str, Vec<f64>)> {
    let stride = b + 1;
    let block = 2 * b + 1;
    let first = random_band(rng, block, b);
    let mut clustered = vec![0.0; n * stride];
    for (j, col) in clustered.chunks_exact_mut(stride).enumerate() {
        // Entries that would couple two blocks stay 0.
        let inside = (block - j % block).min(stride);
        col[..inside].copy_from_slice(&first[(j % block) * stride..][..inside]);
    }
    let mut deficient = random_band(rng, n, b);
    for (j, col) in deficient.chunks_exact_mut(stride).enumerate() {
        for (k, x) in col.iter_mut().enumerate() {
            if j % 3 == 0 || (j + k) % 3 == 0 {
                *x = 0.0;
            }
        }
    }
    let mut indefinite = random_band(rng, n, b);
    for (j, col) in indefinite.chunks_exact_mut(stride).enumerate() {
        let sign = if j % 2 == 0 { 1.0 } else { -1.0 };
        col[0] = sign * rng.random_range(1.0..3.0);
        col[1..].iter_mut().for_each(|x| *x *= 0.3);
    }
    vec![
        ("random", random_band(rng, n, b)),
        ("clustered", clustered),
        ("rank-deficient", deficient),
        ("indefinite", indefinite),
    ]
}

fn frobenius(a: &[f64]) -> f64 {
    a.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Eigenvalues of the reduction's tridiagonal against faer's of the dense matrix; returns
/// the largest error relative to max(n, 8) u ‖A‖_F (must be at most 4). The floor of 8:
/// at n = 3 a few ulps from either eigensolver alone already reach 3 n u ‖A‖_F.
fn check_eigenvalues(what: &str, band: &[f64], n: usize, b: usize) -> f64 {
    let a = dense_from_band(band, n, b);
    let (d, e) = band_to_tridiagonal(band, n, b).unwrap();
    assert_eq!((d.len(), e.len()), (n, n - 1), "{what}: lengths");
    let got = tridiag_eigen(&d, &e, false).unwrap().values;
    let want = reference_eigenvalues(&a, n);
    let unit = n.max(8) as f64 * f64::EPSILON / 2.0 * frobenius(&a);
    let worst = got
        .iter()
        .zip(&want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0f64, f64::max);
    let ratio = if unit > 0.0 { worst / unit } else { worst };
    assert!(
        ratio <= 4.0,
        "{what}: eigenvalue error {worst:e} is {ratio:.1} max(n, 8) u ‖A‖_F (limit 4); got {:?}, faer {:?}",
        &got[..n.min(6)],
        &want[..n.min(6)]
    );
    ratio
}

#[test]
fn eigenvalues_match_faer_at_every_order_and_width() {
    let mut rng = common::rng("band eigenvalues");
    let mut worst = 0.0f64;
    for n in ORDERS {
        for b in WIDTHS {
            for (kind, band) in inputs(&mut rng, n, b) {
                let what = format!("band n={n} b={b} {kind}");
                worst = worst.max(check_eigenvalues(&what, &band, n, b));
            }
        }
    }
    eprintln!("band eigenvalues: worst error {worst:.2} max(n, 8) u ‖A‖_F");
}

/// n >= 3b: each sweep's bulge is chased through at least two more blocks, and the
/// band is far from tridiagonal (the eigenvalues of its own diagonal and first
/// sub-diagonal are far from faer's), so stopping after the first reflector of a
/// sweep, or dropping the fill, would fail the comparison.
#[test]
fn bulge_is_chased_down_the_band() {
    let mut rng = common::rng("band bulge chasing");
    for (n, b) in [(9, 3), (16, 4), (40, 8), (50, 16), (200, 16), (100, 32)] {
        let band = random_band(&mut rng, n, b);
        let what = format!("band bulge n={n} b={b}");
        check_eigenvalues(&what, &band, n, b);
        let (d, e) = (band_diagonal(&band, n, b, 0), band_diagonal(&band, n, b, 1));
        let truncated = tridiag_eigen(&d, &e, false).unwrap().values;
        let want = reference_eigenvalues(&dense_from_band(&band, n, b), n);
        let gap = truncated
            .iter()
            .zip(&want)
            .map(|(t, w)| (t - w).abs())
            .fold(0.0f64, f64::max);
        assert!(gap > 0.1, "{what}: input nearly tridiagonal ({gap:e})");
    }
}

#[test]
fn trace_and_frobenius_norm_are_preserved() {
    let mut rng = common::rng("band invariants");
    for (n, b) in [(5, 2), (64, 7), (257, 31), (300, 64), (130, 200)] {
        let band = random_band(&mut rng, n, b);
        let a = dense_from_band(&band, n, b);
        let (d, e) = band_to_tridiagonal(&band, n, b).unwrap();
        let trace: f64 = (0..n).map(|i| a[i * n + i]).sum();
        let fro2 = frobenius(&a).powi(2);
        let got_fro2 =
            d.iter().map(|x| x * x).sum::<f64>() + 2.0 * e.iter().map(|x| x * x).sum::<f64>();
        let unit = n as f64 * f64::EPSILON;
        let what = format!("band invariants n={n} b={b}");
        let trace_err = (d.iter().sum::<f64>() - trace).abs() / fro2.sqrt();
        let fro_err = (got_fro2 - fro2).abs() / fro2;
        assert!(
            trace_err <= 4.0 * unit,
            "{what}: trace off by {trace_err:e} ‖A‖_F"
        );
        assert!(
            fro_err <= 4.0 * unit,
            "{what}: ‖A‖_F² off by {fro_err:e} of it"
        );
        eprintln!("{what}: trace {trace_err:.1e}, norm² {fro_err:.1e} (relative)");
    }
}

/// b = 0 and b = 1 (or n <= 2) are already reduced: copied exactly, e = 0 for b = 0.
#[test]
fn diagonal_and_tridiagonal_bands_are_copied() {
    let mut rng = common::rng("band copies");
    for n in [1, 2, 3, 10] {
        let band = random_band(&mut rng, n, 0);
        assert_eq!(
            band_to_tridiagonal(&band, n, 0).unwrap(),
            (band.clone(), vec![0.0; n - 1])
        );
        let band = random_band(&mut rng, n, 1);
        let (d, e) = (band_diagonal(&band, n, 1, 0), band_diagonal(&band, n, 1, 1));
        assert_eq!(band_to_tridiagonal(&band, n, 1).unwrap(), (d, e));
    }
}

/// Scaling by a power of two scales the result exactly, far into the range where
/// squares overflow or underflow: the reduction works on the input scaled to about 1.
#[test]
fn extreme_magnitudes_scale_exactly() {
    let mut rng = common::rng("band magnitudes");
    let (n, b) = (60, 9);
    let band = random_band(&mut rng, n, b);
    let (d, e) = band_to_tridiagonal(&band, n, b).unwrap();
    for exponent in [-900, -600, 600, 900] {
        let s = 2.0f64.powi(exponent);
        let scaled: Vec<f64> = band.iter().map(|x| x * s).collect();
        let (ds, es) = band_to_tridiagonal(&scaled, n, b).unwrap();
        let back = |v: &[f64]| v.iter().map(|x| x / s).collect::<Vec<_>>();
        assert_eq!(
            (back(&ds), back(&es)),
            (d.clone(), e.clone()),
            "scaled by 2^{exponent}"
        );
    }
}

#[test]
fn wrong_length_and_empty_order_are_errors() {
    common::assert_error_names(band_to_tridiagonal(&[], 0, 3), &["order n", "n = 0"]);
    common::assert_error_names(
        band_to_tridiagonal(&[1.0; 11], 4, 2),
        &["n = 4", "b = 2", "n * (b + 1) = 12", "band.len() = 11"],
    );
    common::assert_error_names(
        band_to_tridiagonal(&[1.0; 5], 5, 1),
        &["= 10", "band.len() = 5"],
    );
    common::assert_error_names(band_to_tridiagonal(&[1.0], 2, usize::MAX), &["overflows"]);
}

/// NaN or infinity in the band comes out in d or e (never a panic or a hang), and
/// tridiag_eigen then refuses it; entries past row n - 1 are never read.
#[test]
fn non_finite_input_comes_through() {
    let (n, b) = (20, 4);
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        for position in [0, 1, 3 * (b + 1) + 2, (n - b - 1) * (b + 1) + b] {
            let mut band = vec![0.5; n * (b + 1)];
            band[position] = bad;
            let (d, e) = band_to_tridiagonal(&band, n, b).unwrap();
            assert!(
                d.iter().chain(&e).any(|x| !x.is_finite()),
                "{bad} at {position}: all finite"
            );
            assert!(tridiag_eigen(&d, &e, false).is_err(), "{bad} at {position}");
        }
    }
    // The last column's entries below row n - 1 are padding.
    let mut band = vec![0.5; n * (b + 1)];
    band[(n - 1) * (b + 1) + 1..].fill(f64::NAN);
    let (d, e) = band_to_tridiagonal(&band, n, b).unwrap();
    assert!(d.iter().chain(&e).all(|x| x.is_finite()));
}
