//! The symmetric tridiagonal eigenproblem in f64: the host half of Lanczos and
//! Golub–Kahan.
//!
//! A Krylov run of m steps leaves a symmetric tridiagonal Tₘ (diagonal α, off-diagonal
//! β). Its eigenvalues θᵢ are the Ritz values, and the last component s_{m,i} of each
//! unit eigenvector gives the Ritz residual |βₘ s_{m,i}|. Full eigenvectors are only
//! needed to form Ritz vectors.
//!
//! This is the implicit QL algorithm with Wilkinson shifts (EISPACK `tql2`, Numerical
//! Recipes `tqli`), written as a small dependency-free routine rather than a binding
//! to LAPACK: m is at most a few thousand, QL with Wilkinson shifts converges
//! cubically (globally, for tridiagonals) and is backward stable, and it lets us
//! accumulate just the last row of the eigenvector matrix, which costs O(m²) instead
//! of the O(m³) of full vectors.

use anyhow::{bail, Result};

use crate::error::NonFinite;

/// Eigen-decomposition of a symmetric tridiagonal matrix of order m.
#[derive(Clone, Debug, PartialEq)]
pub struct TridiagEigen {
    /// Eigenvalues in ascending order.
    pub values: Vec<f64>,
    /// Last component of the unit eigenvector of each value (sign arbitrary).
    pub last_components: Vec<f64>,
    /// Column-major m × m matrix whose column i is the unit eigenvector of
    /// `values[i]`, when requested.
    pub vectors: Option<Vec<f64>>,
}

/// Eigenvalues of the symmetric tridiagonal matrix with diagonal `alpha` (length m)
/// and off-diagonal `beta` (length m - 1; `beta[j]` couples rows j and j + 1),
/// with the last component of every eigenvector and, if `want_vectors`, the full
/// eigenvectors.
pub fn tridiag_eigen(alpha: &[f64], beta: &[f64], want_vectors: bool) -> Result<TridiagEigen> {
    let m = alpha.len();
    let (mut diag, mut off, scale) = scaled_copy(alpha, beta)?;

    // Rows of the accumulated rotation matrix Z that we keep: only the last row
    // (which starts as eₘᵀ) unless full vectors are wanted.
    let rows = if want_vectors { m } else { 1 };
    let mut z = vec![0.0; rows * m];
    for j in 0..m {
        if want_vectors {
            z[j * rows + j] = 1.0;
        } else if j + 1 == m {
            z[j] = 1.0;
        }
    }

    // A budget of 30 sweeps per eigenvalue, shared by all of them as in LAPACK's
    // dsteqr; QL typically needs fewer than two.
    implicit_ql(&mut diag, &mut off, &mut z, rows, 30 * m)?;

    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| diag[a].total_cmp(&diag[b]));
    let values = unscaled(order.iter().map(|&j| diag[j]), scale)?;
    let last_components = order.iter().map(|&j| z[j * rows + rows - 1]).collect();
    let vectors = want_vectors.then(|| {
        order
            .iter()
            .flat_map(|&j| z[j * rows..(j + 1) * rows].iter().copied())
            .collect()
    });
    Ok(TridiagEigen {
        values,
        last_components,
        vectors,
    })
}

/// Eigenvalues only, in ascending order, of the symmetric tridiagonal with diagonal `alpha`
/// and off-diagonal `beta` (as in [`tridiag_eigen`]): the root-free QL of Pal, Walker and
/// Kahan (LAPACK `dsterf`). It works on the squared off-diagonals, so a rotation takes no
/// square root; the eigenvalues agree with [`tridiag_eigen`]'s to
/// rounding relative to the matrix's norm (both are backward stable), which is what the
/// dense eigensolver's bound asks. Unlike `dsterf` it runs QL only (no switch to QR),
/// scales the whole matrix once instead of each block, deflates by `tql1`'s test on
/// the sum of the neighbouring diagonals (squared): an eigenvalue far below the norm
/// gets its absolute error, not `dsterf`'s relative one on graded blocks; and it forms
/// γ²/c as γ² (r/p), so that one division, not two, lies on the chain from a rotation to
/// the next (about 18% faster at n = 300 to 2000, `cargo bench --bench band`).
pub fn tridiag_eigenvalues(alpha: &[f64], beta: &[f64]) -> Result<Vec<f64>> {
    let (mut diag, off, scale) = scaled_copy(alpha, beta)?;
    // Squares of entries below ~1e-154 (of a matrix of norm about 1) lose digits or
    // vanish: absolute changes far below the rounding of the larger entries.
    let mut off2: Vec<f64> = off.iter().map(|e| e * e).collect();
    let budget = 30 * diag.len();
    root_free_ql(&mut diag, &mut off2, budget)?;
    let mut values = unscaled(diag.iter().copied(), scale)?;
    values.sort_by(f64::total_cmp);
    Ok(values)
}

/// Eigenvalues of the scaled copy, times `scale`; a [`NonFinite`] error where one
/// overflows (a matrix with entries near f64::MAX can have eigenvalues beyond it), as
/// for any other non-finite spectrum.
fn unscaled(values: impl Iterator<Item = f64>, scale: f64) -> Result<Vec<f64>> {
    let values: Vec<f64> = values.map(|v| v * scale).collect();
    if let Some(v) = values.iter().find(|v| !v.is_finite()) {
        return Err(NonFinite::new(format!(
            "the tridiagonal's eigenvalues overflow f64 ({v}; its entries reach about \
             {scale:e}): scale the matrix down"
        ))
        .into());
    }
    Ok(values)
}

/// Checks the lengths and entries, then copies them scaled by a power of two (exact) so
/// that the largest is about 1: the shift and rotation formulas can then neither overflow
/// nor lose everything to underflow, whatever the magnitude of the input. Returns the
/// diagonal, the off-diagonal with one trailing zero (so that `off[m - 1]` reads as
/// "decoupled"), and the scale.
fn scaled_copy(alpha: &[f64], beta: &[f64]) -> Result<(Vec<f64>, Vec<f64>, f64)> {
    let m = alpha.len();
    if beta.len() + 1 != m && !(m == 0 && beta.is_empty()) {
        bail!(
            "tridiagonal with {m} diagonal entries needs {} off-diagonal entries, got {}",
            m.saturating_sub(1),
            beta.len()
        );
    }
    check_finite("alpha", alpha)?;
    check_finite("beta", beta)?;
    let max_abs = alpha
        .iter()
        .chain(beta)
        .fold(0.0f64, |acc, x| acc.max(x.abs()));
    // The exponent is clamped so that the scale itself is a normal number.
    let scale = if max_abs > 0.0 {
        let exponent = (max_abs.log2().ceil() as i32).clamp(f64::MIN_EXP, f64::MAX_EXP - 1);
        // 2^exponent from its bits: exact by construction.
        f64::from_bits(((exponent + 1023) as u64) << 52)
    } else {
        1.0
    };
    let diag = alpha.iter().map(|a| a / scale).collect();
    let off = beta.iter().map(|b| b / scale).chain([0.0]).collect();
    Ok((diag, off, scale))
}

fn check_finite(name: &str, entries: &[f64]) -> Result<()> {
    if let Some((i, x)) = entries.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        bail!("{name}[{i}] is {x}: the tridiagonal must be finite");
    }
    Ok(())
}

/// Implicit QL with Wilkinson shifts on the tridiagonal (`diag`, `off`), with
/// `off[j]` coupling j and j + 1 and `off[m - 1] == 0`. On return `diag` holds the
/// (unsorted) eigenvalues and the columns of `z` (column-major, `rows` rows) have
/// been multiplied by every rotation, so that z = Z₀ Q. Gives up after `max_sweeps`
/// QL sweeps in total.
fn implicit_ql(
    diag: &mut [f64], off: &mut [f64], z: &mut [f64], rows: usize, max_sweeps: usize,
) -> Result<()> {
    let m = diag.len();
    let mut sweeps = 0;
    for l in 0..m {
        loop {
            // The unreduced block starting at l ends at the first negligible
            // off-diagonal. The test is relative to the neighbouring diagonal (good
            // for graded matrices); the MIN_POSITIVE floor stops us iterating on
            // subnormals, harmless since the matrix is scaled to norm about 1.
            let end = block_end(diag, l, |j, local| {
                off[j].abs() <= f64::EPSILON * local + f64::MIN_POSITIVE
            });
            if end == l {
                break; // diag[l] has converged.
            }
            count_sweep(&mut sweeps, max_sweeps, l, m)?;

            // Wilkinson shift: the eigenvalue of the leading 2 × 2 of the block
            // nearer diag[l], folded into the first rotation's g.
            let g = (diag[l + 1] - diag[l]) / (2.0 * off[l]);
            let r = g.hypot(1.0);
            let mut g = diag[end] - diag[l] + off[l] / (g + r.copysign(g));

            // Chase the bulge from the bottom of the block to the top.
            let (mut s, mut c, mut p) = (1.0f64, 1.0f64, 0.0f64);
            let mut underflow = false;
            for i in (l..end).rev() {
                let f = s * off[i];
                let b = c * off[i];
                let r = norm2(f, g);
                off[i + 1] = r;
                if r == 0.0 {
                    // Both rotation inputs underflowed: the block has split at i + 1.
                    diag[i + 1] -= p;
                    off[end] = 0.0;
                    underflow = true;
                    break;
                }
                s = f / r;
                c = g / r;
                g = diag[i + 1] - p;
                let r = (diag[i] - g) * s + 2.0 * c * b;
                p = s * r;
                diag[i + 1] = g + p;
                g = c * r - b;
                rotate_columns(z, rows, i, c, s);
            }
            if underflow {
                continue;
            }
            diag[l] -= p;
            off[l] = g;
            off[end] = 0.0;
        }
    }
    Ok(())
}

/// The end of the unreduced block that starts at `l`: the first j ≥ l whose coupling to
/// j + 1 is `negligible(j, |d_j| + |d_j+1|)`, or the last row.
fn block_end(diag: &[f64], l: usize, negligible: impl Fn(usize, f64) -> bool) -> usize {
    let mut end = l;
    while end + 1 < diag.len() && !negligible(end, diag[end].abs() + diag[end + 1].abs()) {
        end += 1;
    }
    end
}

/// Counts one more QL sweep, or fails when `max_sweeps` were spent (with `l` of the `m`
/// eigenvalues converged).
fn count_sweep(sweeps: &mut usize, max_sweeps: usize, l: usize, m: usize) -> Result<()> {
    if *sweeps == max_sweeps {
        bail!(
            "tridiagonal QL did not converge in {max_sweeps} sweeps \
             (order {m}; {l} eigenvalues had converged)"
        );
    }
    *sweeps += 1;
    Ok(())
}

/// The root-free QL iteration of [`tridiag_eigenvalues`] on `diag` and the squared
/// off-diagonals `off2` (`off2[m - 1] == 0`), with the same Wilkinson shift and sweep
/// budget as [`implicit_ql`], and its deflation test squared. On return `diag` holds the
/// (unsorted) eigenvalues; returns the number of sweeps taken.
fn root_free_ql(diag: &mut [f64], off2: &mut [f64], max_sweeps: usize) -> Result<usize> {
    let m = diag.len();
    let mut sweeps = 0;
    for l in 0..m {
        loop {
            // |e| ≤ ε (|d_end| + |d_end+1|), squared; or e² below the smallest normal
            // (|e| < 1.5e-154), negligible at the scaled norm of about 1. (implicit_ql's
            // floor of MIN_POSITIVE on |e| would vanish once squared, and the sweeps would
            // go on among subnormal squares.)
            let end = block_end(diag, l, |j, local| {
                let limit = f64::EPSILON * local;
                off2[j] <= limit * limit || off2[j] < f64::MIN_POSITIVE
            });
            if end == l {
                break; // diag[l] has converged.
            }
            // The sweep below never reads off2[end]; the 2 × 2 path's block ends there.
            off2[end] = 0.0;
            if end == l + 1 {
                // A 2 × 2 block: its eigenvalues in closed form, as dsterf does.
                let (low, high) = eigenvalues_2x2(diag[l], off2[l].sqrt(), diag[l + 1]);
                (diag[l], diag[l + 1]) = (low, high);
                off2[l] = 0.0;
                continue;
            }
            count_sweep(&mut sweeps, max_sweeps, l, m)?;

            // Wilkinson shift σ from the leading 2 × 2 (|e_l| serves: the shift does
            // not depend on its sign).
            let e = off2[l].sqrt();
            let g = (diag[l + 1] - diag[l]) / (2.0 * e);
            let sigma = diag[l] - e / (g + g.hypot(1.0).copysign(g));

            // Chase the bulge from the bottom of the block to the top, carrying
            // p = γ²/c in place of the rotation's square root.
            let (mut c, mut s) = (1.0f64, 0.0f64);
            let mut gamma = diag[end] - sigma;
            let mut p = gamma * gamma;
            for i in (l..end).rev() {
                let bb = off2[i];
                let r = p + bb; // > 0: bb passed the deflation test
                if i + 1 != end {
                    off2[i + 1] = s * r;
                }
                let old_c = c;
                c = p / r;
                s = bb / r;
                // 1 / c as r / p, divided beside c instead of after γ: the chain from one
                // p to the next holds one division, not two. Where c is subnormal, r / p
                // may overflow while γ² / c does not.
                let r_over_p = r / p;
                let old_gamma = gamma;
                let alpha = diag[i];
                gamma = c * (alpha - sigma) - s * old_gamma;
                diag[i + 1] = old_gamma + (alpha - gamma);
                p = if c >= f64::MIN_POSITIVE {
                    gamma * gamma * r_over_p
                } else if c != 0.0 {
                    gamma * gamma / c
                } else {
                    old_c * bb
                };
            }
            off2[l] = s * p;
            diag[l] = sigma + gamma;
        }
    }
    Ok(sweeps)
}

/// The eigenvalues (smaller, larger) of [[a, b], [b, c]], the smaller one without
/// cancellation (LAPACK `dlae2`).
fn eigenvalues_2x2(a: f64, b: f64, c: f64) -> (f64, f64) {
    let (sum, radius) = (a + c, (a - c).hypot(2.0 * b));
    let (big, small) = if a.abs() > c.abs() { (a, c) } else { (c, a) };
    // The root of larger magnitude from the sum, the other from the determinant.
    let outer = 0.5 * (sum + radius.copysign(sum));
    if outer == 0.0 {
        return (-0.5 * radius, 0.5 * radius);
    }
    let inner = (big / outer) * small - (b / outer) * b;
    if outer < inner {
        (outer, inner)
    } else {
        (inner, outer)
    }
}

/// √(f² + g²), by the square root of the sum where the squares can neither overflow nor
/// lose precision to underflow (every rotation of a matrix scaled to norm about 1), else
/// by `hypot`; within 2ε (relative) of `hypot`'s. `hypot` alone took half of QL's time
/// (its careful scaling is a call into libm per rotation).
fn norm2(f: f64, g: f64) -> f64 {
    let squares = f * f + g * g;
    if (SAFE_SQUARES_MIN..=SAFE_SQUARES_MAX).contains(&squares) {
        squares.sqrt()
    } else {
        f.hypot(g)
    }
}

/// Sums of squares whose square root [`norm2`] takes directly: above this, the larger
/// square is normal, and what the smaller may lose to underflow is below the sum's last
/// digit ...
const SAFE_SQUARES_MIN: f64 = f64::MIN_POSITIVE / f64::EPSILON;
/// ... and below this, neither square nor their sum overflowed.
const SAFE_SQUARES_MAX: f64 = f64::MAX / 4.0;

/// Applies the plane rotation (c, s) to columns i and i + 1 of the column-major `z`.
fn rotate_columns(z: &mut [f64], rows: usize, i: usize, c: f64, s: f64) {
    let (head, tail) = z.split_at_mut((i + 1) * rows);
    let left = &mut head[i * rows..];
    let right = &mut tail[..rows];
    for (zl, zr) in left.iter_mut().zip(right.iter_mut()) {
        let f = *zr;
        *zr = s * *zl + c * f;
        *zl = c * *zl - s * f;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Row-major dense copy of the tridiagonal.
    fn dense(alpha: &[f64], beta: &[f64]) -> Vec<f64> {
        let m = alpha.len();
        let mut a = vec![0.0; m * m];
        for (i, &x) in alpha.iter().enumerate() {
            a[i * m + i] = x;
        }
        for (i, &x) in beta.iter().enumerate() {
            a[i * m + i + 1] = x;
            a[(i + 1) * m + i] = x;
        }
        a
    }

    /// Max absolute row sum, an upper bound on the 2-norm.
    fn norm_inf(alpha: &[f64], beta: &[f64]) -> f64 {
        let m = alpha.len();
        (0..m)
            .map(|i| {
                let left = if i > 0 { beta[i - 1].abs() } else { 0.0 };
                let right = if i + 1 < m { beta[i].abs() } else { 0.0 };
                alpha[i].abs() + left + right
            })
            .fold(0.0, f64::max)
    }

    /// Independent reference: cyclic Jacobi on the dense matrix, sorted eigenvalues.
    /// An off-diagonal entry is rotated away unless it is negligible relative to its
    /// two diagonal entries, which keeps small eigenvalues of graded matrices accurate.
    fn jacobi_eigenvalues(alpha: &[f64], beta: &[f64]) -> Vec<f64> {
        let n = alpha.len();
        let mut a = dense(alpha, beta);
        for _sweep in 0..60 {
            let mut rotated = false;
            for p in 0..n {
                for q in p + 1..n {
                    let apq = a[p * n + q];
                    let (app, aqq) = (a[p * n + p], a[q * n + q]);
                    if apq == 0.0 || apq.abs() <= 0.25 * f64::EPSILON * (app * aqq).abs().sqrt() {
                        continue;
                    }
                    rotated = true;
                    let theta = (aqq - app) / (2.0 * apq);
                    let t = if theta == 0.0 {
                        1.0
                    } else {
                        theta.signum() / (theta.abs() + theta.hypot(1.0))
                    };
                    let c = 1.0 / t.hypot(1.0);
                    let s = t * c;
                    for r in 0..n {
                        if r == p || r == q {
                            continue;
                        }
                        let (arp, arq) = (a[r * n + p], a[r * n + q]);
                        let new_p = c * arp - s * arq;
                        let new_q = s * arp + c * arq;
                        a[r * n + p] = new_p;
                        a[p * n + r] = new_p;
                        a[r * n + q] = new_q;
                        a[q * n + r] = new_q;
                    }
                    a[p * n + p] = app - t * apq;
                    a[q * n + q] = aqq + t * apq;
                    a[p * n + q] = 0.0;
                    a[q * n + p] = 0.0;
                }
            }
            if !rotated {
                let mut values: Vec<f64> = (0..n).map(|i| a[i * n + i]).collect();
                values.sort_by(f64::total_cmp);
                return values;
            }
        }
        panic!("reference Jacobi did not converge");
    }

    fn random_tridiag(m: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let alpha = (0..m).map(|_| rng.random_range(-1.0..1.0)).collect();
        let beta = (0..m.saturating_sub(1))
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        (alpha, beta)
    }

    /// Checks both modes of `tridiag_eigen` against Jacobi and against the
    /// eigen-equations themselves; returns the full decomposition.
    fn check(alpha: &[f64], beta: &[f64]) -> TridiagEigen {
        let m = alpha.len();
        let norm = norm_inf(alpha, beta).max(f64::MIN_POSITIVE);
        let tol = 1e-12 * norm;
        let full = tridiag_eigen(alpha, beta, true).unwrap();
        let lean = tridiag_eigen(alpha, beta, false).unwrap();
        assert!(lean.vectors.is_none());
        assert_eq!(full.values.len(), m);
        assert_eq!(lean.values.len(), m);
        assert_eq!(lean.last_components.len(), m);

        let reference = jacobi_eigenvalues(alpha, beta);
        let triples = full.values.iter().zip(&lean.values).zip(&reference);
        for (i, ((&with_vectors, &without), &jacobi)) in triples.enumerate() {
            assert!(
                (with_vectors - jacobi).abs() <= tol,
                "eigenvalue {i}: QL {with_vectors} vs Jacobi {jacobi} (norm {norm})"
            );
            assert!((without - with_vectors).abs() <= tol);
        }
        assert!(
            full.values.windows(2).all(|w| w[0] <= w[1]),
            "not ascending"
        );
        let root_free = tridiag_eigenvalues(alpha, beta).unwrap();
        assert_eq!(root_free.len(), m);
        assert!(root_free.windows(2).all(|w| w[0] <= w[1]), "not ascending");
        for (i, (&got, &jacobi)) in root_free.iter().zip(&reference).enumerate() {
            assert!(
                (got - jacobi).abs() <= tol,
                "eigenvalue {i}: root-free QL {got} vs Jacobi {jacobi} (norm {norm})"
            );
        }

        let v = full.vectors.as_ref().unwrap();
        assert_eq!(v.len(), m * m);
        let a = dense(alpha, beta);
        for i in 0..m {
            let col = &v[i * m..(i + 1) * m];
            let residual = (0..m)
                .map(|r| {
                    let tv: f64 = (0..m).map(|k| a[r * m + k] * col[k]).sum();
                    (tv - full.values[i] * col[r]).powi(2)
                })
                .sum::<f64>()
                .sqrt();
            assert!(residual <= tol, "‖Tv - θv‖ = {residual} for eigenvalue {i}");
            for j in 0..=i {
                let dot: f64 = col
                    .iter()
                    .zip(&v[j * m..(j + 1) * m])
                    .map(|(x, y)| x * y)
                    .sum();
                let expected = if i == j { 1.0 } else { 0.0 };
                assert!(
                    (dot - expected).abs() <= 1e-12,
                    "vᵢᵀvⱼ = {dot} for (i, j) = ({i}, {j})"
                );
            }
            assert!((full.last_components[i] - col[m - 1]).abs() <= 1e-15);
            assert!(
                (lean.last_components[i].abs() - col[m - 1].abs()).abs() <= 1e-12,
                "last component {i}: {} without vectors, {} with",
                lean.last_components[i],
                col[m - 1]
            );
        }
        if m > 0 {
            let sum_sq: f64 = lean.last_components.iter().map(|s| s * s).sum();
            assert!((sum_sq - 1.0).abs() <= 1e-12, "Σ s² = {sum_sq}");
        }
        full
    }

    #[test]
    fn empty_and_order_one() {
        let empty = tridiag_eigen(&[], &[], true).unwrap();
        assert!(empty.values.is_empty() && empty.last_components.is_empty());
        assert_eq!(empty.vectors, Some(vec![]));

        let one = tridiag_eigen(&[-2.5], &[], true).unwrap();
        assert_eq!(one.values, vec![-2.5]);
        assert_eq!(one.last_components, vec![1.0]);
        assert_eq!(one.vectors, Some(vec![1.0]));
        check(&[-2.5], &[]);
    }

    #[test]
    fn order_two_matches_closed_form() {
        let (a, b, c) = (0.3, -1.7, 2.2);
        let eig = check(&[a, c], &[b]);
        let mean = 0.5 * (a + c);
        let radius = (0.5 * (a - c)).hypot(b);
        assert!((eig.values[0] - (mean - radius)).abs() <= 1e-15);
        assert!((eig.values[1] - (mean + radius)).abs() <= 1e-15);
    }

    #[test]
    fn random_matrices_match_jacobi() {
        for (m, seed) in [(2, 1), (3, 2), (17, 3), (100, 4), (300, 5)] {
            let (alpha, beta) = random_tridiag(m, seed);
            check(&alpha, &beta);
        }
    }

    #[test]
    fn repeated_eigenvalues_from_split_blocks() {
        // Three copies of [[2, 1], [1, 2]] decoupled by exact zeros: 1 and 3, thrice each.
        let alpha = [2.0; 6];
        let beta = [1.0, 0.0, 1.0, 0.0, 1.0];
        let eig = check(&alpha, &beta);
        for (i, expected) in [1.0, 1.0, 1.0, 3.0, 3.0, 3.0].iter().enumerate() {
            assert!(
                (eig.values[i] - expected).abs() <= 1e-15,
                "{:?}",
                eig.values
            );
        }

        // A multiple of the identity is already diagonal.
        let eig = check(&[5.0; 4], &[0.0; 3]);
        assert_eq!(eig.values, vec![5.0; 4]);
    }

    #[test]
    fn wilkinson_w21_plus() {
        let alpha: Vec<f64> = (0..21).map(|i: i32| f64::from((10 - i).abs())).collect();
        let beta = vec![1.0; 20];
        let eig = check(&alpha, &beta);
        // The two largest eigenvalues agree to about 14 digits (Wilkinson 1965).
        let (second, first) = (eig.values[19], eig.values[20]);
        assert!(first - second < 1e-12, "{second} {first}");
        for top in [second, first] {
            assert!((top - 10.746_194_182_903_36).abs() < 1e-12, "{top}");
        }
    }

    #[test]
    fn graded_entries() {
        let m = 40;
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        let magnitude = |t: f64| 10f64.powf(-8.0 + 16.0 * t / (m - 1) as f64);
        let alpha: Vec<f64> = (0..m)
            .map(|i| magnitude(i as f64) * rng.random_range(0.5..1.5))
            .collect();
        let beta: Vec<f64> = (0..m - 1)
            .map(|i| magnitude(i as f64 + 0.5) * rng.random_range(-0.5..0.5))
            .collect();
        check(&alpha, &beta);
        // Large entries at the top instead of the bottom.
        let alpha_rev: Vec<f64> = alpha.iter().rev().copied().collect();
        let beta_rev: Vec<f64> = beta.iter().rev().copied().collect();
        check(&alpha_rev, &beta_rev);
    }

    #[test]
    fn zero_diagonal_gives_plus_minus_pairs() {
        // The Golub–Kahan augmented tridiagonal: eigenvalues ±σ, plus 0 for odd order.
        let m = 41;
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let beta: Vec<f64> = (0..m - 1).map(|_| rng.random_range(0.1..2.0)).collect();
        let eig = check(&vec![0.0; m], &beta);
        for i in 0..m {
            assert!((eig.values[i] + eig.values[m - 1 - i]).abs() <= 1e-13);
        }
    }

    #[test]
    fn power_of_two_scaling_is_exact() {
        let (alpha, beta) = random_tridiag(30, 8);
        let base = tridiag_eigen(&alpha, &beta, true).unwrap();
        for exponent in [-900, 900] {
            let factor = 2.0f64.powi(exponent);
            let scaled_alpha: Vec<f64> = alpha.iter().map(|x| x * factor).collect();
            let scaled_beta: Vec<f64> = beta.iter().map(|x| x * factor).collect();
            let scaled = tridiag_eigen(&scaled_alpha, &scaled_beta, true).unwrap();
            let expected: Vec<f64> = base.values.iter().map(|x| x * factor).collect();
            assert_eq!(scaled.values, expected);
            assert_eq!(scaled.vectors, base.vectors);
            let root_free = tridiag_eigenvalues(&scaled_alpha, &scaled_beta).unwrap();
            let base_root_free = tridiag_eigenvalues(&alpha, &beta).unwrap();
            let expected: Vec<f64> = base_root_free.iter().map(|x| x * factor).collect();
            assert_eq!(root_free, expected);
        }

        // Subnormal entries: nothing overflows or turns into NaN.
        let tiny = tridiag_eigen(&[4e-320, 1e-320], &[2e-320], false).unwrap();
        assert!(tiny.values.iter().all(|v| v.is_finite()), "{tiny:?}");
        assert!(tiny.values[0] < tiny.values[1], "{tiny:?}");
        let sum_sq: f64 = tiny.last_components.iter().map(|s| s * s).sum();
        assert!((sum_sq - 1.0).abs() < 1e-12);
        // [[4, 2], [2, 1]] times 2024 · 2⁻¹⁰⁷⁴ exactly: eigenvalues 0 and the trace.
        let root_free = tridiag_eigenvalues(&[4e-320, 1e-320], &[2e-320]).unwrap();
        let ulp = f64::from_bits(1);
        assert!(
            root_free[0].abs() <= ulp && (root_free[1] - (4e-320 + 1e-320)).abs() <= ulp,
            "{root_free:?}"
        );
        // The scale is the power of two at or above the largest entry, clamped to normal
        // numbers; a diagonal then comes back exactly.
        for (largest, scale) in [
            (0.7, 1.0),
            (3e300, 2f64.powi(999)),
            (f64::MAX, 2f64.powi(1023)),
            (1e-300, 2f64.powi(-996)),
            (4e-320, 2f64.powi(-1021)),
        ] {
            assert_eq!(
                scaled_copy(&[largest], &[]).unwrap().2,
                scale,
                "{largest:e}"
            );
            let diagonal = [0.3 * largest, largest, 1e-5 * largest];
            let mut sorted = diagonal;
            sorted.sort_by(f64::total_cmp);
            assert_eq!(
                tridiag_eigenvalues(&diagonal, &[0.0, 0.0]).unwrap(),
                sorted.to_vec()
            );
        }
        // Entries near f64::MAX whose eigenvalues are beyond it.
        let huge = 0.9 * f64::MAX;
        for err in [
            tridiag_eigenvalues(&[huge, huge], &[huge]).unwrap_err(),
            tridiag_eigen(&[huge, huge], &[huge], false).unwrap_err(),
        ] {
            assert!(
                err.to_string().contains("eigenvalues overflow f64"),
                "{err}"
            );
        }
    }

    #[test]
    fn root_free_ql_matches_ql_on_many_shapes() {
        // Random, clustered (a glued Wilkinson matrix: pairs agreeing to ~14 digits),
        // tiny couplings (near-split blocks) and 2 x 2 blocks that start split off: the
        // root-free eigenvalues agree with the rotation QL's to a few ulps of the norm.
        let mut rng = rand::rngs::StdRng::seed_from_u64(10);
        let mut cases: Vec<(Vec<f64>, Vec<f64>)> =
            (1..60).map(|m| random_tridiag(m, 100 + m as u64)).collect();
        let w21: Vec<f64> = (0..21).map(|i: i32| f64::from((10 - i).abs())).collect();
        let glued_alpha: Vec<f64> = w21.iter().chain(&w21).chain(&w21).copied().collect();
        let mut glued_beta = vec![1.0; 62];
        glued_beta[20] = 1e-10;
        glued_beta[41] = 1e-10;
        cases.push((glued_alpha, glued_beta));
        let near_split: Vec<f64> = (0..49)
            .map(|i| {
                if i % 3 == 2 {
                    1e-12 * rng.random_range(-1.0..1.0)
                } else {
                    1.0
                }
            })
            .collect();
        cases.push((vec![0.5; 50], near_split));
        cases.push((vec![1.0, 1.0, -3.0, 2.0], vec![1e-300, 4.0, 0.0]));
        // The shift is 0 (the leading 2 x 2 block) and the last diagonal 1e-160, so the
        // sweep's first p = γ² is subnormal and so is c = p / r: r / p overflows there.
        cases.push((vec![1.0, 1.0, 1e-160], vec![1.0, 1.0]));
        for (alpha, beta) in &cases {
            let norm = norm_inf(alpha, beta).max(f64::MIN_POSITIVE);
            let ql = tridiag_eigen(alpha, beta, false).unwrap().values;
            let root_free = tridiag_eigenvalues(alpha, beta).unwrap();
            for (i, (got, want)) in root_free.iter().zip(&ql).enumerate() {
                assert!(
                    (got - want).abs() <= 64.0 * f64::EPSILON * norm,
                    "order {}: eigenvalue {i}: root-free {got} vs QL {want}",
                    alpha.len()
                );
            }
        }
    }

    #[test]
    fn two_by_two_closed_form_keeps_the_small_eigenvalue() {
        // [[1, 1e-9], [1e-9, 1e-20]]: the small eigenvalue, 1e-20 - 1e-18 (to ~1e-36),
        // would be lost to cancellation in (sum - radius) / 2.
        let (low, high) = eigenvalues_2x2(1.0, 1e-9, 1e-20);
        let expected_low = 1e-20 - 1e-18 / (1.0 - 1e-20);
        assert!(
            (low - expected_low).abs() <= 1e-15 * expected_low.abs(),
            "{low:e}"
        );
        assert!((high - (1.0 + 1e-18)).abs() <= f64::EPSILON, "{high}");
        // Zero trace, equal entries, a zero matrix, negative definite.
        assert_eq!(eigenvalues_2x2(3.0, 4.0, -3.0), (-5.0, 5.0));
        assert_eq!(eigenvalues_2x2(2.0, 0.0, 2.0), (2.0, 2.0));
        assert_eq!(eigenvalues_2x2(0.0, 0.0, 0.0), (0.0, 0.0));
        // The mirror case (negative trace): the eigenvalue of small magnitude is `high`.
        let (low, high) = eigenvalues_2x2(-1.0, 1e-9, -1e-20);
        assert!(
            (high + expected_low).abs() <= 1e-15 * expected_low.abs(),
            "{high:e}"
        );
        assert!((low + (1.0 + 1e-18)).abs() <= f64::EPSILON, "{low}");
        let (low, high) = eigenvalues_2x2(-2.0, 1.0, -2.0);
        assert!(
            (low + 3.0).abs() <= 2.0 * f64::EPSILON * 3.0
                && (high + 1.0).abs() <= 4.0 * f64::EPSILON
        );
    }

    #[test]
    fn norm2_agrees_with_hypot_at_every_magnitude() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        // Both branches: squares that would underflow (1e-160 and below, subnormals) or
        // overflow (1e155 and above) take hypot, the rest the square root. (Literals:
        // 10f64.powi(-320) is 0, through 10^320's overflow.)
        let scales: [f64; 11] = [
            1e-320, 1e-300, 1e-160, 1e-150, 1e-20, 1.0, 1e20, 1e150, 1e155, 1e300, 1e307,
        ];
        for scale in scales {
            assert!(scale > 0.0 && scale.is_finite());
            for _ in 0..200 {
                let f = rng.random_range(-1.0..1.0) * scale;
                let g = rng.random_range(-1.0..1.0) * scale * rng.random_range(0.0..2.0);
                let (got, want) = (norm2(f, g), f.hypot(g));
                assert!(
                    (got - want).abs() <= 2.0 * f64::EPSILON * want,
                    "norm2({f:e}, {g:e}) = {got:e}, hypot {want:e}"
                );
            }
        }
        assert_eq!(norm2(0.0, 0.0), 0.0);
        assert_eq!(norm2(f64::MAX, f64::MAX), f64::INFINITY);
    }

    #[test]
    fn zero_matrix() {
        let eig = check(&[0.0; 5], &[0.0; 4]);
        assert_eq!(eig.values, vec![0.0; 5]);
    }

    #[test]
    fn mismatched_lengths_are_reported() {
        let err = tridiag_eigen(&[1.0, 2.0, 3.0], &[1.0], false).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("3 diagonal entries needs 2 off-diagonal entries, got 1"),
            "{message}"
        );
        let err = tridiag_eigen(&[], &[1.0], false).unwrap_err();
        assert!(err.to_string().contains("got 1"), "{err}");
        let err = tridiag_eigenvalues(&[1.0, 2.0, 3.0], &[1.0]).unwrap_err();
        assert!(
            err.to_string()
                .contains("needs 2 off-diagonal entries, got 1"),
            "{err}"
        );
        assert_eq!(tridiag_eigenvalues(&[], &[]).unwrap(), Vec::<f64>::new());
        assert_eq!(tridiag_eigenvalues(&[-2.5], &[]).unwrap(), vec![-2.5]);
    }

    #[test]
    fn non_finite_entries_are_reported() {
        let err = tridiag_eigen(&[1.0, f64::NAN], &[1.0], false).unwrap_err();
        assert!(err.to_string().contains("alpha[1] is NaN"), "{err}");
        let err = tridiag_eigen(&[1.0, 2.0], &[f64::INFINITY], false).unwrap_err();
        assert!(err.to_string().contains("beta[0] is inf"), "{err}");
        let err = tridiag_eigenvalues(&[1.0, 2.0], &[f64::NAN]).unwrap_err();
        assert!(err.to_string().contains("beta[0] is NaN"), "{err}");
    }

    #[test]
    fn root_free_ql_converges_in_few_sweeps() {
        // QL with Wilkinson shifts took 2.2 to 2.3 sweeps per eigenvalue on random
        // matrices of orders 10 to 300 (the rotation QL as many); a weaker shift takes
        // more, so the count holds the shift.
        for m in [10, 40, 100] {
            let (alpha, beta) = random_tridiag(m, 200 + m as u64);
            let mut diag = alpha.clone();
            let mut off2: Vec<f64> = beta.iter().map(|e| e * e).chain([0.0]).collect();
            let sweeps = root_free_ql(&mut diag, &mut off2, 30 * m).unwrap();
            assert!(sweeps <= 5 * m / 2, "order {m}: {sweeps} sweeps");
        }
    }

    #[test]
    fn off_diagonals_whose_squares_are_subnormal_deflate_at_once() {
        // Tiny diagonals coupled by entries of about 1e-158 (squares ~1e-316, below the
        // smallest normal) beside entries of order 1: negligible, so no sweep is spent on
        // them and the diagonal stays as it is (within 2e-158 of the truth).
        let mut diag = vec![1.0, 1e-160, 2e-160, 3e-160, 0.5];
        let before = diag.clone();
        let mut off2 = vec![0.0, 1e-316, 2e-316, 0.0, 0.0];
        assert_eq!(root_free_ql(&mut diag, &mut off2, 30).unwrap(), 0);
        assert_eq!(diag, before);
    }

    #[test]
    fn exhausted_sweep_budget_is_reported() {
        let (alpha, mut beta) = random_tridiag(20, 9);
        beta.push(0.0);
        let (mut diag, mut off) = (alpha.clone(), beta.clone());
        let mut z = vec![1.0; 20];
        let err = implicit_ql(&mut diag, &mut off, &mut z, 1, 3).unwrap_err();
        assert!(
            err.to_string().contains("did not converge in 3 sweeps"),
            "{err}"
        );
        let sweeps_within = |budget: usize| {
            let mut diag = alpha.clone();
            let mut off2: Vec<f64> = beta.iter().map(|e| e * e).collect();
            root_free_ql(&mut diag, &mut off2, budget)
        };
        let err = sweeps_within(3).unwrap_err();
        assert!(
            err.to_string().contains("did not converge in 3 sweeps"),
            "{err}"
        );
        // The budget is reached, not passed: as many sweeps as needed succeed, one fewer
        // fails.
        let needed = sweeps_within(30 * 20).unwrap();
        assert_eq!(sweeps_within(needed).unwrap(), needed);
        assert!(sweeps_within(needed - 1).is_err());
    }
}
