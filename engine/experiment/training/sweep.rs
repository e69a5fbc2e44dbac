//! The training kind of the sweep: one run trains and measures a grid point; the
//! aggregate is `epochs.csv`, `runs.csv` and the training figures.

use std::path::Path;

use anyhow::{Context as _, Result};

use super::rows::{epochs_header, run_row, RunSummary};
use super::{train_run, TrainingOps};
use crate::data::Dataset;
use crate::experiment::config::{Common, TrainingConfig, TrainingRun};
use crate::experiment::sweep::{Outcome, PlannedResult, RunContext, SweepKind};
use crate::io::table::Table;
use crate::io::tables::{read_for_join, Row as _, RunRow};

/// What a training run adds to `result.json`.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct TrainingExtra {
    pub summary: Option<RunSummary>,
}

impl SweepKind for TrainingConfig {
    type Run = TrainingRun;
    type Ops = TrainingOps;
    type Extra = TrainingExtra;
    const TABLE: &'static str = "epochs.csv";

    fn kind_name(&self) -> &'static str {
        self.kind.name()
    }
    fn common(&self) -> &Common {
        &self.common
    }
    fn runs(&self) -> Vec<TrainingRun> {
        TrainingConfig::runs(self)
    }
    fn run_id(run: &TrainingRun) -> String {
        run.id()
    }
    fn table_header() -> Vec<&'static str> {
        epochs_header()
    }
    fn data_request(&self, run: &TrainingRun) -> (usize, usize, u64) {
        (run.n, self.n_test, run.seed)
    }
    fn cost(&self, run: &TrainingRun) -> f64 {
        crate::experiment::cost::training_flops(self, run)
    }

    fn execute(
        &self, ctx: &RunContext<TrainingOps>, run: &TrainingRun, dataset: &Dataset,
    ) -> Result<Outcome<TrainingExtra>> {
        let tensors = self.common.save_tensors.then(|| ctx.dir.join("tensors"));
        let on_epoch = |done, total| ctx.progress.step(done, total);
        let (table, summary) = train_run(
            ctx.gpu,
            ctx.ops,
            self,
            run,
            dataset,
            tensors.as_deref(),
            &on_epoch,
        )?;
        table.write(&ctx.dir.join(Self::TABLE))?;
        Ok(Outcome {
            status: summary.status.clone(),
            diverged: summary.diverged_reason.clone(),
            extra: TrainingExtra {
                summary: Some(summary),
            },
        })
    }

    fn aggregate(
        &self, out: &Path, results: &[PlannedResult<'_, Self>], figures: bool,
    ) -> Result<()> {
        let mut epochs = Table::new(&epochs_header());
        let mut runs = Vec::new();
        for r in results {
            let (record, run) = (&r.record, &r.planned.run);
            let summary = record.extra.summary.as_ref().filter(|_| record.finished());
            if summary.is_some() {
                let path = r.planned.dir.join(Self::TABLE);
                epochs.extend(read_for_join(&path, &epochs.header)?)?;
            }
            runs.push(run_row(summary, run, &record.dataset, self, record.seconds));
        }
        epochs.write(&out.join("epochs.csv"))?;
        RunRow::table(&runs)?.write(&out.join("runs.csv"))?;
        // Drawn even with no finished run: the drawing removes earlier figures first.
        if figures {
            crate::analysis::figures_training::draw_training(out).context("drawing the figures")?;
        }
        Ok(())
    }
}
