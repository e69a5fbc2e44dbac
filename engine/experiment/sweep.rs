//! One sweep for every experiment kind: plan the runs (id and folder each), skip those
//! finished, run the rest writing each result as soon as it finishes, then aggregate
//! from whatever per-run results exist. The per-kind pieces are a [`SweepKind`].
//!
//! Per run, `runs/<id>/result.json` is a [`RunRecord`] and `runs/<id>/<TABLE>` its rows;
//! both are written atomically, so a run either has a result or is recomputed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::config::Common;
use crate::data::{load_dataset, Dataset};
use crate::gpu::Gpu;
use crate::io::table::write_atomic;
use crate::linalg::Precision;

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
}

/// The per-kind pieces of a sweep.
pub trait SweepKind: Serialize {
    type Run;
    type Ops;
    /// Kind-specific fields of `result.json`, beside the common ones.
    type Extra: Serialize + DeserializeOwned + Default;
    /// The per-run table, in `runs/<id>/`.
    const TABLE: &'static str;

    fn kind_name(&self) -> &'static str;
    fn common(&self) -> &Common;
    fn runs(&self) -> Vec<Self::Run>;
    fn run_id(run: &Self::Run) -> String;
    /// The columns of [`Self::TABLE`]; a table with other columns is recomputed.
    fn table_header() -> Vec<&'static str>;
    /// (train examples, test examples, seed) of the run's dataset.
    fn data_request(&self, run: &Self::Run) -> (usize, usize, u64);
    fn new_ops(gpu: &Gpu, precision: Precision) -> Result<Self::Ops>;
    /// Computes one run and writes its table into `ctx.dir`.
    fn execute(
        &self,
        ctx: &RunContext<Self::Ops>,
        run: &Self::Run,
        dataset: &Dataset,
    ) -> Result<Outcome<Self::Extra>>;
    /// Writes the aggregate tables (and figures) from the finished runs.
    fn aggregate(&self, out: &Path, results: &[PlannedResult<'_, Self>]) -> Result<()>;
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

/// The records that exist of the planned runs, in plan order.
pub fn existing_results<'a, K: SweepKind>(
    planned: &'a [PlannedRun<K::Run>],
) -> Vec<PlannedResult<'a, K>> {
    planned
        .iter()
        .filter_map(|p| read_record(&p.dir).map(|record| PlannedResult { planned: p, record }))
        .collect()
}

/// Whether a run has a finished result with today's table columns.
pub fn is_finished<K: SweepKind>(dir: &Path) -> bool {
    read_record::<K::Extra>(dir).is_some_and(|r| r.finished())
        && has_header(&dir.join(K::TABLE), &K::table_header())
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
    fn get(
        &mut self,
        common: &Common,
        key: (usize, usize, u64),
        progress: &indicatif::ProgressBar,
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
}

/// Runs every planned run not finished (all with `force`), writing each record.
pub fn run_all<K: SweepKind>(
    kind: &K,
    ctx_base: &RunContext<K::Ops>,
    planned: &[PlannedRun<K::Run>],
    data: &mut SweepData,
    progress: &indicatif::ProgressBar,
) -> Result<Tally> {
    let mut tally = Tally::default();
    for p in planned {
        progress.set_message(p.id.clone());
        if !ctx_base.force && is_finished::<K>(&p.dir) {
            tally.skipped += 1;
        } else {
            let record = run_one(kind, ctx_base, p, data, progress, &mut tally)?;
            write_atomic(
                &p.dir.join("result.json"),
                serde_json::to_string_pretty(&record)?.as_bytes(),
            )?;
        }
        progress.inc(1);
    }
    Ok(tally)
}

fn run_one<K: SweepKind>(
    kind: &K,
    ctx_base: &RunContext<K::Ops>,
    p: &PlannedRun<K::Run>,
    data: &mut SweepData,
    progress: &indicatif::ProgressBar,
    tally: &mut Tally,
) -> Result<RunRecord<K::Extra>> {
    std::fs::create_dir_all(&p.dir)?;
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
                extra: K::Extra::default(),
            }
        }
    })
}

pub fn progress_bar(len: usize, quiet: bool) -> indicatif::ProgressBar {
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
