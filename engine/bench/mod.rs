//! Kernels in isolation: correctness first, then time (GPU timestamps when the adapter
//! has them, host wall clock otherwise).

pub mod spectrum;

use anyhow::Result;
use rand::{Rng, SeedableRng};

use crate::gpu::{Batch, Gpu, Tensor};
use crate::ops::matmul::MatmulDims;
use crate::ops::{Layout, Matmul, MatmulVariant};

/// Timing statistics of repeated launches, in seconds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Timing {
    pub median_s: f64,
    pub min_s: f64,
    pub repeats: usize,
    /// "gpu-timestamps" or "host" (submit to completion, readback excluded).
    pub clock: &'static str,
}

impl Timing {
    pub fn from_samples(mut samples: Vec<f64>, clock: &'static str) -> Timing {
        samples.sort_by(|a, b| a.total_cmp(b));
        let n = samples.len();
        let median = if n % 2 == 1 {
            samples[n / 2]
        } else {
            0.5 * (samples[n / 2 - 1] + samples[n / 2])
        };
        Timing {
            median_s: median,
            min_s: samples[0],
            repeats: n,
            clock,
        }
    }
}

/// Times `repeats` launches recorded by `record`, after `warmup` untimed ones.
pub fn time_launches(
    gpu: &Gpu,
    warmup: usize,
    repeats: usize,
    mut record: impl FnMut(&mut Batch) -> Result<()>,
) -> Result<Timing> {
    let repeats = repeats.max(1);
    for _ in 0..warmup {
        let mut b = Batch::new(gpu);
        record(&mut b)?;
        b.submit()?;
    }
    if gpu.has_timestamps() {
        let mut b = Batch::timed(gpu, repeats as u32);
        for _ in 0..repeats {
            record(&mut b)?;
        }
        if let Some(times) = b.submit()? {
            if times.len() == repeats && times.iter().all(|(_, t)| *t > 0.0) {
                let samples = times.into_iter().map(|(_, t)| t).collect();
                return Ok(Timing::from_samples(samples, "gpu-timestamps"));
            }
        }
    }
    let mut samples = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let mut b = Batch::new(gpu);
        record(&mut b)?;
        let start = std::time::Instant::now();
        b.submit()?;
        samples.push(start.elapsed().as_secs_f64());
    }
    Ok(Timing::from_samples(samples, "host"))
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct MatmulBench {
    pub adapter: String,
    pub backend: String,
    pub variant: &'static str,
    pub layout: &'static str,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub timing: Timing,
    pub gflops_median: f64,
    pub gflops_best: f64,
    /// ||C - C_naive||_F / ||C_naive||_F on the same inputs.
    pub rel_error_vs_naive: f64,
    /// The same against an f64 CPU product, when m n k <= 2^31 (a second or two).
    pub rel_error_vs_f64: Option<f64>,
}

/// f64 CPU product of f32 inputs, for the bench's independent check.
fn matmul_f64(layout: Layout, m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f64> {
    // op(B) laid out as n x k rows so the inner loop is contiguous in both operands.
    let op_a: Vec<f64> = (0..m * k)
        .map(|idx| {
            let (i, p) = (idx / k, idx % k);
            (if layout.trans_a() {
                a[p * m + i]
            } else {
                a[i * k + p]
            }) as f64
        })
        .collect();
    let op_bt: Vec<f64> = (0..n * k)
        .map(|idx| {
            let (j, p) = (idx / k, idx % k);
            (if layout.trans_b() {
                b[j * k + p]
            } else {
                b[p * n + j]
            }) as f64
        })
        .collect();
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        let row = &op_a[i * k..(i + 1) * k];
        for j in 0..n {
            let col = &op_bt[j * k..(j + 1) * k];
            c[i * n + j] = row.iter().zip(col).map(|(x, y)| x * y).sum();
        }
    }
    c
}

/// Relative Frobenius distance between two equally long vectors.
pub fn rel_frobenius(got: &[f32], want: &[f32]) -> f64 {
    let (mut d2, mut w2) = (0.0f64, 0.0f64);
    for (&g, &w) in got.iter().zip(want) {
        let d = g as f64 - w as f64;
        d2 += d * d;
        w2 += (w as f64) * (w as f64);
    }
    if w2 > 0.0 {
        (d2 / w2).sqrt()
    } else {
        d2.sqrt()
    }
}

pub struct MatmulBenchArgs {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub layout: Layout,
    pub variant: MatmulVariant,
    pub repeats: usize,
    pub warmup: usize,
    pub seed: u64,
}

/// Runs `variant` on random inputs, checks it against the naive variant, then times it.
pub fn bench_matmul(gpu: &Gpu, args: &MatmulBenchArgs) -> Result<MatmulBench> {
    let (m, n, k, layout) = (args.m, args.n, args.k, args.layout);
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let mut random =
        |len: usize| -> Vec<f32> { (0..len).map(|_| rng.random_range(-1.0..1.0)).collect() };
    let a_shape = if layout.trans_a() { [k, m] } else { [m, k] };
    let b_shape = if layout.trans_b() { [n, k] } else { [k, n] };
    let a_data = random(m * k);
    let b_data = random(k * n);
    let a = Tensor::from_slice(gpu, &a_shape, &a_data)?;
    let b = Tensor::from_slice(gpu, &b_shape, &b_data)?;
    let c = Tensor::<f32>::zeros(gpu, &[m, n])?;

    let run_once = |mm: &Matmul| -> Result<Vec<f32>> {
        c.poison(gpu)?;
        let mut batch = Batch::new(gpu);
        mm.record(&mut batch, layout, 1.0, &a, &b, 0.0, &c)?;
        batch.submit()?;
        c.to_vec(gpu)
    };
    let under_test = Matmul::new(gpu, args.variant)?;
    let got = run_once(&under_test)?;
    let want = if args.variant == MatmulVariant::Naive {
        got.clone()
    } else {
        run_once(&Matmul::new(gpu, MatmulVariant::Naive)?)?
    };
    let rel_error = rel_frobenius(&got, &want);
    let rel_error_vs_f64 = ((m as u128) * (n as u128) * (k as u128) <= 1 << 31).then(|| {
        let exact = matmul_f64(layout, m, n, k, &a_data, &b_data);
        let (mut d2, mut w2) = (0.0, 0.0);
        for (&g, &w) in got.iter().zip(&exact) {
            d2 += (g as f64 - w) * (g as f64 - w);
            w2 += w * w;
        }
        if w2 > 0.0 {
            (d2 / w2).sqrt()
        } else {
            d2.sqrt()
        }
    });

    let mut dims = MatmulDims { m, n, k };
    let timing = time_launches(gpu, args.warmup, args.repeats, |batch| {
        dims = under_test.record(batch, layout, 1.0, &a, &b, 0.0, &c)?;
        Ok(())
    })?;
    Ok(MatmulBench {
        adapter: gpu.summary.name.clone(),
        backend: gpu.summary.backend.clone(),
        variant: args.variant.name(),
        layout: layout.name(),
        m,
        n,
        k,
        gflops_median: dims.flops() / timing.median_s * 1e-9,
        gflops_best: dims.flops() / timing.min_s * 1e-9,
        timing,
        rel_error_vs_naive: rel_error,
        rel_error_vs_f64,
    })
}

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
}

/// Lanczos on a matrix with eigenvalues geometrically spaced from 1 down to 1/κ.
pub fn bench_lanczos(
    gpu: &Gpu,
    n: usize,
    kappa: f64,
    precision: crate::linalg::Precision,
    seed: u64,
) -> Result<LanczosBench> {
    use crate::linalg::{dense_spectrum, LanczosOptions};
    if n == 0 || kappa.is_nan() || kappa < 1.0 {
        anyhow::bail!("bench lanczos needs n >= 1 and kappa >= 1 (got n = {n}, kappa = {kappa})");
    }
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
    })
}
