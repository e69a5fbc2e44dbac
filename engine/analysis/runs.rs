//! The accuracy filter that the figures and the findings both apply (MEASUREMENTS.md
//! §9: a run whose final accuracy misses the filter is left out of every aggregate).

use std::collections::HashMap;

use crate::io::tables::RunRow;

/// What `runs.csv` says of each run, by run id.
pub struct RunStatuses {
    /// None when there is no runs.csv: then the filter is not applied.
    runs: Option<HashMap<String, RunRow>>,
}

impl RunStatuses {
    /// The statuses of `runs`; None (no runs.csv) keeps every run.
    pub fn new(runs: Option<&[RunRow]>) -> Self {
        RunStatuses {
            runs: runs.map(|rows| rows.iter().map(|r| (r.run_id.clone(), r.clone())).collect()),
        }
    }

    /// Whether the filter could be applied (runs.csv was there).
    pub fn filter_applied(&self) -> bool {
        self.runs.is_some()
    }

    /// Whether the run's epochs count: it passed the accuracy filter. A run missing
    /// from runs.csv (still running, or interrupted) has not; without runs.csv every
    /// run counts.
    pub fn passes(&self, run_id: &str) -> bool {
        self.runs
            .as_ref()
            .is_none_or(|runs| runs.get(run_id).is_some_and(|r| r.passes_accuracy_filter))
    }

    /// Whether the run failed; a run missing from runs.csv has not (yet).
    pub fn failed(&self, run_id: &str) -> bool {
        self.runs
            .as_ref()
            .and_then(|runs| runs.get(run_id))
            .is_some_and(|r| r.status == "failed")
    }
}
