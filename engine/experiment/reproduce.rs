//! `wideprobe reproduce [--quick]`: every figure config of the paper in one command,
//! then `report.md` and `report.html` with the findings of MEASUREMENTS.md §9 judged
//! from the tables (see [`crate::analysis::report`]).
//!
//! The configs are compiled into the binary (the same files as `experiments/`), so the
//! command works from any directory. Each experiment writes into its own folder of the
//! output directory; a rerun skips finished runs, like `wideprobe run`.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::config::parse_config;
use super::runner::{ensure_data, git_revision, run_config, RunOptions, SweepSummary};
use crate::analysis::report::{evaluate_findings, figures_in, write_report, Finding};
use crate::data::DatasetChoice;
use crate::gpu::Gpu;

/// (folder, config file name, text) of each experiment, in report order.
pub struct ExperimentSet {
    pub conditioning: (&'static str, &'static str),
    pub training: (&'static str, &'static str),
    pub generalization: (&'static str, &'static str),
}

pub const QUICK: ExperimentSet = ExperimentSet {
    conditioning: ("quick.yaml", include_str!("../../experiments/quick.yaml")),
    training: (
        "quick_training.yaml",
        include_str!("../../experiments/quick_training.yaml"),
    ),
    generalization: (
        "quick_generalization.yaml",
        include_str!("../../experiments/quick_generalization.yaml"),
    ),
};

pub const PAPER: ExperimentSet = ExperimentSet {
    conditioning: (
        "fig1_conditioning.yaml",
        include_str!("../../experiments/fig1_conditioning.yaml"),
    ),
    training: (
        "fig2_training.yaml",
        include_str!("../../experiments/fig2_training.yaml"),
    ),
    generalization: (
        "fig4_generalization.yaml",
        include_str!("../../experiments/fig4_generalization.yaml"),
    ),
};

pub struct ReproduceOptions {
    pub quick: bool,
    pub out: Option<PathBuf>,
    pub force: bool,
    pub quiet: bool,
    /// Never download CIFAR-10 when it is missing.
    pub offline: bool,
}

pub struct ReproduceSummary {
    pub out: PathBuf,
    pub findings: Vec<Finding>,
    pub sweeps: Vec<(String, Result<SweepSummary, String>)>,
}

/// Runs the three experiments (each failure is reported, the others still run), then
/// judges the findings and writes the report.
pub fn reproduce(gpu: &Gpu, options: &ReproduceOptions) -> Result<ReproduceSummary> {
    reproduce_set(gpu, if options.quick { &QUICK } else { &PAPER }, options)
}

/// [`reproduce`] with any three configs (tests use tiny ones).
pub fn reproduce_set(
    gpu: &Gpu, set: &ExperimentSet, options: &ReproduceOptions,
) -> Result<ReproduceSummary> {
    let out = options.out.clone().unwrap_or_else(|| {
        PathBuf::from("runs").join(if options.quick {
            "reproduce-quick"
        } else {
            "reproduce"
        })
    });
    let (sweeps, dirs) = run_sweeps(gpu, set, options, &out);
    let findings = evaluate_findings(Some(&dirs[0]), Some(&dirs[1]), Some(&dirs[2]))?;
    let dir_refs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    let figures = figures_in(&dir_refs);
    write_report(
        &out,
        &findings,
        &figures,
        &report_meta(gpu, options, &sweeps),
    )?;
    Ok(ReproduceSummary {
        out,
        findings,
        sweeps,
    })
}

/// What each sweep of a reproduction ended with.
type Sweeps = Vec<(String, Result<SweepSummary, String>)>;

/// Runs the three experiments of `set` into folders of `out` (each failure is recorded,
/// the others still run); returns how each ended and the folders.
fn run_sweeps(
    gpu: &Gpu, set: &ExperimentSet, options: &ReproduceOptions, out: &Path,
) -> (Sweeps, Vec<PathBuf>) {
    let mut sweeps = Vec::new();
    let mut dirs = Vec::new();
    // CIFAR-10 is fetched (or found missing) once: the first config decides, and a
    // fallback to synthetic data holds for the others too.
    let mut fell_back = false;
    let mut offline = options.offline;
    for (folder, (name, text)) in [
        ("conditioning", set.conditioning),
        ("training", set.training),
        ("generalization", set.generalization),
    ] {
        let dir = out.join(folder);
        if !options.quiet {
            eprintln!("== {folder}: {name} -> {}", dir.display());
        }
        let stem = name.trim_end_matches(".yaml");
        let run_options = RunOptions {
            out: Some(dir.clone()),
            force: options.force,
            quiet: options.quiet,
            save_tensors: false,
            shard: None,
            // Fetched (or not) once for all three below.
            offline: true,
        };
        // The compiled-in text is parsed directly (no file written and read back).
        let result = parse_config(text, name)
            .and_then(|mut config| {
                let common = config.common_mut();
                if fell_back && common.dataset == DatasetChoice::Auto {
                    common.dataset = DatasetChoice::Synthetic;
                }
                let wanted = common.dataset;
                ensure_data(common, offline)?;
                fell_back |= wanted != common.dataset;
                offline = true;
                run_config(gpu, config, text, stem, &run_options)
            })
            .map_err(|e| format!("{e:#}"));
        if let Err(e) = &result {
            eprintln!("{folder} failed: {e}");
        }
        sweeps.push((folder.to_string(), result));
        dirs.push(dir);
    }
    (sweeps, dirs)
}

/// The report's header: the sweeps, the command, the adapter, this build, the data.
fn report_meta(gpu: &Gpu, options: &ReproduceOptions, sweeps: &Sweeps) -> serde_json::Value {
    let sweep_lines: Vec<String> = sweeps
        .iter()
        .map(|(name, r)| match r {
            Ok(s) => format!(
                "{name}: {} runs computed, {} reused, {} failed",
                s.done,
                s.skipped,
                s.failed.len()
            ),
            Err(e) => format!("{name}: failed ({e})"),
        })
        .collect();
    serde_json::json!({
        "experiments": sweep_lines.join("; "),
        "command": if options.quick { "wideprobe reproduce --quick" } else { "wideprobe reproduce" },
        "adapter": format!("{} ({}, {})", gpu.summary.name, gpu.summary.backend, gpu.summary.device_type),
        "wideprobe": format!("{} ({})", env!("CARGO_PKG_VERSION"), git_revision()),
        "dataset": dataset_label(sweeps),
        "written": utc_now(),
    })
}

/// The datasets the sweeps used (synthetic data is said plainly).
fn dataset_label(sweeps: &Sweeps) -> String {
    let mut names: Vec<String> = sweeps
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .flat_map(|s| &s.datasets)
        .map(|(name, synthetic)| {
            if *synthetic {
                format!("{name} (SYNTHETIC: not CIFAR-10)")
            } else {
                name.clone()
            }
        })
        .collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        "unknown".into()
    } else {
        names.join(", ")
    }
}

/// The finding table as plain text for the terminal.
pub fn findings_text(findings: &[Finding]) -> String {
    let mut s = String::new();
    for f in findings {
        s.push_str(&format!(
            "{}. [{}] {}\n   measured: {}\n",
            f.number, f.verdict, f.claim, f.evidence
        ));
    }
    s
}

/// The current time as `YYYY-MM-DD HH:MM UTC` (no date crate for one line).
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rest) = ((secs / 86400) as i64, secs % 86400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3600,
        (rest % 3600) / 60
    )
}

/// Writes the report of a `reproduce` folder from its experiment folders' tables and
/// manifests (what `wideprobe merge` does after rebuilding each experiment's tables).
pub fn report_from_folders(out: &Path, command: &str) -> Result<Vec<Finding>> {
    let dirs: Vec<PathBuf> = ["conditioning", "training", "generalization"]
        .iter()
        .map(|f| out.join(f))
        .collect();
    fn present(d: &Path) -> Option<&Path> {
        d.join("manifest.json").exists().then_some(d)
    }
    let findings = evaluate_findings(present(&dirs[0]), present(&dirs[1]), present(&dirs[2]))?;
    let dir_refs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    let figures = figures_in(&dir_refs);
    let manifests: Vec<(String, serde_json::Value)> = dirs
        .iter()
        .filter_map(|d| {
            let text = std::fs::read_to_string(d.join("manifest.json")).ok()?;
            let name = d.file_name()?.to_string_lossy().into_owned();
            Some((name, serde_json::from_str(&text).ok()?))
        })
        .collect();
    let lines: Vec<String> = manifests
        .iter()
        .map(|(name, m)| {
            let runs = m["runs"].as_array().map(Vec::len).unwrap_or(0);
            format!("{name}: {runs} runs merged")
        })
        .collect();
    let meta = serde_json::json!({
        "experiments": lines.join("; "),
        "command": command,
        // Device and dataset: the report's header reads them from the manifests.
        "wideprobe": format!("{} ({})", env!("CARGO_PKG_VERSION"), git_revision()),
        "written": utc_now(),
    });
    write_report(out, &findings, &figures, &meta)?;
    Ok(findings)
}
