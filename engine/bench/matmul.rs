//! `wideprobe bench matmul`: one matmul variant on random inputs, checked against the
//! naive variant (and an f64 CPU product when small), then timed beside the baseline.

use std::fmt;

use anyhow::Result;
use rand::{Rng, SeedableRng};

use super::baseline::{measure_baseline, Bandwidth, Baseline};
use super::limits::Footprint;
use super::timing::{time_launches, Timing};
use crate::gpu::{Batch, Gpu, Tensor};
use crate::linalg::Precision;
use crate::ops::matmul::MatmulDims;
use crate::ops::{Layout, Matmul, MatmulVariant, Real};

/// Largest m n k checked against the f64 CPU product (a second or two).
const F64_CHECK_MAX_MNK: u128 = 1 << 31;

#[derive(Clone, Debug, serde::Serialize)]
pub struct MatmulBench {
    pub adapter: String,
    pub backend: String,
    pub variant: &'static str,
    pub layout: &'static str,
    /// The element type of A, B, C and the sums: f32 or f64.
    pub precision: &'static str,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub timing: Timing,
    pub gflops_median: f64,
    pub gflops_best: f64,
    /// Compulsory traffic (A and B read once, C written once) per median launch.
    pub bandwidth: Bandwidth,
    pub baseline: Baseline,
    /// ||C - C_naive||_F / ||C_naive||_F on the same inputs.
    pub rel_error_vs_naive: f64,
    /// The same against an f64 CPU product, when m n k <= 2^31 (a second or two).
    pub rel_error_vs_f64: Option<f64>,
}

/// `x` as `rows` x `cols` f64 rows: `x` itself (stored `rows` x `cols`) or, when
/// `transposed`, the transpose of `x` stored `cols` x `rows`.
fn rows_f64(x: &[f64], rows: usize, cols: usize, transposed: bool) -> Vec<f64> {
    (0..rows * cols)
        .map(|idx| {
            let (i, p) = (idx / cols, idx % cols);
            if transposed {
                x[p * rows + i]
            } else {
                x[i * cols + p]
            }
        })
        .collect()
}

/// f64 CPU product of the inputs, for the bench's independent check.
fn matmul_f64(layout: Layout, m: usize, n: usize, k: usize, a: &[f64], b: &[f64]) -> Vec<f64> {
    // op(B) laid out as n x k rows (op(B)ᵀ) so the inner loop is contiguous in both
    // operands: that is B as stored when B is transposed, else B read transposed.
    let op_a = rows_f64(a, m, k, layout.trans_a());
    let op_bt = rows_f64(b, n, k, !layout.trans_b());
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

/// Relative Frobenius distance between two equally long vectors (in f64 whatever their
/// precisions).
pub fn rel_frobenius<T: Copy + Into<f64>, U: Copy + Into<f64>>(got: &[T], want: &[U]) -> f64 {
    let (mut d2, mut w2) = (0.0f64, 0.0f64);
    for (&g, &w) in got.iter().zip(want) {
        let (g, w): (f64, f64) = (g.into(), w.into());
        d2 += (g - w) * (g - w);
        w2 += w * w;
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
    /// f32 or f64 (`Auto`: f64 where the adapter has SHADER_F64).
    pub precision: Precision,
}

/// What the bench will allocate, checked before any of it is.
fn footprint(gpu: &Gpu, args: &MatmulBenchArgs, element: usize) -> Result<()> {
    let (m, n, k) = (args.m, args.n, args.k);
    anyhow::ensure!(
        m >= 1 && n >= 1 && k >= 1,
        "bench matmul needs m, n, k >= 1 (got m = {m}, n = {n}, k = {k})"
    );
    let mut footprint = Footprint::new("use smaller --m, --n and --k")
        .both("A", &[m, k], element)?
        .both("B", &[k, n], element)?
        .both("C", &[m, n], element)?
        .host("the naive product C_naive", &[m, n], element)?;
    if (m as u128) * (n as u128) * (k as u128) <= F64_CHECK_MAX_MNK {
        footprint = footprint
            .host("op(A) in f64", &[m, k], 8)?
            .host("op(B) in f64", &[k, n], 8)?
            .host("the f64 product", &[m, n], 8)?;
    }
    Ok(footprint.check(gpu)?)
}

/// Runs `variant` in the precision asked for on random inputs, checks it against the
/// naive variant, then times it.
pub fn bench_matmul(gpu: &Gpu, args: &MatmulBenchArgs) -> Result<MatmulBench> {
    match args.precision.resolve(gpu)? {
        Precision::F64 => bench_matmul_in::<f64>(gpu, args),
        _ => bench_matmul_in::<f32>(gpu, args),
    }
}

fn bench_matmul_in<T: Real + From<f32>>(gpu: &Gpu, args: &MatmulBenchArgs) -> Result<MatmulBench> {
    let element = std::mem::size_of::<T>();
    footprint(gpu, args, element)?;
    let (m, n, k, layout) = (args.m, args.n, args.k, args.layout);
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    // f32 values in both precisions, so that a seed gives the same inputs in each.
    let mut random = |len: usize| -> Vec<T> {
        (0..len)
            .map(|_| T::from(rng.random_range(-1.0f32..1.0)))
            .collect()
    };
    let a_shape = if layout.trans_a() { [k, m] } else { [m, k] };
    let b_shape = if layout.trans_b() { [n, k] } else { [k, n] };
    let a_data = random(m * k);
    let b_data = random(k * n);
    let a = Tensor::from_slice(gpu, &a_shape, &a_data)?;
    let b = Tensor::from_slice(gpu, &b_shape, &b_data)?;
    let c = Tensor::<T>::zeros(gpu, &[m, n])?;

    let run_once = |mm: &Matmul<T>| -> Result<Vec<T>> {
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
    drop(want);
    let rel_error_vs_f64 =
        ((m as u128) * (n as u128) * (k as u128) <= F64_CHECK_MAX_MNK).then(|| {
            let wide = |x: &[T]| x.iter().map(|&v| v.into()).collect::<Vec<f64>>();
            let want = matmul_f64(layout, m, n, k, &wide(&a_data), &wide(&b_data));
            rel_frobenius(&got, &want)
        });

    let mut dims = MatmulDims { m, n, k };
    let timing = time_launches(gpu, args.warmup, args.repeats, |batch| {
        dims = under_test.record(batch, layout, 1.0, &a, &b, 0.0, &c)?;
        Ok(())
    })?;
    let baseline = measure_baseline(gpu, args.warmup, args.repeats)?;
    let bytes = element as f64 * (m as f64 * k as f64 + k as f64 * n as f64 + m as f64 * n as f64);
    Ok(MatmulBench {
        adapter: gpu.summary.name.clone(),
        backend: gpu.summary.backend.clone(),
        variant: args.variant.name(),
        layout: layout.name(),
        precision: T::NAME,
        m,
        n,
        k,
        gflops_median: dims.flops() / timing.median_s * 1e-9,
        gflops_best: dims.flops() / timing.min_s * 1e-9,
        bandwidth: baseline.bandwidth(bytes, timing.median_s),
        baseline,
        timing,
        rel_error_vs_naive: rel_error,
        rel_error_vs_f64,
    })
}

impl fmt::Display for MatmulBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "matmul {} {} {} m={} n={} k={} on {} ({})",
            self.variant,
            self.layout,
            self.precision,
            self.m,
            self.n,
            self.k,
            self.adapter,
            self.backend
        )?;
        writeln!(
            f,
            "  median {:.3} ms, min {:.3} ms over {} runs ({} clock)",
            self.timing.median_s * 1e3,
            self.timing.min_s * 1e3,
            self.timing.repeats,
            self.timing.clock
        )?;
        writeln!(
            f,
            "  {:.2} GFLOP/s median, {:.2} GFLOP/s best",
            self.gflops_median, self.gflops_best
        )?;
        writeln!(
            f,
            "  {} (A and B read once, C written once)",
            self.bandwidth
        )?;
        write!(f, "{}", self.baseline)?;
        writeln!(
            f,
            "  relative Frobenius error vs naive: {:.2e}",
            self.rel_error_vs_naive
        )?;
        match self.rel_error_vs_f64 {
            Some(e) => writeln!(f, "  relative Frobenius error vs f64 CPU product: {e:.2e}"),
            None => writeln!(f, "  (no f64 CPU check: m n k > 2^31)"),
        }
    }
}
