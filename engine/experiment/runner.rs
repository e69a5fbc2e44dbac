//! `wideprobe run FILE.yaml`: expands the grid, runs every point, writes each run's
//! results as soon as it finishes (so a sweep never loses finished work), skips runs
//! whose results exist unless `--force`, then aggregates the tables, writes the
//! manifest and draws the figures.
//!
//! Layout of the output directory:
//! - `config.yaml`: the config as given; `manifest.json`: resolved config, adapter,
//!   precision, version, dataset provenance, per-run status and timings;
//! - `layers.csv`, `infinite_width.csv`: every finished run's rows;
//! - `runs/<run id>/`: that run's `layers.csv`, `result.json` and, with
//!   `save_tensors`, its `.npy` files; `infinite/<key>.csv`: Σ^l spectra per input set;
//! - `figures/`: PNG and SVG.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context as _, Result};

use super::conditioning::{
    infinite_header, layers_header, measure_infinite_width, measure_run, ConditioningOps,
};
use super::config::{
    load_config, ConditioningConfig, ConditioningRun, ExperimentConfig, ExperimentKind,
    TrainingConfig,
};
use crate::analysis::figures;
use crate::io::table::{write_atomic, Table};
use super::training::{
    epochs_header, run_cells as training_run_cells, runs_header, train_run, RunSummary, TrainingOps,
};
use crate::data::{load_dataset, Dataset};
use crate::gpu::Gpu;
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
}

pub fn run_experiment(gpu: &Gpu, config_path: &Path, options: &RunOptions) -> Result<SweepSummary> {
    let config = load_config(config_path)?;
    let stem = config_path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("experiment");
    let prepare = |config_out: Option<&PathBuf>| -> Result<PathBuf> {
        let out = options
            .out
            .clone()
            .or_else(|| config_out.cloned())
            .unwrap_or_else(|| PathBuf::from("runs").join(stem));
        std::fs::create_dir_all(&out)
            .with_context(|| format!("cannot create the output directory {}", out.display()))?;
        std::fs::copy(config_path, out.join("config.yaml"))
            .with_context(|| format!("cannot copy the config into {}", out.display()))?;
        Ok(out)
    };
    match config {
        ExperimentConfig::Conditioning(mut c) => {
            c.save_tensors |= options.save_tensors;
            let out = prepare(c.out.as_ref())?;
            run_conditioning(gpu, &c, &out, options)
        }
        ExperimentConfig::Training(mut c) => {
            c.save_tensors |= options.save_tensors;
            let out = prepare(c.out.as_ref())?;
            run_training(gpu, &c, &out, options)
        }
    }
}

/// The datasets of a sweep, loaded once per (n, seed), and the manifest's description
/// of the first one loaded.
struct SweepData {
    loaded: BTreeMap<(usize, u64), Dataset>,
    described: Option<serde_json::Value>,
}

impl SweepData {
    fn new() -> Self {
        SweepData {
            loaded: BTreeMap::new(),
            described: None,
        }
    }

    /// The dataset of (n, seed), loaded by `load` the first time; the first dataset's
    /// warnings are printed above the progress bar.
    fn get(
        &mut self,
        key: (usize, u64),
        progress: &indicatif::ProgressBar,
        load: impl FnOnce() -> Result<Dataset>,
    ) -> Result<&Dataset> {
        let dataset = match self.loaded.entry(key) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => e.insert(load()?),
        };
        if self.described.is_none() {
            self.described = Some(serde_json::json!({
                "name": dataset.name,
                "synthetic": dataset.synthetic,
                "provenance": dataset.provenance,
                "warnings": dataset.warnings,
            }));
            for w in &dataset.warnings {
                progress.suspend(|| eprintln!("warning: {w}"));
            }
        }
        Ok(dataset)
    }

    /// The manifest's dataset entry: this sweep's, else (every run reused) the one the
    /// manifest already in `out` gives, so it keeps saying what the tables used.
    fn manifest_entry(&self, out: &Path) -> serde_json::Value {
        self.described.clone().unwrap_or_else(|| {
            std::fs::read_to_string(out.join("manifest.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|m| m.get("dataset").cloned())
                .unwrap_or(serde_json::Value::Null)
        })
    }
}

/// Writes `manifest.json`: what ran, where, on what, and each run's record.
fn write_manifest(
    out: &Path,
    kind: ExperimentKind,
    config: &impl serde::Serialize,
    gpu: &Gpu,
    precision: Precision,
    dataset: serde_json::Value,
    records: &impl serde::Serialize,
) -> Result<()> {
    let manifest = serde_json::json!({
        "wideprobe_version": env!("CARGO_PKG_VERSION"),
        "git_revision": git_revision(),
        "kind": kind.name(),
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

fn progress_bar(len: usize, quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} runs, {elapsed} elapsed, ETA {eta}  {msg}",
        )
        .expect("valid template"),
    );
    bar
}

/// What a finished training run leaves in `runs/<id>/result.json`.
#[derive(serde::Serialize, serde::Deserialize)]
struct TrainingRecord {
    run_id: String,
    /// done, diverged or failed.
    status: String,
    seconds: f64,
    dataset: String,
    synthetic: bool,
    error: Option<String>,
    summary: Option<RunSummary>,
}

fn run_training(
    gpu: &Gpu,
    config: &TrainingConfig,
    out: &Path,
    options: &RunOptions,
) -> Result<SweepSummary> {
    let runs = config.runs();
    let ops = TrainingOps::new(gpu, config.precision)?;
    let progress = progress_bar(runs.len(), options.quiet);
    let mut data = SweepData::new();
    let mut summary = SweepSummary {
        out: out.to_path_buf(),
        done: 0,
        skipped: 0,
        diverged: 0,
        failed: Vec::new(),
    };
    let finished = |r: &TrainingRecord| r.status == "done" || r.status == "diverged";
    for run in &runs {
        let id = run.id();
        progress.set_message(id.clone());
        let dir = out.join("runs").join(&id);
        let record_path = dir.join("result.json");
        let previous: Option<TrainingRecord> = std::fs::read_to_string(&record_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        if !options.force
            && previous.as_ref().is_some_and(finished)
            && has_header(&dir.join("epochs.csv"), &epochs_header())
        {
            summary.skipped += 1;
            progress.inc(1);
            continue;
        }
        std::fs::create_dir_all(&dir)?;
        let start = Instant::now();
        let result = (|| -> Result<(String, bool, RunSummary)> {
            let dataset = data.get((run.n, run.seed), &progress, || {
                load_dataset(
                    config.dataset,
                    config.data_dir.as_deref(),
                    config.input_norm,
                    run.n,
                    config.n_test,
                    run.seed,
                )
            })?;
            let tensors = config.save_tensors.then(|| dir.join("tensors"));
            let (table, run_summary) =
                train_run(gpu, &ops, config, run, dataset, tensors.as_deref())?;
            table.write(&dir.join("epochs.csv"))?;
            Ok((dataset.name.clone(), dataset.synthetic, run_summary))
        })();
        let seconds = start.elapsed().as_secs_f64();
        let record = match result {
            Ok((dataset, synthetic, run_summary)) => {
                summary.done += 1;
                if let Some(reason) = &run_summary.diverged_reason {
                    summary.diverged += 1;
                    progress.suspend(|| {
                        eprintln!("run {id} diverged ({reason}); its rows up to there are kept and the sweep goes on")
                    });
                }
                TrainingRecord {
                    run_id: id.clone(),
                    status: run_summary.status.clone(),
                    seconds,
                    dataset,
                    synthetic,
                    error: None,
                    summary: Some(run_summary),
                }
            }
            Err(e) => {
                let message = format!("{e:#}");
                progress.suspend(|| eprintln!("run {id} failed: {message}"));
                summary.failed.push((id.clone(), message.clone()));
                TrainingRecord {
                    run_id: id.clone(),
                    status: "failed".into(),
                    seconds,
                    dataset: String::new(),
                    synthetic: false,
                    error: Some(message),
                    summary: None,
                }
            }
        };
        write_atomic(
            &record_path,
            serde_json::to_string_pretty(&record)?.as_bytes(),
        )?;
        progress.inc(1);
    }
    progress.finish_and_clear();

    // Aggregate whatever has finished, this time or before.
    let mut epochs = Table::new(&epochs_header());
    let mut runs_table = Table::new(&runs_header());
    let mut records = Vec::new();
    for run in &runs {
        let dir = out.join("runs").join(run.id());
        let Some(r) = std::fs::read_to_string(dir.join("result.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<TrainingRecord>(&t).ok())
        else {
            continue;
        };
        if let Some(s) = r.summary.as_ref().filter(|_| finished(&r)) {
            epochs.extend(Table::read(&dir.join("epochs.csv"))?)?;
            let mut row = training_run_cells(run, &r.dataset, config.bias);
            row.extend(s.cells(r.seconds));
            runs_table.push(row);
        } else {
            let mut row = training_run_cells(run, &r.dataset, config.bias);
            row.push("failed".into());
            row.extend(std::iter::repeat_n(String::new(), 6));
            row.extend(["false".to_string(), r.seconds.to_string()]);
            runs_table.push(row);
        }
        records.push(r);
    }
    epochs.write(&out.join("epochs.csv"))?;
    runs_table.write(&out.join("runs.csv"))?;
    write_manifest(
        out,
        config.kind,
        config,
        gpu,
        ops.precision(),
        data.manifest_entry(out),
        &records,
    )?;
    if !epochs.rows.is_empty() {
        crate::analysis::figures_training::draw_training(out).context("drawing the figures")?;
    }
    Ok(summary)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct RunRecord {
    run_id: String,
    status: String,
    seconds: f64,
    dataset: String,
    synthetic: bool,
    error: Option<String>,
    warnings: Vec<String>,
}

fn read_record(path: &Path) -> Option<RunRecord> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn infinite_key(run: &ConditioningRun) -> String {
    format!(
        "d{}_n{}_{}_{}_s{}",
        run.depth,
        run.n,
        run.activation.name(),
        if run.renormalize { "renorm" } else { "plain" },
        run.seed
    )
}

fn run_conditioning(
    gpu: &Gpu,
    config: &ConditioningConfig,
    out: &Path,
    options: &RunOptions,
) -> Result<SweepSummary> {
    let runs = config.runs();
    let ops = ConditioningOps::new(gpu, config.precision)?;
    let progress = progress_bar(runs.len(), options.quiet);
    let mut data = SweepData::new();
    let mut summary = SweepSummary {
        out: out.to_path_buf(),
        done: 0,
        skipped: 0,
        diverged: 0,
        failed: Vec::new(),
    };
    for run in &runs {
        let id = run.id();
        progress.set_message(id.clone());
        let dir = out.join("runs").join(&id);
        let record_path = dir.join("result.json");
        if !options.force
            && read_record(&record_path).is_some_and(|r| r.status == "done")
            && has_header(&dir.join("layers.csv"), &layers_header())
        {
            summary.skipped += 1;
            progress.inc(1);
            continue;
        }
        std::fs::create_dir_all(&dir)?;
        let start = Instant::now();
        let result = (|| -> Result<(String, bool, Vec<String>)> {
            let dataset = data.get((run.n, run.seed), &progress, || {
                load_dataset(
                    config.dataset,
                    config.data_dir.as_deref(),
                    config.input_norm,
                    run.n,
                    0,
                    run.seed,
                )
            })?;
            let tensors = config.save_tensors.then(|| dir.join("tensors"));
            let table = measure_run(gpu, &ops, config, run, dataset, tensors.as_deref())?;
            table.write(&dir.join("layers.csv"))?;
            if config.infinite_width {
                let key_path = out
                    .join("infinite")
                    .join(format!("{}.csv", infinite_key(run)));
                if options.force || !key_path.exists() {
                    std::fs::create_dir_all(out.join("infinite"))?;
                    measure_infinite_width(gpu, &ops, config, run, dataset)?.write(&key_path)?;
                }
            }
            Ok((
                dataset.name.clone(),
                dataset.synthetic,
                dataset.warnings.clone(),
            ))
        })();
        let seconds = start.elapsed().as_secs_f64();
        let record = match result {
            Ok((dataset, synthetic, warnings)) => {
                summary.done += 1;
                RunRecord {
                    run_id: id.clone(),
                    status: "done".into(),
                    seconds,
                    dataset,
                    synthetic,
                    error: None,
                    warnings,
                }
            }
            Err(e) => {
                let message = format!("{e:#}");
                progress.suspend(|| eprintln!("run {id} failed: {message}"));
                summary.failed.push((id.clone(), message.clone()));
                RunRecord {
                    run_id: id.clone(),
                    status: "failed".into(),
                    seconds,
                    dataset: String::new(),
                    synthetic: false,
                    error: Some(message),
                    warnings: Vec::new(),
                }
            }
        };
        write_atomic(
            &record_path,
            serde_json::to_string_pretty(&record)?.as_bytes(),
        )?;
        progress.inc(1);
    }
    progress.finish_and_clear();

    // Aggregate whatever has finished, this time or before.
    let mut layers = Table::new(&layers_header());
    let mut records = Vec::new();
    for run in &runs {
        let dir = out.join("runs").join(run.id());
        if let Some(r) = read_record(&dir.join("result.json")) {
            if r.status == "done" {
                layers.extend(Table::read(&dir.join("layers.csv"))?)?;
            }
            records.push(r);
        }
    }
    layers.write(&out.join("layers.csv"))?;
    let mut infinite = Table::new(&infinite_header());
    if config.infinite_width {
        let mut keys: Vec<String> = runs.iter().map(infinite_key).collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let p = out.join("infinite").join(format!("{key}.csv"));
            if p.exists() {
                infinite.extend(Table::read(&p)?)?;
            }
        }
    }
    infinite.write(&out.join("infinite_width.csv"))?;

    write_manifest(
        out,
        config.kind,
        config,
        gpu,
        ops.precision(),
        data.manifest_entry(out),
        &records,
    )?;
    if !layers.rows.is_empty() {
        figures::draw_conditioning(out).context("drawing the figures")?;
    }
    Ok(summary)
}

/// Whether a finished run's table exists with today's columns: tables written by an
/// older wideprobe with other columns are recomputed rather than failing the aggregate.
fn has_header(path: &Path, header: &[&str]) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut first = String::new();
    if std::io::BufRead::read_line(&mut std::io::BufReader::new(file), &mut first).is_err() {
        return false;
    }
    first.trim_end() == header.join(",")
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
