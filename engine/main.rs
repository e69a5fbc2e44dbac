//! The `wideprobe` command line: parses the arguments and hands each command to its
//! function in `cli/`.

mod cli;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use cli::bench::BenchCommand;
use cli::experiment::{ReproduceArgs, RunArgs};
use cli::output::StdoutClosed;
use cli::spectrum::SpectrumArgs;
use wideprobe::gpu::GpuOptions;

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
    /// Run one kernel in isolation: check it, then time it beside a no-op launch and
    /// a copy's bandwidth.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Run an experiment: a YAML config (see experiments/). Finished runs are kept;
    /// re-running skips them unless --force.
    Run(RunArgs),
    /// Redraw the figures of a finished run directory from its CSV files.
    Plot {
        /// The run's output directory (holds layers.csv, or epochs.csv and runs.csv).
        dir: PathBuf,
    },
    /// Reproduce the paper: run the figure configs (the small ones with --quick), then
    /// write report.md and report.html with every figure and a verdict per finding.
    Reproduce(ReproduceArgs),
    /// Extreme eigenvalues of a symmetric matrix stored as a NumPy .npy file (f32 or
    /// f64, C order), on the GPU: by the dense eigensolver or by Lanczos (--method).
    Spectrum(SpectrumArgs),
    /// Datasets: download CIFAR-10.
    #[command(subcommand)]
    Data(DataCommand),
    /// Run a sweep on a Slurm cluster: submit a job array (one task per shard) and a
    /// merge job after it.
    Slurm(wideprobe::cluster::slurm::SlurmArgs),
    /// Each run of a sweep's output folder: done, diverged, failed, running (claimed, with
    /// host and heartbeat age), stale (other settings) or missing; exits non-zero while
    /// any run is not finished.
    Status {
        /// The sweep's output folder (holds config.yaml).
        dir: PathBuf,
    },
    /// Rebuild a sweep's tables, manifest and figures (and, for a `reproduce` folder,
    /// the report) from whatever runs are finished.
    Merge {
        /// The output folder of `run`, `slurm` or `reproduce`.
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum DataCommand {
    /// Download the CIFAR-10 binary archive, check its MD5 and extract the six batch
    /// files. Default folder: $WIDEPROBE_DATA, else the cache
    /// (~/.cache/wideprobe/cifar-10-batches-bin), where runs look for it.
    Fetch {
        /// Destination folder (created).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Replace a destination that already holds CIFAR-10.
        #[arg(long)]
        force: bool,
    },
}

fn run(cli: Cli) -> Result<()> {
    let options = GpuOptions {
        adapter: cli.adapter,
    };
    match cli.command {
        Command::Info { json } => cli::info::info(&options, json),
        Command::Bench(command) => cli::bench::bench(&options, command),
        Command::Run(args) => cli::experiment::run(&options, args),
        Command::Plot { dir } => cli::experiment::plot(&dir),
        Command::Reproduce(args) => cli::experiment::reproduce_paper(&options, args),
        Command::Spectrum(args) => cli::spectrum::spectrum(&options, args),
        Command::Data(DataCommand::Fetch { dir, force }) => cli::data::fetch_cifar10(dir, force),
        Command::Slurm(args) => cli::experiment::slurm(&args),
        Command::Status { dir } => cli::experiment::status(&dir),
        Command::Merge { dir } => cli::experiment::merge(&dir),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output has gone (`| head`): nothing left to do.
        Err(e) if e.downcast_ref::<StdoutClosed>().is_some() => ExitCode::SUCCESS,
        Err(e) => {
            // Not eprintln!: it panics when standard error is a closed pipe too.
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every subcommand and every flag says what it is in `--help`, and each
    /// subcommand's text is its own (a doc comment once sat on the wrong variant).
    #[test]
    fn every_subcommand_and_argument_has_help() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                if arg.get_help().is_none() {
                    missing.push(format!("{path} --{}", arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                let path = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(path.clone());
                }
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "wideprobe", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:?}");
        Cli::command().debug_assert();
    }
}
