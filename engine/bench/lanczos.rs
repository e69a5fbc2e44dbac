//! `wideprobe bench lanczos`: the spectral solver on a matrix whose eigenvalues are
//! known, timed, with its errors, beside the baseline launches.

use std::fmt;

use anyhow::Result;
use rand::SeedableRng;

use super::baseline::{measure_baseline, Bandwidth, Baseline};
use super::limits::Footprint;
use crate::gpu::Gpu;
use crate::linalg::{dense_spectrum, LanczosOptions, Precision};

/// A symmetric matrix with eigenvalues `lambdas` and dense eigenvectors: diag(λ)
/// conjugated by `reflections` random Householder reflections, O(reflections·n²) on the
/// host (so that orders of several thousand build in a second).
pub fn matrix_with_spectrum(lambdas: &[f64], reflections: usize, seed: u64) -> Vec<f64> {
    use rand_distr::{Distribution, StandardNormal};
    let n = lambdas.len();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut m = vec![0.0; n * n];
    for (i, &l) in lambdas.iter().enumerate() {
        m[i * n + i] = l;
    }
    for _ in 0..reflections {
        let mut u: Vec<f64> = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
        let norm = u.iter().map(|x| x * x).sum::<f64>().sqrt();
        u.iter_mut().for_each(|x| *x /= norm);
        // H M H with H = I - 2 u uᵀ: M - 2 u pᵀ - 2 p uᵀ + 4 c u uᵀ, p = M u, c = uᵀ p.
        let p: Vec<f64> = (0..n)
            .map(|i| (0..n).map(|j| m[i * n + j] * u[j]).sum())
            .collect();
        let c: f64 = u.iter().zip(&p).map(|(a, b)| a * b).sum();
        for i in 0..n {
            for j in 0..n {
                m[i * n + j] += -2.0 * u[i] * p[j] - 2.0 * p[i] * u[j] + 4.0 * c * u[i] * u[j];
            }
        }
    }
    // Exact symmetry (rounding in the update can differ in the last bit).
    for i in 0..n {
        for j in 0..i {
            let s = 0.5 * (m[i * n + j] + m[j * n + i]);
            m[i * n + j] = s;
            m[j * n + i] = s;
        }
    }
    m
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct LanczosBench {
    pub adapter: String,
    pub n: usize,
    pub kappa: f64,
    pub precision: &'static str,
    pub lambda_max: f64,
    pub lambda_max_bound: f64,
    pub lambda_max_rel_error: f64,
    pub lambda_min: f64,
    pub lambda_min_bound: f64,
    /// |λ_min error| / λ_max (the §7 measure).
    pub lambda_min_error_over_lambda_max: f64,
    pub iterations: usize,
    pub converged: bool,
    pub seconds: f64,
    /// The matrix read once per step (the matrix-vector product), over `seconds`.
    pub bandwidth: Bandwidth,
    pub baseline: Baseline,
}

/// Launches of each baseline kernel (after one untimed).
const BASELINE_REPEATS: usize = 5;

/// The test matrix of order n with condition number κ, checked before anything is
/// allocated (`bench spectrum` too): a matrix of order 1 has κ = 1 whatever is asked
/// (another κ would be "checked" against a spectrum it cannot have), and what the bench
/// will allocate must fit the adapter and the host.
pub(super) fn check_test_matrix(
    gpu: &Gpu, n: usize, kappa: f64, element_bytes: usize,
) -> Result<()> {
    if n == 1 && kappa != 1.0 {
        anyhow::bail!("a 1 x 1 matrix has κ = 1, not {kappa}: give --n 2 or more, or --kappa 1");
    }
    Footprint::new("use a smaller --n")
        .host("the test matrix", &[n, n], 8)?
        .host("the matrix converted for upload", &[n, n], element_bytes)?
        .device("the matrix on the GPU", &[n, n], element_bytes)?
        .check(gpu)?;
    Ok(())
}

/// Lanczos on a matrix with eigenvalues geometrically spaced from 1 down to 1/κ.
pub fn bench_lanczos(
    gpu: &Gpu, n: usize, kappa: f64, precision: Precision, seed: u64,
) -> Result<LanczosBench> {
    if n == 0 || !kappa.is_finite() || kappa < 1.0 {
        anyhow::bail!(
            "bench lanczos needs n >= 1 and a finite kappa >= 1 (got n = {n}, kappa = {kappa})"
        );
    }
    let element_bytes = match precision.resolve(gpu)? {
        Precision::F64 => 8,
        _ => 4,
    };
    check_test_matrix(gpu, n, kappa, element_bytes)?;
    let lambdas: Vec<f64> = (0..n)
        .map(|i| {
            if n == 1 {
                1.0
            } else {
                kappa.powf(-(i as f64) / (n - 1) as f64)
            }
        })
        .collect();
    let a = matrix_with_spectrum(&lambdas, 3, seed);
    let opts = LanczosOptions {
        seed,
        ..Default::default()
    };
    let r = dense_spectrum(gpu, n, &a, precision, &opts)?;
    let baseline = measure_baseline(gpu, 1, BASELINE_REPEATS)?;
    let matrix_bytes = (n as f64) * (n as f64) * element_bytes as f64;
    let (lo, hi) = (1.0 / kappa, 1.0);
    Ok(LanczosBench {
        adapter: gpu.summary.name.clone(),
        n,
        kappa,
        precision: r.precision.name(),
        lambda_max: r.lambda_max(),
        lambda_max_bound: r.largest[0].bound,
        lambda_max_rel_error: (r.lambda_max() - hi).abs() / hi,
        lambda_min: r.lambda_min(),
        lambda_min_bound: r.smallest[0].bound,
        lambda_min_error_over_lambda_max: (r.lambda_min() - lo).abs() / hi,
        iterations: r.iterations,
        converged: r.converged,
        seconds: r.seconds,
        bandwidth: baseline.bandwidth(matrix_bytes * r.iterations as f64, r.seconds),
        baseline,
    })
}

impl fmt::Display for LanczosBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "lanczos n={} kappa={:e} in {} on {}: {:.3} s, {} steps{}",
            self.n,
            self.kappa,
            self.precision,
            self.adapter,
            self.seconds,
            self.iterations,
            if self.converged {
                ""
            } else {
                ", NOT CONVERGED"
            }
        )?;
        writeln!(
            f,
            "  λ_max {:.12e} ± {:.1e}, relative error {:.1e}",
            self.lambda_max, self.lambda_max_bound, self.lambda_max_rel_error
        )?;
        writeln!(
            f,
            "  λ_min {:.12e} ± {:.1e}, |error| / λ_max {:.1e}",
            self.lambda_min, self.lambda_min_bound, self.lambda_min_error_over_lambda_max
        )?;
        writeln!(f, "  {} (the matrix read once per step)", self.bandwidth)?;
        write!(f, "{}", self.baseline)
    }
}
