//! `wideprobe bench`: one kernel or one training epoch in isolation, checked, timed,
//! and reported beside the no-op launch and the copy bandwidth.

use std::fmt;

use anyhow::Result;
use clap::{Args, Subcommand};

use wideprobe::bench::train::{time_epoch, EpochShape, EpochTiming};
use wideprobe::bench::{
    bench_lanczos, bench_matmul, measure_baseline, Bandwidth, Baseline, Footprint, MatmulBenchArgs,
};
use wideprobe::experiment::training::CLASSES;
use wideprobe::gpu::{Gpu, GpuOptions};
use wideprobe::linalg::{Precision, SpectrumMethod};
use wideprobe::nn::NetworkPrecision;
use wideprobe::ops::loss::Loss;
use wideprobe::ops::{Layout, MatmulVariant};

use super::args::{condition_number, positive, repeats, warmups};
use super::output::{emit, emit_json};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// C = op(A) op(B) with random inputs; error against the naive kernel.
    Matmul(MatmulArgs),
    /// Lanczos on an n x n matrix with known eigenvalues geometrically spaced from 1
    /// down to 1/kappa: time and error of λ_max and λ_min.
    Lanczos(LanczosArgs),
    /// Time one training epoch: the gradient-descent step alone, and the epoch's
    /// measurements (NTK and Gram spectra, gradient norms), on synthetic inputs.
    Train(TrainArgs),
    /// Time `spectrum` by one method (lanczos or dense) on an n x n matrix with
    /// eigenvalues geometrically spaced from 1 down to 1/kappa, checked first; reports
    /// submissions and readbacks.
    Spectrum(SpectrumBenchArgs),
}

#[derive(Args)]
pub struct SpectrumBenchArgs {
    /// Order of the matrix (>= 1).
    #[arg(long, default_value_t = 1000, value_parser = positive)]
    n: usize,
    /// Condition number λ_max / λ_min of the matrix (finite, >= 1).
    #[arg(long, default_value_t = 1e4, value_parser = condition_number, allow_negative_numbers = true)]
    kappa: f64,
    /// auto (dense up to order 8192 when it fits the device, else Lanczos), lanczos or dense.
    #[arg(long, default_value = "auto")]
    method: SpectrumMethod,
    /// auto, f32 or f64.
    #[arg(long, default_value = "auto")]
    precision: Precision,
    /// Seed of the eigenvectors and of the start vector.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Timed runs after one warm-up (the best is reported; >= 1).
    #[arg(long, default_value_t = 3, value_parser = repeats)]
    repeat: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct MatmulArgs {
    /// Rows of C (>= 1).
    #[arg(long, default_value_t = 1024, value_parser = positive)]
    m: usize,
    /// Columns of C (>= 1).
    #[arg(long, default_value_t = 1024, value_parser = positive)]
    n: usize,
    /// Inner dimension (>= 1).
    #[arg(long, default_value_t = 1024, value_parser = positive)]
    k: usize,
    /// nn: A B, nt: A B^T, tn: A^T B, tt: A^T B^T.
    #[arg(long, default_value = "nn")]
    layout: Layout,
    /// naive, tiled (128 x 128 tiles; at most 32 rows: the transpose on skinny tiles),
    /// skinny (128 x 32, for few columns) or broadcast (16 x 32 tiles sharing A by subgroup
    /// broadcasts; for CPU drivers, needs subgroups).
    #[arg(long, default_value = "tiled")]
    variant: MatmulVariant,
    /// f32, f64, or auto (f64 where the adapter has SHADER_F64).
    #[arg(long, default_value = "f32")]
    precision: Precision,
    /// Timed launches, >= 1 (the median and minimum are reported).
    #[arg(long, default_value_t = 10, value_parser = repeats)]
    repeat: usize,
    /// Untimed launches first (pipeline warm-up, clocks).
    #[arg(long, default_value_t = 2, value_parser = warmups)]
    warmup: usize,
    /// Seed of the random inputs.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct LanczosArgs {
    /// Order of the matrix (>= 1).
    #[arg(long, default_value_t = 1000, value_parser = positive)]
    n: usize,
    /// Condition number λ_max / λ_min of the matrix (finite, >= 1).
    #[arg(long, default_value_t = 1e4, value_parser = condition_number, allow_negative_numbers = true)]
    kappa: f64,
    /// auto, f32 or f64.
    #[arg(long, default_value = "auto")]
    precision: Precision,
    /// Seed of the eigenvectors and of the start vector.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct TrainArgs {
    /// Hidden layers (>= 1).
    #[arg(long, default_value_t = 6, value_parser = positive)]
    depth: usize,
    /// Units per hidden layer (>= 1).
    #[arg(long, default_value_t = 500, value_parser = positive)]
    width: usize,
    /// Training examples (>= 1).
    #[arg(long, default_value_t = 500, value_parser = positive)]
    n: usize,
    /// mse, mse_softmax or cross_entropy.
    #[arg(long, default_value = "mse")]
    loss: Loss,
    /// auto, f32 or f64 (spectral solves).
    #[arg(long, default_value = "auto")]
    precision: Precision,
    /// f32 or f64: the network's weights, passes and update (f64 needs SHADER_F64).
    #[arg(long, default_value = "f32")]
    network_precision: NetworkPrecision,
    /// Timed steps (>= 1).
    #[arg(long, default_value_t = 10, value_parser = repeats)]
    repeat: usize,
    /// Timed measurements (>= 1).
    #[arg(long, default_value_t = 3, value_parser = repeats)]
    measure_repeat: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn bench(options: &GpuOptions, command: BenchCommand) -> Result<()> {
    let gpu = Gpu::new(options)?;
    match command {
        BenchCommand::Matmul(a) => matmul(&gpu, a),
        BenchCommand::Lanczos(a) => {
            let r = bench_lanczos(&gpu, a.n, a.kappa, a.precision, a.seed)?;
            if a.json {
                emit_json(&r)
            } else {
                emit(&r)
            }
        }
        BenchCommand::Train(a) => train(&gpu, a),
        BenchCommand::Spectrum(a) => spectrum(&gpu, a),
    }
}

fn spectrum(gpu: &Gpu, a: SpectrumBenchArgs) -> Result<()> {
    let r = wideprobe::bench::spectrum::bench_spectrum(
        gpu,
        a.n,
        a.kappa,
        a.method,
        a.precision,
        a.seed,
        a.repeat,
    )?;
    if a.json {
        return emit_json(&r);
    }
    emit(&format_args!(
        "spectrum n={} kappa={:e} {} ({} asked) in {} on {}: {:.4} s, {} steps, \
         {} submissions, {} readbacks, {:.2} GFLOP/s; λ_max rel err {:.1e}, \
         |λ_min err|/λ_max {:.1e} (bound {:.1e})\n",
        r.n,
        r.kappa,
        r.method,
        r.requested,
        r.precision,
        r.adapter,
        r.seconds,
        r.iterations,
        r.submissions,
        r.readbacks,
        r.gflops,
        r.lambda_max_rel_error,
        r.lambda_min_error_over_lambda_max,
        r.lambda_min_bound
    ))
}

fn matmul(gpu: &Gpu, a: MatmulArgs) -> Result<()> {
    let args = MatmulBenchArgs {
        m: a.m,
        n: a.n,
        k: a.k,
        layout: a.layout,
        variant: a.variant,
        repeats: a.repeat,
        warmup: a.warmup,
        seed: a.seed,
        precision: a.precision,
    };
    let r = bench_matmul(gpu, &args)?;
    if a.json {
        emit_json(&r)
    } else {
        emit(&r)
    }
}

/// `bench train`'s result: the epoch's times, the step's bandwidth and the baseline.
#[derive(serde::Serialize)]
struct TrainBench {
    #[serde(flatten)]
    epoch: EpochTiming,
    /// The step's modelled compulsory traffic (see [`step_bytes`]) per median step.
    step_bandwidth: Bandwidth,
    baseline: Baseline,
}

/// Bytes one gradient-descent step must move at least, with `element` bytes per number
/// (4 for f32, 8 for f64): the forward pass reads the inputs and every weight and writes
/// every activation; the backward pass reads every weight and activation again and writes
/// every gradient; the update reads weights and gradients and writes the weights.
fn step_bytes(depth: usize, width: usize, n: usize, element: f64) -> f64 {
    let (depth, width, n) = (depth as f64, width as f64, n as f64);
    let d = wideprobe::data::D as f64;
    let classes = CLASSES as f64;
    let params = width * d + width * width * (depth - 1.0) + classes * width;
    let activations = n * (width * depth + classes);
    element * (n * d + 6.0 * params + 2.0 * activations)
}

/// The largest buffers of a step and of its measurements, checked before any is made.
fn check_train_footprint(gpu: &Gpu, a: &TrainArgs) -> Result<()> {
    let d = wideprobe::data::D;
    let e = element_bytes(a.network_precision);
    Footprint::new("use a smaller --n or --width")
        .both("the inputs", &[a.n, d], e)?
        .device("the first layer's weights", &[a.width, d], e)?
        .device("a hidden layer's weights", &[a.width, a.width], e)?
        .device("a layer's activations", &[a.n, a.width], e)?
        .device("the Gram matrix", &[a.n, a.n], 8)?
        .check(gpu)?;
    Ok(())
}

fn element_bytes(network: NetworkPrecision) -> usize {
    match network {
        NetworkPrecision::F32 => 4,
        NetworkPrecision::F64 => 8,
    }
}

fn train(gpu: &Gpu, a: TrainArgs) -> Result<()> {
    let max_depth = wideprobe::nn::params::MAX_DEPTH;
    if a.depth > max_depth {
        anyhow::bail!(
            "--depth {} is beyond what wideprobe runs (at most {max_depth} layers): use a smaller depth",
            a.depth
        );
    }
    check_train_footprint(gpu, &a)?;
    let (depth, width, n) = (a.depth, a.width, a.n);
    let shape = EpochShape {
        depth,
        width,
        n,
        loss: a.loss,
    };
    let epoch = time_epoch(
        gpu,
        shape,
        a.precision,
        a.network_precision,
        a.repeat,
        a.measure_repeat,
    )?;
    let baseline = measure_baseline(gpu, 1, a.repeat)?;
    let bytes = step_bytes(depth, width, n, element_bytes(a.network_precision) as f64);
    let result = TrainBench {
        step_bandwidth: baseline.bandwidth(bytes, epoch.step_seconds),
        epoch,
        baseline,
    };
    if a.json {
        emit_json(&result)
    } else {
        emit(&result)
    }
}

impl fmt::Display for TrainBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.epoch;
        writeln!(
            f,
            "{}: depth {}, width {}, n {}, {}, network {}: step {:.4} s, measurements {:.4} s \
             (NTK {}, {})",
            t.adapter,
            t.depth,
            t.width,
            t.n,
            t.loss,
            t.network_precision,
            t.step_seconds,
            t.measure_seconds,
            t.ntk_method,
            t.precision
        )?;
        writeln!(
            f,
            "  step: {} (modelled compulsory traffic)",
            self.step_bandwidth
        )?;
        write!(f, "{}", self.baseline)
    }
}
