//! Band → tridiagonal reduction on the host, in f64: the second stage of a two-stage
//! symmetric eigensolver (dense → band, band → tridiagonal here, then [`super::tridiag`]).
//!
//! **Algorithm**: Householder bulge chasing, one column per sweep (Lang 1993; the
//! kernels of LAPACK `dsb2st`). Sweep s annihilates column s below its sub-diagonal
//! with a reflector H₀ on rows s+1..s+b, applied from both sides. From the right, H₀
//! also mixes the columns of the b × b block under the diagonal block, which fills it
//! (the bulge). A second reflector H₁ on the next b rows annihilates only the bulge's
//! first column, is applied from the left to the rest of that block and from both sides
//! to its diagonal block, and fills the block below that: and so on down the band. The
//! rest of each bulge is left in place: it lies in the columns that the next sweep
//! annihilates first, so it never spreads. Cost about 6 n² b flops; eigenvalues only,
//! so Q is not accumulated.
//!
//! **Storage**: the lower band, column by column, with room for the bulge:
//! `work[c * 2b + k] = A[c + k][c]` for k in 0..2b (the band is k <= b; the bulge
//! reaches k = 2b - 1). Every step works on whole columns from the diagonal down, so
//! the inner loops run over contiguous slices.
//!
//! **Stability**: only orthogonal transformations, so the result is backward stable:
//! T = Qᵀ (A + E) Q with Q orthogonal and ‖E‖₂ <= c n u ‖A‖₂, u = 2⁻⁵³ the f64 unit
//! roundoff and c a modest constant (Wilkinson's analysis of products of Householder
//! reflectors). The input is scaled by a power of two (exact) so that its largest entry
//! is about 1, which keeps every intermediate far from overflow; a reflector whose sum
//! of squares may have underflowed recomputes it scaled, so no nonzero is mistaken for 0.

use anyhow::{bail, Result};

/// Lower band storage of a symmetric matrix of order n and semi-bandwidth b:
/// band[j * (b + 1) + k] = A[j + k][j] for k in 0..=b (entries with j + k >= n are ignored).
/// Returns the tridiagonal (d: n diagonal, e: n - 1 sub-diagonal) of an orthogonally
/// similar matrix, computed in f64 on the host.
///
/// Non-finite input is not an error: the NaN or infinity spreads into d and e, which
/// the caller checks ([`super::tridiag::tridiag_eigen`] rejects it).
pub fn band_to_tridiagonal(band: &[f64], n: usize, b: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    if n == 0 {
        bail!("band_to_tridiagonal: the order n must be at least 1, got n = 0");
    }
    let stride = b.checked_add(1);
    let expected = stride.and_then(|s| s.checked_mul(n));
    let (Some(stride), Some(expected)) = (stride, expected) else {
        bail!("band_to_tridiagonal: order n = {n} with semi-bandwidth b = {b} overflows the band length n * (b + 1)");
    };
    if band.len() != expected {
        bail!(
            "band_to_tridiagonal: band storage of order n = {n} and semi-bandwidth b = {b} needs n * (b + 1) = {expected} entries, got band.len() = {}",
            band.len()
        );
    }
    // A band wider than n - 1 is the full matrix: the entries past row n - 1 are unused.
    let w = b.min(n - 1);
    if w <= 1 {
        // Already tridiagonal (or diagonal): nothing to reduce.
        let e = match w {
            0 => vec![0.0; n - 1],
            _ => diagonal(band, stride, 1, n - 1, 1.0),
        };
        return Ok((diagonal(band, stride, 0, n, 1.0), e));
    }

    let scale = power_of_two_scale(band, n, stride, w);
    let ld = 2 * w;
    let mut work = vec![0.0; n * ld];
    let columns = work.chunks_exact_mut(ld).zip(band.chunks_exact(stride));
    for (j, (dst, src)) in columns.enumerate() {
        let len = (w + 1).min(n - j);
        for (x, &a) in dst[..len].iter_mut().zip(&src[..len]) {
            *x = a / scale;
        }
    }

    reduce(&mut work, n, w);

    Ok((
        diagonal(&work, ld, 0, n, scale),
        diagonal(&work, ld, 1, n - 1, scale),
    ))
}

/// Diagonal k of column-by-column storage with `stride` (entry k of each of the first
/// `count` columns), times `scale`.
fn diagonal(storage: &[f64], stride: usize, k: usize, count: usize, scale: f64) -> Vec<f64> {
    let entries = storage.iter().skip(k).step_by(stride).take(count);
    entries.map(|&x| x * scale).collect()
}

/// A power of two near the largest |entry| of the used band (1 if that is 0 or not
/// finite: then there is nothing to protect, or the NaN/infinity is to come through).
fn power_of_two_scale(band: &[f64], n: usize, stride: usize, w: usize) -> f64 {
    let max_abs = band
        .chunks_exact(stride)
        .enumerate()
        .flat_map(|(j, col)| &col[..(w + 1).min(n - j)])
        .fold(0.0f64, |acc, x| acc.max(x.abs()));
    if max_abs > 0.0 && max_abs.is_finite() {
        // Clamped so that the scale itself is a normal number (as in tridiag).
        let exponent = max_abs.log2().ceil() as i32;
        2.0f64.powi(exponent.clamp(f64::MIN_EXP, f64::MAX_EXP - 1))
    } else {
        1.0
    }
}

/// Reduces `work` (the bulge-room storage of the module doc, semi-bandwidth w >= 2,
/// stride 2w) to tridiagonal form in place, one sweep per column.
fn reduce(work: &mut [f64], n: usize, w: usize) {
    let ld = 2 * w;
    // Reflector vectors (this step's and the next) and the product A v; allocated once.
    let mut v = vec![0.0; w];
    let mut next = vec![0.0; w];
    let mut z = vec![0.0; ld];
    for s in 0..n - 2 {
        // Annihilate column s below its sub-diagonal (rows s+2..=s+m).
        let mut m = w.min(n - 1 - s);
        let mut tau = reflector(&mut work[s * ld + 1..s * ld + 1 + m], &mut v[..m]);
        let mut p = s + 1;
        loop {
            let q = p + m;
            let mr = if q < n { w.min(n - q) } else { 0 };
            let tau_next = chase_step(
                &mut work[p * ld..q * ld],
                ld,
                &v[..m],
                tau,
                &mut next[..mr],
                &mut z,
            );
            if mr == 0 {
                break;
            }
            std::mem::swap(&mut v, &mut next);
            (tau, p, m) = (tau_next, q, mr);
        }
    }
}

/// One step of the chase. The reflector H = I - τ v vᵀ acts on rows and columns
/// p..p+m, m = v.len(); `cols` holds columns p..p+m (stride `ld`, each from the
/// diagonal down), so column j is the diagonal block's column (m - j entries) followed
/// by the block below (mr = next.len() rows). Applies H from both sides to the diagonal
/// block and from the right to the block below (filling it: the bulge), then builds
/// into `next` the reflector that annihilates the bulge's first column below its first
/// entry, applies it from the left to the block's other columns, and returns its τ.
fn chase_step(
    cols: &mut [f64], ld: usize, v: &[f64], tau: f64, next: &mut [f64], z: &mut [f64],
) -> f64 {
    let m = v.len();
    let len = m + next.len();
    let z = &mut z[..len];
    // τ = 0 is H = I (the column was already reduced): only the bulge is left to do.
    // z = 0 then, so that the bulge's updates may use it unguarded.
    let apply = tau != 0.0;
    z.fill(0.0);
    if apply {
        // z = (diagonal block; block below) v: the lower half of the symmetric diagonal
        // block gives both its column (axpy) and, by symmetry, its row (dot). Two
        // columns per pass over z: half the loads and stores of z.
        let mut pairs = cols.chunks_exact(2 * ld);
        for (k, pair) in pairs.by_ref().enumerate() {
            let j = 2 * k;
            let (c0, c1) = pair.split_at(ld);
            let (c0, c1) = (&c0[..len - j], &c1[..len - j - 1]);
            z[j] += c0[0] * v[j] + dot(&c0[1..m - j], &v[j + 1..]);
            z[j + 1] += dot(&c1[1..m - j - 1], &v[j + 2..]);
            axpy2(v[j], &c0[1..], v[j + 1], c1, &mut z[j + 1..]);
        }
        let last = pairs.remainder();
        if !last.is_empty() {
            // m is odd: the last column, whose diagonal-block part is the diagonal alone.
            axpy(v[m - 1], &last[..len - (m - 1)], &mut z[m - 1..]);
        }
        // w = τ A v - ½ τ² (vᵀ A v) v makes H A H = A - v wᵀ - w vᵀ (LAPACK dlarfy);
        // the lower part, τ B v, makes B H = B - (τ B v) vᵀ.
        z.iter_mut().for_each(|x| *x *= tau);
        let alpha = -0.5 * tau * dot(&z[..m], v);
        axpy(alpha, v, &mut z[..m]);
    }
    let (w, y) = z.split_at(m);
    let (mut tau_next, mut next_y) = (0.0, 0.0);
    for (j, col) in cols.chunks_exact_mut(ld).enumerate() {
        let (diag, below) = col[..len - j].split_at_mut(m - j);
        if apply {
            rank2(diag, &v[j..], w[j], &w[j..], v[j]);
        }
        if next.is_empty() {
            continue;
        }
        if j == 0 {
            if apply {
                axpy(-v[0], y, below);
            }
            tau_next = reflector(below, next);
            if apply {
                next_y = dot(next, y);
            }
        } else if tau_next != 0.0 {
            // Both updates of this column at once: with c' = c - v_j y (from H) and
            // s = nextᵀ c' = nextᵀ c - v_j nextᵀ y, H_next c' = c - v_j y - τ_next s next.
            let s = dot(below, next) - v[j] * next_y;
            rank2(below, y, v[j], next, tau_next * s);
        } else if apply {
            axpy(-v[j], y, below);
        }
    }
    tau_next
}

/// The Householder reflector H = I - τ u uᵀ (u[0] = 1, written to `u`) with H x = β e₀;
/// overwrites x with (β, 0, …, 0) and returns τ (0 when x is already of that form).
fn reflector(x: &mut [f64], u: &mut [f64]) -> f64 {
    let (head, tail) = x.split_first_mut().expect("reflector of an empty vector");
    let alpha = *head;
    let mut xnorm = dot(tail, tail).sqrt();
    if xnorm < f64::MIN_POSITIVE.sqrt() {
        // The squares may have underflowed: recompute relative to the largest entry.
        let amax = tail.iter().fold(0.0f64, |acc, t| acc.max(t.abs()));
        if amax > 0.0 {
            let scaled: f64 = tail.iter().map(|t| (t / amax) * (t / amax)).sum();
            xnorm = amax * scaled.sqrt();
        }
    }
    u.fill(0.0);
    u[0] = 1.0;
    if xnorm == 0.0 {
        return 0.0;
    }
    // β takes the sign opposite to α so that α - β does not cancel. With the input
    // scaled to entries of at most 1, squares cannot overflow; below 1e-150 they may
    // underflow, and hypot (slower) takes over.
    let big = alpha.abs().max(xnorm);
    let norm = if big > 1e-150 && big < 1e150 {
        (alpha * alpha + xnorm * xnorm).sqrt()
    } else {
        alpha.hypot(xnorm)
    };
    let beta = -norm.copysign(alpha);
    let tau = (beta - alpha) / beta;
    // One reciprocal, unless |α - β| (>= |β|) is so small that it overflows: then divide.
    let inv = 1.0 / (alpha - beta);
    if inv.is_finite() {
        for (ui, t) in u[1..].iter_mut().zip(tail.iter_mut()) {
            *ui = *t * inv;
            *t = 0.0;
        }
    } else {
        let denom = alpha - beta;
        for (ui, t) in u[1..].iter_mut().zip(tail.iter_mut()) {
            *ui = *t / denom;
            *t = 0.0;
        }
    }
    *head = beta;
    tau
}

/// Σ x_i y_i (equal lengths), with four partial sums so that the loop vectorises.
fn dot(x: &[f64], y: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (xc, yc) = (x.chunks_exact(4), y.chunks_exact(4));
    let rest = xc.remainder().iter().zip(yc.remainder());
    let tail: f64 = rest.map(|(a, b)| a * b).sum();
    for (a, b) in xc.zip(yc) {
        for ((s, p), q) in acc.iter_mut().zip(a).zip(b) {
            *s += p * q;
        }
    }
    (acc[0] + acc[2]) + (acc[1] + acc[3]) + tail
}

/// y += a x.
fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// z += a x + b y.
fn axpy2(a: f64, x: &[f64], b: f64, y: &[f64], z: &mut [f64]) {
    for ((zi, xi), yi) in z.iter_mut().zip(x).zip(y) {
        *zi += a * xi + b * yi;
    }
}

/// a -= x β + y γ (one column of a rank-2 update).
fn rank2(a: &mut [f64], x: &[f64], beta: f64, y: &[f64], gamma: f64) {
    for ((ai, xi), yi) in a.iter_mut().zip(x).zip(y) {
        *ai -= xi * beta + yi * gamma;
    }
}
