//! `wideprobe run`, `plot` and `reproduce`: experiments, their figures and the report.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;

use wideprobe::analysis::figures::draw_conditioning;
use wideprobe::analysis::figures_training::draw_training;
use wideprobe::experiment::reproduce::{findings_text, reproduce, ReproduceOptions};
use wideprobe::experiment::runner::{check_summary, run_experiment, RunOptions, SweepSummary};
use wideprobe::gpu::{Gpu, GpuOptions};

use super::output::emit;

#[derive(Args)]
pub struct RunArgs {
    /// The experiment config.
    config: PathBuf,
    /// Output directory (default: the config's `out`, else runs/<config name>).
    #[arg(long)]
    out: Option<PathBuf>,
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
}

#[derive(Args)]
pub struct ReproduceArgs {
    /// The small configs (minutes on a CPU) instead of the paper's grids.
    #[arg(long)]
    quick: bool,
    /// Output directory (default runs/reproduce or runs/reproduce-quick).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Recompute runs whose results exist.
    #[arg(long)]
    force: bool,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

/// The one-line account of a sweep.
struct SweepLine<'a>(&'a SweepSummary);

impl fmt::Display for SweepLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let diverged = if s.diverged > 0 {
            format!(" ({} of them diverged)", s.diverged)
        } else {
            String::new()
        };
        writeln!(
            f,
            "{} runs done{diverged}, {} already finished (skipped), {} failed; results in {}",
            s.done,
            s.skipped,
            s.failed.len(),
            s.out.display()
        )
    }
}

pub fn run(options: &GpuOptions, args: RunArgs) -> Result<()> {
    let gpu = Gpu::new(options)?;
    let run_options = RunOptions {
        out: args.out,
        force: args.force,
        quiet: args.quiet,
        save_tensors: args.save_tensors,
    };
    let summary = run_experiment(&gpu, &args.config, &run_options)?;
    emit(&SweepLine(&summary))?;
    check_summary(&summary)
}

pub fn plot(dir: &Path) -> Result<()> {
    if dir.join("layers.csv").exists() {
        draw_conditioning(dir)?;
    } else if dir.join("epochs.csv").exists() {
        draw_training(dir)?;
    } else {
        anyhow::bail!(
            "{} holds neither layers.csv (conditioning) nor epochs.csv (training): \
             give the output directory of a `wideprobe run`",
            dir.display()
        );
    }
    emit(&format_args!(
        "figures written to {}\n",
        dir.join("figures").display()
    ))
}

pub fn reproduce_paper(options: &GpuOptions, args: ReproduceArgs) -> Result<()> {
    let gpu = Gpu::new(options)?;
    let reproduce_options = ReproduceOptions {
        quick: args.quick,
        out: args.out,
        force: args.force,
        quiet: args.quiet,
    };
    let summary = reproduce(&gpu, &reproduce_options)?;
    emit(&format_args!(
        "{}report: {} and {}\n",
        findings_text(&summary.findings),
        summary.out.join("report.md").display(),
        summary.out.join("report.html").display()
    ))?;
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
