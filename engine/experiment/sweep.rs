//! One sweep for every experiment kind: plan the runs (id and folder each), skip those
//! finished, run the rest writing each result as soon as it finishes, then aggregate
//! from whatever per-run results exist. The per-kind pieces are a [`SweepKind`].
//!
//! Per run, `runs/<id>/result.json` is a [`RunRecord`] and `runs/<id>/<TABLE>` its rows;
//! both are written atomically, so a run either has a result or is recomputed. A result
//! is reused only when its settings fingerprint ([`super::identity`]) matches today's.
//! Several processes may share one output folder: a run is claimed (`runs/<id>/claim.lock`,
//! [`crate::io::claim`]) before it is computed, and a process computes only the runs of
//! its shard (`--shard I/N`: index mod N == I).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::config::Common;
use super::identity::{changed_keys, run_settings, settings_fingerprint};
use super::progress::Progress;
use crate::data::{load_dataset, Dataset};
use crate::gpu::Gpu;
use crate::io::claim::{owner_tag, try_claim, ClaimOutcome};
use crate::io::table::write_atomic;
use crate::linalg::Precision;
use crate::measure::SpectralOps;
use crate::nn::NetworkPrecision;

/// What a kind computes for one run, besides the common record fields.
pub struct Outcome<E> {
    /// done or diverged.
    pub status: String,
    /// Why the run diverged, when it did.
    pub diverged: Option<String>,
    pub extra: E,
}

/// Where a run computes: the device, the kind's kernels, its folder, the sweep's folder.
pub struct RunContext<'a, Ops> {
    pub gpu: &'a Gpu,
    pub ops: &'a Ops,
    pub out: &'a Path,
    pub dir: &'a Path,
    /// Recompute results that exist (`--force`).
    pub force: bool,
    /// The precision that runs, resolved once for the sweep.
    pub precision: Precision,
    /// The dataset's identity ([`super::identity::data_identity`]).
    pub data: &'a serde_json::Value,
    /// This process's share of the runs: (I, N) computes the runs whose index mod N is I.
    pub shard: Option<(usize, usize)>,
    pub progress: &'a Progress,
}

/// The kernels a kind's runs use, built once per device.
pub trait SweepOps: Sized {
    /// Spectral solves in `precision` (auto resolved), the network in `network`.
    fn build(gpu: &Gpu, precision: Precision, network: NetworkPrecision) -> Result<Self>;
    /// These kernels with their spectral ones replaced by `choose(spectral)`.
    fn with_spectral(self, choose: impl FnOnce(SpectralOps) -> SpectralOps) -> Self;
}

/// The per-kind pieces of a sweep.
pub trait SweepKind: Serialize {
    type Run: Serialize;
    type Ops: SweepOps;
    /// Kind-specific fields of `result.json`, beside the common ones.
    type Extra: Serialize + DeserializeOwned + Default;
    /// The per-run table, in `runs/<id>/`.
    const TABLE: &'static str;

    fn kind_name(&self) -> &'static str;
    fn common(&self) -> &Common;
    fn runs(&self) -> Vec<Self::Run>;
    /// The run's estimated work in FLOPs ([`super::cost`]), for the progress ETA.
    fn cost(&self, _run: &Self::Run) -> f64 {
        1.0
    }
    fn run_id(run: &Self::Run) -> String;
    /// The columns of [`Self::TABLE`]; a table with other columns is recomputed.
    fn table_header() -> Vec<&'static str>;
    /// (train examples, test examples, seed) of the run's dataset.
    fn data_request(&self, run: &Self::Run) -> (usize, usize, u64);
    /// The kernels, their spectra computed by the config's method and tolerance.
    fn new_ops(&self, gpu: &Gpu, precision: Precision) -> Result<Self::Ops> {
        let c = self.common();
        let ops = Self::Ops::build(gpu, precision, c.network_precision)?;
        Ok(ops.with_spectral(|s| s.with_choice(c.spectrum_method, c.spectrum_tol_min)))
    }
    /// Computes one run and writes its table into `ctx.dir`.
    fn execute(
        &self, ctx: &RunContext<Self::Ops>, run: &Self::Run, dataset: &Dataset,
    ) -> Result<Outcome<Self::Extra>>;
    /// Writes the aggregate tables from the finished runs, and the figures when
    /// `figures` (the tables are rebuilt after every run, the figures at the end).
    fn aggregate(
        &self, out: &Path, results: &[PlannedResult<'_, Self>], figures: bool,
    ) -> Result<()>;

    /// Everything that changes the numbers of `run` ([`super::identity`]).
    fn settings(
        &self, run: &Self::Run, precision: Precision, data: &serde_json::Value,
    ) -> serde_json::Value {
        run_settings(self.kind_name(), self, self.common(), run, precision, data)
    }
}

/// What a run leaves in `runs/<id>/result.json`.
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "E: Serialize", deserialize = "E: DeserializeOwned"))]
pub struct RunRecord<E> {
    pub run_id: String,
    /// done, diverged or failed.
    pub status: String,
    pub seconds: f64,
    pub dataset: String,
    pub synthetic: bool,
    pub error: Option<String>,
    /// Fingerprint of `settings`; empty in results of wideprobe before 0.2.
    #[serde(default)]
    pub fingerprint: String,
    /// What the numbers were computed under ([`super::identity`]).
    #[serde(default)]
    pub settings: serde_json::Value,
    #[serde(flatten)]
    pub extra: E,
}

impl<E> RunRecord<E> {
    /// done or diverged: its table exists and counts.
    pub fn finished(&self) -> bool {
        self.status == "done" || self.status == "diverged"
    }
}

/// One grid point of a sweep and its folder.
pub struct PlannedRun<R> {
    pub run: R,
    pub id: String,
    pub dir: PathBuf,
}

/// A planned run and the record it has left.
pub struct PlannedResult<'a, K: SweepKind + ?Sized> {
    pub planned: &'a PlannedRun<K::Run>,
    pub record: RunRecord<K::Extra>,
}

/// Every run of `kind` with its id and folder under `out`.
pub fn plan<K: SweepKind>(kind: &K, out: &Path) -> Vec<PlannedRun<K::Run>> {
    kind.runs()
        .into_iter()
        .map(|run| {
            let id = K::run_id(&run);
            let dir = out.join("runs").join(&id);
            PlannedRun { run, id, dir }
        })
        .collect()
}

pub fn read_record<E: DeserializeOwned>(dir: &Path) -> Option<RunRecord<E>> {
    serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).ok()?).ok()
}

/// The records of the planned runs computed under today's settings, in plan order:
/// results of other settings are left out, so no table shows numbers of a config it
/// does not describe.
pub fn existing_results<'a, K: SweepKind>(
    kind: &K, planned: &'a [PlannedRun<K::Run>], precision: Precision, data: &serde_json::Value,
) -> Vec<PlannedResult<'a, K>> {
    planned
        .iter()
        .filter_map(|p| {
            let record = read_record::<K::Extra>(&p.dir)?;
            let settings = kind.settings(&p.run, precision, data);
            (record.fingerprint == settings_fingerprint(&settings))
                .then_some(PlannedResult { planned: p, record })
        })
        .collect()
}

/// Whether a run's result can be reused.
#[derive(Debug, PartialEq)]
pub enum Reuse {
    /// Finished under today's settings.
    Fresh,
    /// Finished, but under other settings (the keys that differ), or with old columns.
    Stale(Vec<String>),
    /// Not finished (no result, or failed).
    Missing,
}

/// Whether the run in `dir` has a finished result computed under `settings`.
pub fn reuse<K: SweepKind>(dir: &Path, settings: &serde_json::Value) -> Reuse {
    let Some(record) = read_record::<K::Extra>(dir).filter(|r| r.finished()) else {
        return Reuse::Missing;
    };
    if !has_header(&dir.join(K::TABLE), &K::table_header()) {
        return Reuse::Stale(vec!["table columns".into()]);
    }
    if record.fingerprint != settings_fingerprint(settings) {
        return Reuse::Stale(changed_keys(&record.settings, settings));
    }
    Reuse::Fresh
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

/// The datasets of a sweep, loaded once per (n, n_test, seed), and the manifest's
/// description of the first one loaded.
#[derive(Default)]
pub struct SweepData {
    loaded: BTreeMap<(usize, usize, u64), Dataset>,
    pub described: Option<serde_json::Value>,
}

impl SweepData {
    /// The dataset of `(n, n_test, seed)`, loaded the first time; the first dataset's
    /// warnings are printed above the progress bar.
    pub fn get(
        &mut self, common: &Common, key: (usize, usize, u64), progress: &Progress,
    ) -> Result<&Dataset> {
        let dataset = match self.loaded.entry(key) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let (n, n_test, seed) = key;
                let data_dir = common.data_dir.as_deref();
                e.insert(load_dataset(
                    common.dataset,
                    data_dir,
                    common.input_norm,
                    n,
                    n_test,
                    seed,
                )?)
            }
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
}

/// Counts of a sweep's runs as it goes.
#[derive(Debug, Default)]
pub struct Tally {
    pub done: usize,
    pub skipped: usize,
    /// Runs computed this time that diverged (counted in `done` too).
    pub diverged: usize,
    pub failed: Vec<(String, String)>,
    /// Runs recomputed because their result was computed under other settings, with
    /// the settings that changed.
    pub stale: Vec<(String, Vec<String>)>,
    /// Runs another process holds (id, who and for how long).
    pub claimed_elsewhere: Vec<(String, String)>,
    /// Runs of other shards, left to them.
    pub other_shards: usize,
    /// The sweep stopped early on a signal (Slurm's warning before the time limit).
    pub stopped: bool,
}

/// Runs every planned run of this shard that has no fresh result (all with `force`),
/// claiming each first and writing its record; `after_run` is called after each run
/// computed here (to rebuild the aggregates).
pub fn run_all<K: SweepKind>(
    kind: &K, ctx_base: &RunContext<K::Ops>, planned: &[PlannedRun<K::Run>], data: &mut SweepData,
    progress: &Progress, after_run: &mut dyn FnMut() -> Result<()>,
) -> Result<Tally> {
    let mut tally = Tally::default();
    let owner = owner_tag();
    for (index, p) in planned.iter().enumerate() {
        if ctx_base.shard.is_some_and(|(i, n)| index % n != i) {
            tally.other_shards += 1;
            continue;
        }
        if crate::cluster::stop_requested() {
            tally.stopped = true;
            break;
        }
        let cost = kind.cost(&p.run);
        let settings = kind.settings(&p.run, ctx_base.precision, ctx_base.data);
        match reuse::<K>(&p.dir, &settings) {
            Reuse::Fresh if !ctx_base.force => {
                tally.skipped += 1;
                progress.pass_run(cost);
                continue;
            }
            Reuse::Stale(changed) if !ctx_base.force => tally.stale.push((p.id.clone(), changed)),
            _ => {}
        }
        crate::io::create_folder(&p.dir)?;
        let claim = match try_claim(&p.dir.join("claim.lock"), owner.as_deref())? {
            ClaimOutcome::Claimed(c) => c,
            ClaimOutcome::HeldBy(info, age) => {
                let who = format!("pid {} on {}, {} s", info.pid, info.host, age.as_secs());
                tally.claimed_elsewhere.push((p.id.clone(), who));
                progress.pass_run(cost);
                continue;
            }
        };
        // Another process may have finished it between our check and our claim.
        if !ctx_base.force && reuse::<K>(&p.dir, &settings) == Reuse::Fresh {
            tally.skipped += 1;
            progress.pass_run(cost);
        } else {
            progress.start_run(&p.id, cost);
            let mut record = run_one(kind, ctx_base, p, data, progress, &mut tally)?;
            progress.finish_run(&record.status);
            record.fingerprint = settings_fingerprint(&settings);
            record.settings = settings;
            write_atomic(
                &p.dir.join("result.json"),
                serde_json::to_string_pretty(&record)?.as_bytes(),
            )?;
            drop(claim);
            after_run()?;
        }
    }
    Ok(tally)
}

fn run_one<K: SweepKind>(
    kind: &K, ctx_base: &RunContext<K::Ops>, p: &PlannedRun<K::Run>, data: &mut SweepData,
    progress: &Progress, tally: &mut Tally,
) -> Result<RunRecord<K::Extra>> {
    let ctx = RunContext {
        dir: &p.dir,
        ..*ctx_base
    };
    let start = Instant::now();
    let result = data
        .get(kind.common(), kind.data_request(&p.run), progress)
        .and_then(|dataset| Ok((kind.execute(&ctx, &p.run, dataset)?, dataset)));
    let seconds = start.elapsed().as_secs_f64();
    let id = p.id.clone();
    Ok(match result {
        Ok((outcome, dataset)) => {
            tally.done += 1;
            if let Some(reason) = &outcome.diverged {
                tally.diverged += 1;
                progress.suspend(|| {
                    eprintln!("run {id} diverged ({reason}); its rows up to there are kept and the sweep goes on")
                });
            }
            RunRecord {
                run_id: id,
                status: outcome.status,
                seconds,
                dataset: dataset.name.clone(),
                synthetic: dataset.synthetic,
                error: None,
                fingerprint: String::new(),
                settings: serde_json::Value::Null,
                extra: outcome.extra,
            }
        }
        Err(e) => {
            let message = format!("{e:#}");
            progress.suspend(|| eprintln!("run {id} failed: {message}"));
            tally.failed.push((id.clone(), message.clone()));
            RunRecord {
                run_id: id,
                status: "failed".into(),
                seconds,
                dataset: String::new(),
                synthetic: false,
                error: Some(message),
                fingerprint: String::new(),
                settings: serde_json::Value::Null,
                extra: K::Extra::default(),
            }
        }
    })
}
