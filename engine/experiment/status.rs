//! `wideprobe status DIR` and `wideprobe merge DIR`: what a sweep's output folder holds,
//! run by run, and the aggregates rebuilt from whatever is finished. Neither needs a GPU:
//! they read `config.yaml`, the per-run results and their claims.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use super::config::{parse_config, ExperimentConfig};
use super::identity::{changed_keys, data_identity, settings_fingerprint};
use super::runner::aggregate;
use super::sweep::{plan, read_record, PlannedRun, SweepData, SweepKind};
use crate::io::claim::{inspect, owner_tag, wait_claim};
use crate::linalg::Precision;

/// Where one run of a sweep stands.
#[derive(Clone, Debug, PartialEq)]
pub enum RunState {
    Done,
    Diverged,
    Failed(String),
    /// Claimed by a live process (who, heartbeat age in seconds).
    Running(String, u64),
    /// A result computed under other settings (which): it will be recomputed.
    Stale(Vec<String>),
    Missing,
}

impl RunState {
    pub fn label(&self) -> &'static str {
        match self {
            RunState::Done => "done",
            RunState::Diverged => "diverged",
            RunState::Failed(_) => "failed",
            RunState::Running(..) => "running",
            RunState::Stale(_) => "stale",
            RunState::Missing => "missing",
        }
    }

    /// Finished under today's settings (diverged runs are results too).
    pub fn finished(&self) -> bool {
        matches!(self, RunState::Done | RunState::Diverged)
    }
}

/// One run's line of `status`.
#[derive(Clone, Debug)]
pub struct RunStatus {
    pub index: usize,
    pub id: String,
    pub state: RunState,
}

/// The runs of the sweep in `dir` (its `config.yaml`), in plan order.
pub fn sweep_status(dir: &Path) -> Result<Vec<RunStatus>> {
    Ok(sweep_status_noted(dir)?.0)
}

/// [`sweep_status`] and, when the sweep's dataset cannot be loaded here, a note saying
/// so: the runs are then checked against every setting but the data.
pub fn sweep_status_noted(dir: &Path) -> Result<(Vec<RunStatus>, Option<String>)> {
    match read_config(dir)? {
        ExperimentConfig::Conditioning(c) => status_of(&c, dir),
        ExperimentConfig::Training(c) => status_of(&c, dir),
    }
}

/// The 0-based shards of `shards` that still have a run not finished.
pub fn unfinished_shards(dir: &Path, shards: usize) -> Result<Vec<usize>> {
    let mut open: Vec<usize> = sweep_status(dir)?
        .iter()
        .filter(|s| !s.state.finished())
        .map(|s| s.index % shards.max(1))
        .collect();
    open.sort();
    open.dedup();
    Ok(open)
}

fn read_config(dir: &Path) -> Result<ExperimentConfig> {
    let path = dir.join("config.yaml");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{} has no config.yaml: give the output folder of a `wideprobe run` (or one \
             experiment folder of `wideprobe reproduce`)",
            dir.display()
        )
    })?;
    parse_config(&text, &path.display().to_string())
}

fn try_data_id<K: SweepKind>(
    kind: &K, planned: &[PlannedRun<K::Run>],
) -> Result<serde_json::Value> {
    let mut data = SweepData::default();
    let hidden = crate::experiment::progress::Progress::new(&[], true);
    let Some(p) = planned.first() else {
        return Ok(serde_json::Value::Null);
    };
    let dataset = data.get(kind.common(), kind.data_request(&p.run), &hidden)?;
    Ok(data_identity(dataset))
}

fn status_of<K: SweepKind>(kind: &K, dir: &Path) -> Result<(Vec<RunStatus>, Option<String>)> {
    let planned = plan(kind, dir);
    // The dataset identity, loaded on the CPU as a run would (no GPU needed).
    let (data_id, note) = match try_data_id(kind, &planned) {
        Ok(id) => (Some(id), None),
        Err(e) => (
            None,
            Some(format!(
                "the sweep's dataset could not be loaded here ({e:#}); runs are checked \
                 against every setting but the data (set data_dir or WIDEPROBE_DATA to \
                 check it too)"
            )),
        ),
    };
    let runs = planned
        .iter()
        .enumerate()
        .map(|(index, p)| RunStatus {
            index,
            id: p.id.clone(),
            state: state_of(kind, p, data_id.as_ref()),
        })
        .collect();
    Ok((runs, note))
}

/// `data_id` `None` (not loadable here): the record's own data identity is taken.
fn state_of<K: SweepKind>(
    kind: &K, p: &PlannedRun<K::Run>, data_id: Option<&serde_json::Value>,
) -> RunState {
    if let Some((info, age, false)) = inspect(&p.dir.join("claim.lock")) {
        return RunState::Running(format!("pid {} on {}", info.pid, info.host), age.as_secs());
    }
    let Some(record) = read_record::<K::Extra>(&p.dir) else {
        return RunState::Missing;
    };
    // The precision that ran is the record's own: status needs no adapter.
    let precision: Precision = record
        .settings
        .get("precision")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    let recorded_data = record.settings.get("data").cloned().unwrap_or_default();
    let settings = kind.settings(&p.run, precision, data_id.unwrap_or(&recorded_data));
    if record.fingerprint != settings_fingerprint(&settings) {
        return RunState::Stale(changed_keys(&record.settings, &settings));
    }
    match record.status.as_str() {
        "done" => RunState::Done,
        "diverged" => RunState::Diverged,
        _ => RunState::Failed(record.error.unwrap_or_default()),
    }
}

/// Rebuilds the tables, manifest and figures of the sweep in `dir` from its finished
/// runs; for a `reproduce` folder, each experiment's, then the report.
pub fn merge(dir: &Path) -> Result<Vec<PathBuf>> {
    if dir.join("config.yaml").exists() {
        match read_config(dir)? {
            ExperimentConfig::Conditioning(c) => merge_sweep(&c, dir)?,
            ExperimentConfig::Training(c) => merge_sweep(&c, dir)?,
        }
        return Ok(vec![dir.to_path_buf()]);
    }
    let parts: Vec<PathBuf> = ["conditioning", "training", "generalization"]
        .iter()
        .map(|f| dir.join(f))
        .filter(|d| d.join("config.yaml").exists())
        .collect();
    if parts.is_empty() {
        anyhow::bail!(
            "{} holds neither config.yaml (a `wideprobe run` folder) nor the experiment \
             folders of `wideprobe reproduce`",
            dir.display()
        );
    }
    for part in &parts {
        merge(part)?;
    }
    super::reproduce::report_from_folders(dir, "wideprobe merge")?;
    Ok(parts)
}

fn merge_sweep<K: SweepKind>(kind: &K, dir: &Path) -> Result<()> {
    let planned = plan(kind, dir);
    let manifest: serde_json::Value = std::fs::read_to_string(dir.join("manifest.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null);
    // Results are checked against the data found here: without the sweep's data every
    // run would look stale and the aggregates would be rewritten empty.
    let data_id = try_data_id(kind, &planned).with_context(|| {
        format!(
            "cannot load the dataset of {} here, so its finished runs cannot be checked; \
             nothing was rewritten: merge where the sweep's data is (the config's data_dir, \
             or WIDEPROBE_DATA as the sweep had it)",
            dir.display()
        )
    })?;
    let recorded = manifest["dataset"]["name"].as_str();
    if let (Some(recorded), Some(found)) = (recorded, data_id["name"].as_str()) {
        anyhow::ensure!(
            recorded == found,
            "{} was computed on {recorded}, but the data found here is {found}; nothing was \
             rewritten: merge where the sweep's data is (the config's data_dir, or \
             WIDEPROBE_DATA as the sweep had it)",
            dir.display()
        );
    }
    // The precision the runs ran in: the manifest's, else the first result's.
    let precision: Precision = manifest
        .get("precision")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .or_else(|| {
            planned.iter().find_map(|p| {
                read_record::<K::Extra>(&p.dir)
                    .and_then(|r| r.settings.get("precision")?.as_str().map(str::to_string))
            })
        })
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    let _held = wait_claim(
        &dir.join(".aggregate.lock"),
        owner_tag().as_deref(),
        std::time::Duration::from_secs(600),
    )?;
    aggregate(
        kind,
        dir,
        &planned,
        precision,
        &data_id,
        &manifest["adapter"],
        manifest["dataset"].clone(),
        true,
    )?;
    Ok(())
}
