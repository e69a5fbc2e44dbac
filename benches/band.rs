//! `cargo bench --bench band`: the host stages of the two-stage dense eigensolver on
//! random symmetric band matrices, for n in {300, 1000, 2000} and b in {8, 16, 32, 64}:
//! the band → tridiagonal reduction (`linalg::band::band_to_tridiagonal`) and the
//! eigenvalues of the tridiagonal it gives, by the implicit QL with rotations
//! (`linalg::tridiag::tridiag_eigen`) and by the root-free QL the dense solver runs
//! (`linalg::tridiag::tridiag_eigenvalues`). Each case is checked first (trace and
//! Frobenius norm preserved to rounding), then timed: median and minimum of several
//! calls, with GFLOP/s counted at the reduction's ~6 n² b flops; the two QLs' medians
//! beside it. Host only: no GPU is needed.

use std::time::Instant;

use anyhow::{ensure, Result};
use rand::{Rng, SeedableRng};
use wideprobe::linalg::band::band_to_tridiagonal;
use wideprobe::linalg::tridiag::{tridiag_eigen, tridiag_eigenvalues};

fn main() -> Result<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    println!(
        "{:>5} {:>3} {:>10} {:>10} {:>8} {:>9} {:>10} {:>14}",
        "n", "b", "median ms", "min ms", "GFLOP/s", "rel err", "QL ms", "root-free ms"
    );
    for n in [300, 1000, 2000] {
        for b in [8, 16, 32, 64] {
            let band: Vec<f64> = (0..n * (b + 1))
                .map(|_| rng.random_range(-1.0..1.0))
                .collect();
            let err = invariant_error(&band, n, b)?;
            ensure!(err < 1e-12, "n {n}, b {b}: trace or norm off by {err:.1e}");
            let times = timed(|| band_to_tridiagonal(&band, n, b).map(|_| ()))?;
            let (d, e) = band_to_tridiagonal(&band, n, b)?;
            let ql = timed(|| tridiag_eigen(&d, &e, false).map(|_| ()))?;
            let root_free = timed(|| tridiag_eigenvalues(&d, &e).map(|_| ()))?;
            let median = times[times.len() / 2];
            let flops = 6.0 * (n * n * b) as f64;
            println!(
                "{n:>5} {b:>3} {:>10.2} {:>10.2} {:>8.2} {err:>9.1e} {:>10.2} {:>14.2}",
                median * 1e3,
                times[0] * 1e3,
                flops / median / 1e9,
                ql[ql.len() / 2] * 1e3,
                root_free[root_free.len() / 2] * 1e3,
            );
        }
    }
    Ok(())
}

/// Seconds per call of `f`, sorted: enough calls for about a second, at least 5.
fn timed(mut f: impl FnMut() -> Result<()>) -> Result<Vec<f64>> {
    let first = Instant::now();
    f()?;
    let repeats = (1.0 / first.elapsed().as_secs_f64()).clamp(5.0, 200.0) as usize;
    let mut times: Vec<f64> = (0..repeats)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f())?;
            Ok(start.elapsed().as_secs_f64())
        })
        .collect::<Result<_>>()?;
    times.sort_by(f64::total_cmp);
    Ok(times)
}

/// The larger relative error of the two invariants of an orthogonal similarity that the
/// tridiagonal shows directly: the trace and the Frobenius norm.
fn invariant_error(band: &[f64], n: usize, b: usize) -> Result<f64> {
    let (d, e) = band_to_tridiagonal(band, n, b)?;
    let (mut trace, mut fro2) = (0.0, 0.0);
    for (j, col) in band.chunks_exact(b + 1).enumerate() {
        let used = &col[..(b + 1).min(n - j)];
        trace += used[0];
        fro2 += used[0] * used[0] + 2.0 * used[1..].iter().map(|x| x * x).sum::<f64>();
    }
    let got_trace: f64 = d.iter().sum();
    let got_fro2 =
        d.iter().map(|x| x * x).sum::<f64>() + 2.0 * e.iter().map(|x| x * x).sum::<f64>();
    let fro = fro2.sqrt();
    Ok(((got_trace - trace).abs() / fro).max((got_fro2 - fro2).abs() / fro2))
}
