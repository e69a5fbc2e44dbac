//! The `wideprobe` command line.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use wideprobe::experiment::bench::{bench_matmul, MatmulBenchArgs};
use wideprobe::gpu::{list_adapters, AdapterSummary, Gpu, GpuOptions};
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
