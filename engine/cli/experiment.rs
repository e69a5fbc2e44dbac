//! `wideprobe run`, `plot` and `reproduce`: experiments, their figures and the report.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::Args;

use wideprobe::analysis::figures::draw_conditioning;
use wideprobe::analysis::figures_training::draw_training;
use wideprobe::experiment::config::parse_config;
use wideprobe::experiment::reproduce::{findings_text, reproduce, ReproduceOptions};
use wideprobe::experiment::runner::{
    check_summary, ensure_data, run_experiment, RunOptions, SweepSummary,
};
use wideprobe::experiment::status::RunState;
use wideprobe::gpu::{Gpu, GpuOptions};

use super::output::{aside, emit};

/// What `run` and `reproduce` share: where the results go and how they are computed.
#[derive(Args)]
pub struct SweepArgs {
    /// Output directory (default: for `run` the config's `out`, else runs/<config
    /// name>; for `reproduce` runs/reproduce or runs/reproduce-quick).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Recompute runs whose results exist.
    #[arg(long)]
    force: bool,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
    /// Never download CIFAR-10: without it, `dataset: auto` uses synthetic data (the
    /// report says so) and `dataset: cifar10` is an error.
    #[arg(long)]
    offline: bool,
}

#[derive(Args)]
pub struct RunArgs {
    /// The experiment config.
    config: PathBuf,
    #[command(flatten)]
    sweep: SweepArgs,
    /// Write each run's inputs, weights and Gram matrices as .npy (with the example
    /// indices in JSON) under runs/<id>/tensors/.
    #[arg(long)]
    save_tensors: bool,
    /// Compute only the runs whose index mod N is I (0 <= I < N), e.g. `--shard 0/4`;
    /// default from WIDEPROBE_SHARDS / SLURM_ARRAY_TASK_ID inside a Slurm array.
    #[arg(long, value_parser = wideprobe::cluster::parse_shard)]
    shard: Option<(usize, usize)>,
}

#[derive(Args)]
pub struct ReproduceArgs {
    /// The small configs (minutes on a CPU) instead of the paper's grids.
    #[arg(long)]
    quick: bool,
    #[command(flatten)]
    sweep: SweepArgs,
}

/// The one-line account of a sweep.
struct SweepLine<'a>(&'a SweepSummary);

impl fmt::Display for SweepLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let diverged = aside(s.diverged, |n| format!("{n} of them diverged"));
        if !s.stale.is_empty() {
            let mut why: Vec<&str> = s
                .stale
                .iter()
                .flat_map(|(_, k)| k.iter().map(String::as_str))
                .collect();
            why.sort();
            why.dedup();
            writeln!(
                f,
                "{} finished runs were recomputed: they were computed under other settings ({})",
                s.stale.len(),
                why.join(", ")
            )?;
        }
        if !s.claimed_elsewhere.is_empty() {
            writeln!(
                f,
                "{} runs are being computed by other processes sharing the folder (first: {}, {})",
                s.claimed_elsewhere.len(),
                s.claimed_elsewhere[0].0,
                s.claimed_elsewhere[0].1
            )?;
        }
        if s.other_shards > 0 {
            writeln!(f, "{} runs belong to other shards", s.other_shards)?;
        }
        if s.stopped {
            writeln!(
                f,
                "stopped early on a signal; the finished runs are written"
            )?;
        }
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

/// `wideprobe status DIR`: one line per run; fails while any run is not finished.
pub fn status(dir: &Path) -> Result<()> {
    let (runs, note) = wideprobe::experiment::status::sweep_status_noted(dir)?;
    let mut text = String::new();
    if let Some(note) = note {
        text.push_str(&format!("note: {note}\n"));
    }
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for r in &runs {
        *counts.entry(r.state.label()).or_default() += 1;
        let detail = match &r.state {
            RunState::Failed(e) => format!("  {}", e.lines().next().unwrap_or("")),
            RunState::Running(who, age) => format!("  {who}, heartbeat {age} s ago"),
            RunState::Stale(keys) => {
                format!("  computed under other settings: {}", keys.join(", "))
            }
            _ => String::new(),
        };
        text.push_str(&format!(
            "{:>5}  {:<9} {}{detail}\n",
            r.index,
            r.state.label(),
            r.id
        ));
    }
    let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    text.push_str(&format!("{} runs: {}\n", runs.len(), summary.join(", ")));
    emit(&text)?;
    let open = runs.iter().filter(|r| !r.state.finished()).count();
    if open > 0 {
        anyhow::bail!("{open} of {} runs are not finished", runs.len());
    }
    Ok(())
}

/// `wideprobe merge DIR`: rebuilds the tables, figures and report from what is finished.
pub fn merge(dir: &Path) -> Result<()> {
    let merged = wideprobe::experiment::status::merge(dir)?;
    for d in merged {
        emit(&format_args!("merged {}\n", d.display()))?;
    }
    Ok(())
}

pub fn run(options: &GpuOptions, args: RunArgs) -> Result<()> {
    let shard = match args.shard {
        Some(s) => Some(s),
        None => wideprobe::cluster::try_shard_from_env()?,
    };
    // SIGUSR1/SIGTERM (Slurm's warning before the time limit) stop between runs.
    wideprobe::cluster::install_stop_handlers()?;
    let gpu = Gpu::new(options)?;
    let run_options = RunOptions {
        out: args.sweep.out,
        force: args.sweep.force,
        quiet: args.sweep.quiet,
        save_tensors: args.save_tensors,
        shard,
        offline: args.sweep.offline,
    };
    let summary = run_experiment(&gpu, &args.config, &run_options)?;
    emit(&SweepLine(&summary))?;
    check_summary(&summary)
}

pub fn plot(dir: &Path) -> Result<()> {
    let (table, stems) = if dir.join("layers.csv").exists() {
        ("layers.csv", draw_conditioning(dir)?)
    } else if dir.join("epochs.csv").exists() {
        ("epochs.csv", draw_training(dir)?)
    } else {
        anyhow::bail!(
            "{} holds neither layers.csv (conditioning) nor epochs.csv (training): \
             give the output directory of a `wideprobe run`",
            dir.display()
        );
    };
    let figures = dir.join("figures");
    if !stems.is_empty() {
        emit(&format_args!("figures written to {}\n", figures.display()))
    } else {
        emit(&format_args!(
            "{} holds no finished rows: no figures drawn (any earlier ones in {} were \
             removed)\n",
            dir.join(table).display(),
            figures.display()
        ))
    }
}

pub fn reproduce_paper(options: &GpuOptions, args: ReproduceArgs) -> Result<()> {
    let gpu = Gpu::new(options)?;
    let reproduce_options = ReproduceOptions {
        quick: args.quick,
        out: args.sweep.out,
        force: args.sweep.force,
        quiet: args.sweep.quiet,
        offline: args.sweep.offline,
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

/// `wideprobe slurm`: CIFAR-10 is fetched here, before submitting (compute nodes are
/// often offline, and N tasks must not download it at once: they run with --offline).
pub fn slurm(args: &wideprobe::cluster::slurm::SlurmArgs) -> Result<()> {
    if !args.dry_run && !args.resubmit {
        let text = std::fs::read_to_string(&args.config)
            .with_context(|| format!("cannot read the config {}", args.config.display()))?;
        let mut config = parse_config(&text, &args.config.display().to_string())?;
        ensure_data(config.common_mut(), false)?;
    }
    wideprobe::cluster::slurm::slurm_command(args, wideprobe::experiment::status::unfinished_shards)
        .map(|_| ())
}
