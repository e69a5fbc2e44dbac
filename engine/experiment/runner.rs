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

use super::config::{parse_config, ExperimentConfig};
use super::sweep::{
    existing_results, plan, progress_bar, run_all, RunContext, SweepData, SweepKind,
};
use crate::gpu::Gpu;
use crate::io::table::write_atomic;
use crate::linalg::Precision;

pub struct RunOptions {
    /// Output directory; default the config's `out`, else `runs/<config stem>`.
    pub out: Option<PathBuf>,
    /// Recompute runs whose results exist.
    pub force: bool,
    /// No progress bar (tests, CI logs).
    pub quiet: bool,
    /// Save tensors (as the config's `save_tensors: true`).
    pub save_tensors: bool,
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
    gpu: &Gpu,
    config: ExperimentConfig,
    text: &str,
    stem: &str,
    options: &RunOptions,
) -> Result<SweepSummary> {
    match config {
        ExperimentConfig::Conditioning(mut c) => {
            c.common.save_tensors |= options.save_tensors;
            let out = prepare_out(c.common.out.as_ref(), text, stem, options)?;
            sweep(gpu, &c, &out, options)
        }
        ExperimentConfig::Training(mut c) => {
            c.common.save_tensors |= options.save_tensors;
            let out = prepare_out(c.common.out.as_ref(), text, stem, options)?;
            sweep(gpu, &c, &out, options)
        }
    }
}

fn prepare_out(
    config_out: Option<&PathBuf>,
    text: &str,
    stem: &str,
    options: &RunOptions,
) -> Result<PathBuf> {
    let out = options
        .out
        .clone()
        .or_else(|| config_out.cloned())
        .unwrap_or_else(|| PathBuf::from("runs").join(stem));
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create the output directory {}", out.display()))?;
    std::fs::write(out.join("config.yaml"), text)
        .with_context(|| format!("cannot copy the config into {}", out.display()))?;
    Ok(out)
}

/// The sweep of any kind: precision resolved once, runs, aggregate, manifest.
fn sweep<K: SweepKind>(
    gpu: &Gpu,
    kind: &K,
    out: &Path,
    options: &RunOptions,
) -> Result<SweepSummary> {
    let precision = kind.common().precision.resolve(gpu)?;
    let ops = K::new_ops(gpu, precision)?;
    let planned = plan(kind, out);
    let progress = progress_bar(planned.len(), options.quiet);
    let mut data = SweepData::default();
    let ctx = RunContext {
        gpu,
        ops: &ops,
        out,
        dir: out,
        force: options.force,
    };
    let tally = run_all(kind, &ctx, &planned, &mut data, &progress)?;
    progress.finish_and_clear();

    // Aggregate whatever has finished, this time or before.
    let results = existing_results::<K>(&planned);
    kind.aggregate(out, &results)?;
    let mut datasets: Vec<(String, bool)> = results
        .iter()
        .filter(|r| r.record.finished())
        .map(|r| (r.record.dataset.clone(), r.record.synthetic))
        .collect();
    datasets.sort();
    datasets.dedup();
    let records: Vec<_> = results.iter().map(|r| &r.record).collect();
    let dataset = data
        .described
        .clone()
        .unwrap_or_else(|| previous_dataset_entry(out));
    write_manifest(out, kind, gpu, precision, dataset, &records)?;
    Ok(SweepSummary {
        out: out.to_path_buf(),
        done: tally.done,
        skipped: tally.skipped,
        diverged: tally.diverged,
        failed: tally.failed,
        datasets,
    })
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
    out: &Path,
    kind: &K,
    gpu: &Gpu,
    precision: Precision,
    dataset: serde_json::Value,
    records: &impl serde::Serialize,
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
        "kind": kind.kind_name(),
        "config": config,
        "adapter": gpu.summary,
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

/// The git revision wideprobe was built from, when it was built in a checkout.
pub fn git_revision() -> String {
    std::process::Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
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
