//! `wideprobe run FILE.yaml`: expands the grid, runs every point, writes each run's
//! results as soon as it finishes (so a sweep never loses finished work), skips runs
//! whose results exist unless `--force`, then aggregates the tables, writes the
//! manifest and draws the figures. The loop is [`super::sweep`]'s, for either kind.
//!
//! Layout of the output directory:
//! - `config.yaml`: the config as given; `manifest.json`: resolved config, adapter,
//!   precision, version, dataset provenance, per-run status and timings;
//! - conditioning: `layers.csv`, `infinite_width.csv`; training: `epochs.csv`,
//!   `runs.csv`: every finished run's rows;
//! - `runs/<run id>/`: that run's table, `result.json` and, with `save_tensors`, its
//!   `.npy` files; `infinite/<key>.csv`: Σ^l spectra per input set;
//! - `figures/`: PNG and SVG.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use super::config::{parse_config, Common, ExperimentConfig};
use super::identity::data_identity;
use super::progress::Progress;
use super::sweep::{existing_results, plan, run_all, PlannedRun, RunContext, SweepData, SweepKind};
use crate::data::ensure_cifar10;
use crate::gpu::Gpu;
use crate::io::claim::{owner_tag, wait_claim};
use crate::io::table::write_atomic;
use crate::linalg::Precision;

/// How long a process waits for another to finish rebuilding the aggregates.
const AGGREGATE_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

pub struct RunOptions {
    /// Output directory; default the config's `out`, else `runs/<config stem>`.
    pub out: Option<PathBuf>,
    /// Recompute runs whose results exist.
    pub force: bool,
    /// No progress bar (tests, CI logs).
    pub quiet: bool,
    /// Save tensors (as the config's `save_tensors: true`).
    pub save_tensors: bool,
    /// Compute only the runs whose index mod N is I (`--shard I/N`).
    pub shard: Option<(usize, usize)>,
    /// Never download CIFAR-10 when it is missing (`--offline`).
    pub offline: bool,
}

/// What a finished sweep reports.
#[derive(Debug)]
pub struct SweepSummary {
    pub out: PathBuf,
    pub done: usize,
    pub skipped: usize,
    /// Training runs computed this time that diverged (counted in `done` too).
    pub diverged: usize,
    pub failed: Vec<(String, String)>,
    /// (name, synthetic) of the datasets the finished runs used, sorted, once each.
    pub datasets: Vec<(String, bool)>,
    /// Runs recomputed because their results were computed under other settings.
    pub stale: Vec<(String, Vec<String>)>,
    /// Runs held by another process sharing the folder.
    pub claimed_elsewhere: Vec<(String, String)>,
    /// Runs left to other shards.
    pub other_shards: usize,
    /// Stopped early on a signal; the finished runs are written.
    pub stopped: bool,
}

pub fn run_experiment(gpu: &Gpu, config_path: &Path, options: &RunOptions) -> Result<SweepSummary> {
    let text = std::fs::read_to_string(config_path)
        .with_context(|| format!("cannot read the config {}", config_path.display()))?;
    let config = parse_config(&text, &config_path.display().to_string())?;
    let stem = config_path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("experiment");
    run_config(gpu, config, &text, stem, options)
}

/// Runs a parsed config; `text` is copied to `config.yaml`, `stem` names the default
/// output directory.
pub fn run_config(
    gpu: &Gpu, config: ExperimentConfig, text: &str, stem: &str, options: &RunOptions,
) -> Result<SweepSummary> {
    match config {
        ExperimentConfig::Conditioning(mut c) => {
            c.common.save_tensors |= options.save_tensors;
            ensure_data(&mut c.common, options.offline)?;
            let out = prepare_out(c.common.out.as_ref(), text, stem, options, c.kind_name())?;
            sweep(gpu, &c, &out, options)
        }
        ExperimentConfig::Training(mut c) => {
            c.common.save_tensors |= options.save_tensors;
            ensure_data(&mut c.common, options.offline)?;
            let out = prepare_out(c.common.out.as_ref(), text, stem, options, c.kind_name())?;
            sweep(gpu, &c, &out, options)
        }
    }
}

/// Fetches CIFAR-10 when the config wants it and it is missing (unless offline);
/// `dataset: auto` falls back to synthetic data with one banner naming the fix.
pub fn ensure_data(common: &mut Common, offline: bool) -> Result<()> {
    let plan = ensure_cifar10(common.dataset, common.data_dir.as_deref(), offline)?;
    if let Some(banner) = &plan.banner {
        eprintln!("warning: {banner}");
    }
    if let Some(dir) = &plan.fetched {
        eprintln!("CIFAR-10 downloaded and checked into {}", dir.display());
    }
    common.dataset = plan.choice;
    Ok(())
}

fn prepare_out(
    config_out: Option<&PathBuf>, text: &str, stem: &str, options: &RunOptions, kind_name: &str,
) -> Result<PathBuf> {
    let out = options
        .out
        .clone()
        .or_else(|| config_out.cloned())
        .unwrap_or_else(|| PathBuf::from("runs").join(stem));
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create the output directory {}", out.display()))?;
    refuse_other_experiment(&out, kind_name)?;
    // Never write over an input: the config may be `out/config.yaml` itself (or a link
    // to it); rewriting a file with its own text changes nothing and is skipped.
    let dest = out.join("config.yaml");
    let same_text = std::fs::read_to_string(&dest).is_ok_and(|t| t == text);
    if !same_text {
        write_atomic(&dest, text.as_bytes())
            .with_context(|| format!("cannot copy the config into {}", out.display()))?;
    }
    Ok(out)
}

/// Refuses an output folder that holds results of another kind of experiment.
fn refuse_other_experiment(out: &Path, kind_name: &str) -> Result<()> {
    let previous = std::fs::read_to_string(out.join("manifest.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|m| m.get("kind").and_then(|k| k.as_str()).map(str::to_string));
    match previous {
        Some(previous) if previous != kind_name => bail!(
            "{} holds results of a {previous} experiment, and this config is {kind_name}: \
             give another --out (or the config's `out`), or delete that folder",
            out.display()
        ),
        _ => Ok(()),
    }
}

/// The sweep of any kind: precision resolved once, runs (each followed by the
/// aggregates, under a lock), then the figures.
fn sweep<K: SweepKind>(
    gpu: &Gpu, kind: &K, out: &Path, options: &RunOptions,
) -> Result<SweepSummary> {
    let precision = kind.common().precision.resolve(gpu)?;
    let ops = kind.new_ops(gpu, precision)?;
    let planned = plan(kind, out);
    let costs: Vec<f64> = planned
        .iter()
        .enumerate()
        .filter(|(index, _)| options.shard.is_none_or(|(i, n)| index % n == i))
        .map(|(_, p)| kind.cost(&p.run))
        .collect();
    if !options.quiet {
        warn_if_long_on_software(gpu, &costs);
    }
    let progress = Progress::new(&costs, options.quiet);
    let mut data = SweepData::default();
    let data_id = sweep_data_identity(kind, &planned, &mut data, &progress);
    let ctx = RunContext {
        gpu,
        ops: &ops,
        out,
        dir: out,
        force: options.force,
        precision,
        data: &data_id,
        shard: options.shard,
        progress: &progress,
    };
    let adapter = serde_json::to_value(&gpu.summary)?;
    // The first dataset is loaded by now: its description stands for the sweep's.
    let dataset = data
        .described
        .clone()
        .unwrap_or_else(|| previous_dataset_entry(out));
    let rebuild = |figures: bool| -> Result<Vec<(String, bool)>> {
        let lock = out.join(".aggregate.lock");
        let _held = wait_claim(&lock, owner_tag().as_deref(), AGGREGATE_WAIT)?;
        let entry = dataset.clone();
        aggregate(
            kind, out, &planned, precision, &data_id, &adapter, entry, figures,
        )
    };
    let mut after_run = || rebuild(false).map(|_| ());
    let tally = run_all(kind, &ctx, &planned, &mut data, &progress, &mut after_run)?;
    progress.finish();
    let datasets = rebuild(true)?;
    Ok(SweepSummary {
        out: out.to_path_buf(),
        done: tally.done,
        skipped: tally.skipped,
        diverged: tally.diverged,
        failed: tally.failed,
        datasets,
        stale: tally.stale,
        claimed_elsewhere: tally.claimed_elsewhere,
        other_shards: tally.other_shards,
        stopped: tally.stopped,
    })
}

/// Sustained speed of a software adapter (lavapipe, llvmpipe) on these kernels, measured
/// on 2 cores: a few GFLOP/s.
const SOFTWARE_FLOPS_PER_SECOND: f64 = 3e9;

/// Before a sweep that a software adapter would take over ten minutes on: one line with
/// the estimate and the hint.
fn warn_if_long_on_software(gpu: &Gpu, costs: &[f64]) {
    if !gpu.summary.is_cpu() {
        return;
    }
    let flops: f64 = costs.iter().sum();
    let seconds = flops / SOFTWARE_FLOPS_PER_SECOND;
    if seconds > 600.0 {
        eprintln!(
            "note: {} is a software adapter (it runs on the CPU); this sweep is about {:.0} GFLOP, \
             roughly {:.0} minutes at its few GFLOP/s (a GPU takes minutes). Results are kept \
             run by run: stopping and rerunning resumes.",
            gpu.summary.name,
            flops / 1e9,
            seconds / 60.0
        );
    }
}

/// The dataset identity of a sweep, from its first run's dataset (every run of a sweep
/// reads the same files); `null` when it cannot be loaded (the runs then fail with the
/// reason).
fn sweep_data_identity<K: SweepKind>(
    kind: &K, planned: &[PlannedRun<K::Run>], data: &mut SweepData, progress: &Progress,
) -> serde_json::Value {
    planned
        .first()
        .and_then(|p| {
            data.get(kind.common(), kind.data_request(&p.run), progress)
                .ok()
        })
        .map(data_identity)
        .unwrap_or(serde_json::Value::Null)
}

/// Rebuilds the aggregate tables (and the figures) and the manifest from the results
/// computed under today's settings; returns the datasets they used.
#[allow(clippy::too_many_arguments)]
pub fn aggregate<K: SweepKind>(
    kind: &K, out: &Path, planned: &[PlannedRun<K::Run>], precision: Precision,
    data_id: &serde_json::Value, adapter: &serde_json::Value, dataset: serde_json::Value,
    figures: bool,
) -> Result<Vec<(String, bool)>> {
    let results = existing_results(kind, planned, precision, data_id);
    kind.aggregate(out, &results, figures)?;
    let mut datasets: Vec<(String, bool)> = results
        .iter()
        .filter(|r| r.record.finished())
        .map(|r| (r.record.dataset.clone(), r.record.synthetic))
        .collect();
    datasets.sort();
    datasets.dedup();
    let records: Vec<_> = results.iter().map(|r| &r.record).collect();
    write_manifest(out, kind, adapter, precision, dataset, &records)?;
    Ok(datasets)
}

/// The dataset entry of the manifest already in `out` (every run reused, so none was
/// loaded), so it keeps saying what the tables used.
fn previous_dataset_entry(out: &Path) -> serde_json::Value {
    std::fs::read_to_string(out.join("manifest.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|m| m.get("dataset").cloned())
        .unwrap_or(serde_json::Value::Null)
}

/// Writes `manifest.json`: what ran, where, on what, and each run's record.
fn write_manifest<K: SweepKind>(
    out: &Path, kind: &K, adapter: &serde_json::Value, precision: Precision,
    dataset: serde_json::Value, records: &impl serde::Serialize,
) -> Result<()> {
    // The kind's keys and the common ones, side by side as in the config.
    let mut config = serde_json::to_value(kind)?;
    if let (Some(c), serde_json::Value::Object(common)) =
        (config.as_object_mut(), serde_json::to_value(kind.common())?)
    {
        c.extend(common);
    }
    let manifest = serde_json::json!({
        "wideprobe_version": env!("CARGO_PKG_VERSION"),
        "git_revision": git_revision(),
        "result_format": super::identity::RESULT_FORMAT,
        "kind": kind.kind_name(),
        "config": config,
        "adapter": adapter,
        "precision": precision.name(),
        "dataset": dataset,
        "runs": records,
        "written_unix_s": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
    });
    write_atomic(
        &out.join("manifest.json"),
        serde_json::to_string_pretty(&manifest)?.as_bytes(),
    )
}

/// The git revision wideprobe was built from, with `-dirty` when its sources had
/// uncommitted changes (embedded at build time, see build.rs).
pub fn git_revision() -> String {
    crate::provenance::describe()
}

/// Fails with a summary when some runs failed (after everything finished was written).
pub fn check_summary(summary: &SweepSummary) -> Result<()> {
    if summary.failed.is_empty() {
        return Ok(());
    }
    let first = &summary.failed[0];
    bail!(
        "{} of {} runs failed (first: {}: {}); the finished results are in {}; see runs/<id>/result.json",
        summary.failed.len(),
        summary.failed.len() + summary.done + summary.skipped,
        first.0,
        first.1,
        summary.out.display()
    )
}
