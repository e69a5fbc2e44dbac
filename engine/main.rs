//! The `wideprobe` command line.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use wideprobe::analysis::figures::draw_conditioning;
use wideprobe::analysis::figures_training::draw_training;
use wideprobe::bench::{bench_lanczos, bench_matmul, MatmulBenchArgs};
use wideprobe::data::fetch;
use wideprobe::experiment::reproduce::{findings_text, reproduce, ReproduceOptions};
use wideprobe::experiment::runner::{check_summary, run_experiment, RunOptions};
use wideprobe::gpu::{list_adapters, AdapterSummary, Gpu, GpuOptions};
use wideprobe::io::npy::{read_npy, NpyData};
use wideprobe::linalg::{
    spectrum_with_method, LanczosOptions, Precision, SpectrumMethod, SpectrumResult,
};
use wideprobe::ops::{Layout, MatmulVariant};

#[derive(Parser)]
#[command(
    name = "wideprobe",
    version,
    about = "GPU measurements of wide-network theory: Gram and NTK conditioning, PL constants, stability bounds"
)]
struct Cli {
    /// Adapter to use: a case-insensitive substring of its name, or a backend name
    /// (vulkan, metal, dx12, gl). Default: the high-performance adapter.
    #[arg(long, global = true, env = "WIDEPROBE_ADAPTER")]
    adapter: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every GPU adapter with its features and limits, and say which one is used.
    Info {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run one kernel in isolation: check it, then time it.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Run an experiment: a YAML config (see experiments/). Finished runs are kept;
    /// re-running skips them unless --force.
    Run {
        /// The experiment config.
        config: std::path::PathBuf,
        /// Output directory (default: the config's `out`, else runs/<config name>).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Recompute runs whose results exist.
        #[arg(long)]
        force: bool,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        /// Write each run's inputs, weights and Gram matrices as .npy (with the example
        /// indices in JSON) under runs/<id>/tensors/.
        #[arg(long)]
        save_tensors: bool,
    },
    /// Redraw the figures of a finished run directory from its CSV files.
    Plot {
        /// The run's output directory (holds layers.csv, or epochs.csv and runs.csv).
        dir: std::path::PathBuf,
    },
    /// Reproduce the paper: run the figure configs (the small ones with --quick), then
    /// write report.md and report.html with every figure and a verdict per finding.
    Reproduce {
        /// The small configs (minutes on a CPU) instead of the paper's grids.
        #[arg(long)]
        quick: bool,
        /// Output directory (default runs/reproduce or runs/reproduce-quick).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Recompute runs whose results exist.
        #[arg(long)]
        force: bool,
        /// No progress bars.
        #[arg(long)]
        quiet: bool,
    },
    /// Extreme eigenvalues of a symmetric matrix stored as a NumPy .npy file (f32 or
    /// f64, C order), by Lanczos with full reorthogonalisation or the dense solver on the GPU.
    Spectrum {
        /// The .npy file.
        file: std::path::PathBuf,
        /// auto (dense up to order 1024, else Lanczos), lanczos or dense.
        #[arg(long, default_value = "auto")]
        method: SpectrumMethod,
        /// How many eigenvalues to report at each end.
        #[arg(long, default_value_t = 1)]
        k: usize,
        /// auto (f64 where the adapter has SHADER_F64), f32 or f64.
        #[arg(long, default_value = "auto")]
        precision: Precision,
        /// Residual tolerance of λ_max, relative.
        #[arg(long, default_value_t = 1e-6)]
        tol_max: f64,
        /// Residual tolerance of λ_min, relative.
        #[arg(long, default_value_t = 1e-4)]
        tol_min: f64,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Datasets: download CIFAR-10.
    #[command(subcommand)]
    Data(DataCommand),
}

#[derive(Subcommand)]
enum DataCommand {
    /// Download the CIFAR-10 binary archive, check its MD5 and extract the six batch
    /// files. Default folder: $WIDEPROBE_DATA, else the cache
    /// (~/.cache/wideprobe/cifar-10-batches-bin), where runs look for it.
    Fetch {
        /// Destination folder (created).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
        /// Replace a destination that already holds CIFAR-10.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// C = op(A) op(B) with random inputs; error against the naive kernel.
    Matmul {
        #[arg(long, default_value_t = 1024)]
        m: usize,
        #[arg(long, default_value_t = 1024)]
        n: usize,
        #[arg(long, default_value_t = 1024)]
        k: usize,
        /// nn: A B, nt: A B^T, tn: A^T B, tt: A^T B^T.
        #[arg(long, default_value = "nn")]
        layout: Layout,
        /// naive or tiled.
        #[arg(long, default_value = "tiled")]
        variant: MatmulVariant,
        /// Timed launches (the median and minimum are reported).
        #[arg(long, default_value_t = 10)]
        repeat: usize,
        /// Untimed launches first (pipeline warm-up, clocks).
        #[arg(long, default_value_t = 2)]
        warmup: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Lanczos on an n x n matrix with known eigenvalues geometrically spaced from 1
    /// down to 1/kappa: time and error of λ_max and λ_min.
    /// Time one training epoch: the gradient-descent step alone, and the epoch's
    /// measurements (NTK and Gram spectra, gradient norms), on synthetic inputs.
    Train {
        #[arg(long, default_value_t = 6)]
        depth: usize,
        #[arg(long, default_value_t = 500)]
        width: usize,
        #[arg(long, default_value_t = 500)]
        n: usize,
        /// mse, mse_softmax or cross_entropy.
        #[arg(long, default_value = "mse")]
        loss: wideprobe::ops::loss::Loss,
        /// auto, f32 or f64 (spectral solves).
        #[arg(long, default_value = "auto")]
        precision: Precision,
        /// Timed steps.
        #[arg(long, default_value_t = 10)]
        repeat: usize,
        /// Timed measurements.
        #[arg(long, default_value_t = 3)]
        measure_repeat: usize,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Time `spectrum` by one method on an n x n matrix with eigenvalues geometrically
    /// spaced from 1 down to 1/kappa (checked first).
    Spectrum {
        #[arg(long, default_value_t = 1000)]
        n: usize,
        #[arg(long, default_value_t = 1e4)]
        kappa: f64,
        /// auto, lanczos or dense.
        #[arg(long, default_value = "auto")]
        method: SpectrumMethod,
        /// auto, f32 or f64.
        #[arg(long, default_value = "auto")]
        precision: Precision,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Timed runs after one warm-up (the best is reported).
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    Lanczos {
        #[arg(long, default_value_t = 1000)]
        n: usize,
        #[arg(long, default_value_t = 1e4)]
        kappa: f64,
        /// auto, f32 or f64.
        #[arg(long, default_value = "auto")]
        precision: Precision,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn print_adapter(s: &AdapterSummary, chosen: bool) {
    let mib = |b: u64| b as f64 / 1048576.0;
    println!(
        "{} [{}] {}  ({}, {})",
        if chosen { "*" } else { " " },
        s.index,
        s.name,
        s.backend,
        s.device_type
    );
    println!("      driver: {} {}", s.driver, s.driver_info);
    println!(
        "      features: {}",
        if s.features.is_empty() {
            "none of the optional ones".to_string()
        } else {
            s.features.join(", ")
        }
    );
    println!(
        "      limits: storage binding {:.0} MiB, buffer {:.0} MiB, workgroup memory {} KiB, \
         {} invocations/workgroup, {} workgroups/dimension, subgroup size {}..{}",
        mib(s.max_storage_buffer_binding_size),
        mib(s.max_buffer_size),
        s.max_compute_workgroup_storage_size / 1024,
        s.max_compute_invocations_per_workgroup,
        s.max_compute_workgroups_per_dimension,
        s.subgroup_min_size,
        s.subgroup_max_size
    );
}

fn info(options: &GpuOptions, json: bool) -> Result<()> {
    let adapters = list_adapters();
    let gpu = Gpu::new(options)?;
    let chosen = gpu.summary.index;
    if json {
        let out = serde_json::json!({ "adapters": adapters, "chosen": chosen });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("{} adapter(s):", adapters.len());
    for s in &adapters {
        print_adapter(s, s.index == chosen);
    }
    let why = match &options.adapter {
        Some(a) => format!("matches \"{a}\""),
        None => "default: high performance".to_string(),
    };
    println!("using [{chosen}] {} ({why})", gpu.summary.name);
    println!(
        "spectral precision available: {}",
        if gpu.has_f64() {
            "f64 (SHADER_F64)"
        } else {
            "f32 only (no SHADER_F64)"
        }
    );
    Ok(())
}

/// Reads a symmetric matrix from .npy, with a clear error for anything else.
fn read_symmetric(path: &std::path::Path) -> Result<(usize, Vec<f64>)> {
    let array = read_npy(path)?;
    let n = match array.shape[..] {
        [r, c] if r == c && r > 0 => r,
        _ => anyhow::bail!(
            "{}: expected a square matrix, got shape {:?}",
            path.display(),
            array.shape
        ),
    };
    // Symmetric to the storage precision: BLAS products X Xᵀ need not be bitwise symmetric.
    let tolerance = match array.data {
        NpyData::F32(_) => 1e-5,
        NpyData::F64(_) => 1e-12,
    };
    let data = array.to_f64();
    if let Some(bad) = data.iter().find(|x| !x.is_finite()) {
        anyhow::bail!("{}: the matrix contains {bad}", path.display());
    }
    let scale = data.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let mut worst = (0.0, 0, 0);
    for i in 0..n {
        for j in 0..i {
            let d = (data[i * n + j] - data[j * n + i]).abs();
            if d > worst.0 {
                worst = (d, i, j);
            }
        }
    }
    if worst.0 > tolerance * scale {
        let (d, i, j) = worst;
        anyhow::bail!(
            "{}: the matrix is not symmetric: |A[{i},{j}] - A[{j},{i}]| = {d:e} (largest entry {scale:e}); \
             symmetrise it first, e.g. (A + A.T) / 2",
            path.display()
        );
    }
    Ok((n, data))
}

fn print_spectrum(r: &SpectrumResult, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    println!(
        "order {}, {} in {}, {} steps{}, {:.3} s{}",
        r.order,
        r.method,
        r.precision.name(),
        r.iterations,
        if r.restarts > 0 {
            format!(" ({} restarts)", r.restarts)
        } else {
            String::new()
        },
        r.seconds,
        if r.converged { "" } else { ", NOT CONVERGED" }
    );
    println!("  {} submissions, {} readbacks", r.submissions, r.readbacks);
    for (label, list) in [("largest", &r.largest), ("smallest", &r.smallest)] {
        for (i, e) in list.iter().enumerate() {
            println!(
                "  {label} {}: {:.12e}  ± {:.2e}{}",
                i + 1,
                e.value,
                e.bound,
                if e.converged { "" } else { " (not converged)" }
            );
        }
    }
    println!(
        "  kappa = {:.6e}, log10 kappa = {:.4}",
        r.kappa(),
        r.kappa().log10()
    );
    for note in &r.notes {
        println!("  note: {note}");
    }
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    let options = GpuOptions {
        adapter: cli.adapter,
    };
    match cli.command {
        Command::Info { json } => info(&options, json),
        Command::Bench(BenchCommand::Matmul {
            m,
            n,
            k,
            layout,
            variant,
            repeat,
            warmup,
            seed,
            json,
        }) => {
            let gpu = Gpu::new(&options)?;
            let r = bench_matmul(
                &gpu,
                &MatmulBenchArgs {
                    m,
                    n,
                    k,
                    layout,
                    variant,
                    repeats: repeat,
                    warmup,
                    seed,
                },
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "matmul {} {} m={} n={} k={} on {} ({})",
                    r.variant, r.layout, m, n, k, r.adapter, r.backend
                );
                println!(
                    "  median {:.3} ms, min {:.3} ms over {} runs ({} clock)",
                    r.timing.median_s * 1e3,
                    r.timing.min_s * 1e3,
                    r.timing.repeats,
                    r.timing.clock
                );
                println!(
                    "  {:.2} GFLOP/s median, {:.2} GFLOP/s best",
                    r.gflops_median, r.gflops_best
                );
                println!(
                    "  relative Frobenius error vs naive: {:.2e}",
                    r.rel_error_vs_naive
                );
                match r.rel_error_vs_f64 {
                    Some(e) => println!("  relative Frobenius error vs f64 CPU product: {e:.2e}"),
                    None => println!("  (no f64 CPU check: m n k > 2^31)"),
                }
            }
            Ok(())
        }
        Command::Run {
            config,
            out,
            force,
            quiet,
            save_tensors,
        } => {
            let gpu = Gpu::new(&options)?;
            let summary = run_experiment(
                &gpu,
                &config,
                &RunOptions {
                    out,
                    force,
                    quiet,
                    save_tensors,
                },
            )?;
            let diverged = if summary.diverged > 0 {
                format!(" ({} of them diverged)", summary.diverged)
            } else {
                String::new()
            };
            println!(
                "{} runs done{diverged}, {} already finished (skipped), {} failed; results in {}",
                summary.done,
                summary.skipped,
                summary.failed.len(),
                summary.out.display()
            );
            check_summary(&summary)
        }
        Command::Data(DataCommand::Fetch { dir, force }) => {
            let dest = match dir {
                Some(d) => d,
                None => fetch::default_dest()?,
            };
            let dest = fetch::fetch_cifar10(&fetch::FetchSource::official(), &dest, force)?;
            println!("CIFAR-10 written to {}", dest.display());
            Ok(())
        }
        Command::Plot { dir } => {
            if dir.join("layers.csv").exists() {
                draw_conditioning(&dir)?;
            } else if dir.join("epochs.csv").exists() {
                draw_training(&dir)?;
            } else {
                anyhow::bail!(
                    "{} holds neither layers.csv (conditioning) nor epochs.csv (training): \
                     give the output directory of a `wideprobe run`",
                    dir.display()
                );
            }
            println!("figures written to {}", dir.join("figures").display());
            Ok(())
        }
        Command::Reproduce {
            quick,
            out,
            force,
            quiet,
        } => {
            let gpu = Gpu::new(&options)?;
            let summary = reproduce(
                &gpu,
                &ReproduceOptions {
                    quick,
                    out,
                    force,
                    quiet,
                },
            )?;
            print!("{}", findings_text(&summary.findings));
            println!(
                "report: {} and {}",
                summary.out.join("report.md").display(),
                summary.out.join("report.html").display()
            );
            let failed: Vec<String> = summary
                .sweeps
                .iter()
                .filter_map(|(name, r)| r.as_ref().err().map(|e| format!("{name}: {e}")))
                .collect();
            if !failed.is_empty() {
                anyhow::bail!(
                    "some experiments failed (their finished runs are in the report):\n{}",
                    failed.join("\n")
                );
            }
            Ok(())
        }
        Command::Spectrum {
            file,
            method,
            k,
            precision,
            tol_max,
            tol_min,
            seed,
            json,
        } => {
            let (n, data) = read_symmetric(&file)?;
            let gpu = Gpu::new(&options)?;
            let opts = LanczosOptions {
                tol_max,
                tol_min,
                k,
                seed,
                ..Default::default()
            };
            let r = spectrum_with_method(&gpu, n, &data, precision, method, &opts)?;
            print_spectrum(&r, json)
        }
        Command::Bench(BenchCommand::Train {
            depth,
            width,
            n,
            loss,
            precision,
            repeat,
            measure_repeat,
            json,
        }) => {
            let gpu = Gpu::new(&options)?;
            let t = wideprobe::experiment::training::time_epoch(
                &gpu,
                depth,
                width,
                n,
                loss,
                precision,
                repeat,
                measure_repeat,
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&t)?);
            } else {
                println!(
                    "{}: depth {depth}, width {width}, n {n}, {}: step {:.4} s, measurements {:.4} s (NTK {}, {})",
                    t.adapter, t.loss, t.step_seconds, t.measure_seconds, t.ntk_method, t.precision
                );
            }
            Ok(())
        }
        Command::Bench(BenchCommand::Spectrum {
            n,
            kappa,
            method,
            precision,
            seed,
            repeat,
            json,
        }) => {
            let gpu = Gpu::new(&options)?;
            let r = wideprobe::bench::spectrum::bench_spectrum(
                &gpu, n, kappa, method, precision, seed, repeat,
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "spectrum n={} kappa={:e} {} ({} asked) in {} on {}: {:.4} s, {} steps, \
                     {} submissions, {} readbacks, {:.2} GFLOP/s; λ_max rel err {:.1e}, \
                     |λ_min err|/λ_max {:.1e} (bound {:.1e})",
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
                );
            }
            Ok(())
        }
        Command::Bench(BenchCommand::Lanczos {
            n,
            kappa,
            precision,
            seed,
            json,
        }) => {
            let gpu = Gpu::new(&options)?;
            let r = bench_lanczos(&gpu, n, kappa, precision, seed)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "lanczos n={} kappa={:e} in {} on {}: {:.3} s, {} steps{}",
                    r.n,
                    r.kappa,
                    r.precision,
                    r.adapter,
                    r.seconds,
                    r.iterations,
                    if r.converged { "" } else { ", NOT CONVERGED" }
                );
                println!(
                    "  λ_max {:.12e} ± {:.1e}, relative error {:.1e}",
                    r.lambda_max, r.lambda_max_bound, r.lambda_max_rel_error
                );
                println!(
                    "  λ_min {:.12e} ± {:.1e}, |error| / λ_max {:.1e}",
                    r.lambda_min, r.lambda_min_bound, r.lambda_min_error_over_lambda_max
                );
            }
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
