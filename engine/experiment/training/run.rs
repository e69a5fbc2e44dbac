//! The run loop: set up the network and data, step and measure every epoch, stop at
//! the first non-finite value (`diverged`), and summarise.

use std::path::Path;

use anyhow::{bail, Result};

use super::epoch::{Epoch, Trajectory};
use super::rows::{EpochRecord, RunSummary};
use super::tensors::save_inputs_and_weights;
use super::{Network, NetworkKernels, TrainingOps, CLASSES};
use crate::data::Dataset;
use crate::error::is_non_finite;
use crate::experiment::config::{TrainingConfig, TrainingRun};
use crate::gpu::{Gpu, Tensor};
use crate::io::table::Table;
use crate::io::tables::{EpochRow, Row as _};
use crate::linalg::{LanczosOptions, Real};
use crate::nn::step::check_labels;
use crate::nn::{Fcn, FcnConfig};

/// A run's data on the GPU (inputs in the network's precision) and host, and its
/// scratch buffers.
pub(super) struct RunData<T: Real> {
    pub x: Tensor<T>,
    pub y: Tensor<u32>,
    pub labels: Vec<u32>,
    pub test: Option<(Tensor<T>, Tensor<u32>)>,
    pub test_labels: Vec<u32>,
    /// Per-example losses and ∂h/∂logits of the current step.
    pub losses: Tensor<T>,
    pub d_logits: Tensor<T>,
}

/// f32 inputs in `T` (exact: every f32 is an f64).
fn real_inputs<T: Real>(x: &[f32]) -> Vec<T> {
    x.iter().map(|&v| T::from_f64(v.into())).collect()
}

impl<T: Real> RunData<T> {
    fn upload(gpu: &Gpu, dataset: &Dataset, n: usize) -> Result<Self> {
        let labels: Vec<u32> = dataset.y_train.iter().map(|&y| y as u32).collect();
        let test_labels: Vec<u32> = dataset.y_test.iter().map(|&y| y as u32).collect();
        check_labels(&labels, CLASSES)?;
        check_labels(&test_labels, CLASSES)?;
        let n_test = test_labels.len();
        let test = if n_test > 0 {
            Some((
                Tensor::from_slice(gpu, &[n_test, dataset.d], &real_inputs(&dataset.x_test))?,
                Tensor::from_slice(gpu, &[n_test], &test_labels)?,
            ))
        } else {
            None
        };
        Ok(RunData {
            x: Tensor::from_slice(gpu, &[n, dataset.d], &real_inputs(&dataset.x_train))?,
            y: Tensor::from_slice(gpu, &[n], &labels)?,
            labels,
            test,
            test_labels,
            losses: Tensor::<T>::zeros(gpu, &[n])?,
            d_logits: Tensor::<T>::zeros(gpu, &[n, CLASSES])?,
        })
    }
}

fn fcn_config(config: &TrainingConfig, run: &TrainingRun, dataset: &Dataset) -> FcnConfig {
    FcnConfig {
        input_dim: dataset.d,
        widths: vec![run.width; run.depth],
        outputs: CLASSES,
        activation: run.activation,
        renormalize: run.renormalize,
        gain: config.common.gain,
        bias: config.bias,
        seed: run.seed,
    }
}

/// Trains one grid point and measures it; returns its `epochs.csv` rows and summary.
/// A non-finite loss, gradient or spectrum stops the run as `diverged` (not an error);
/// any other error (bad data included) fails it.
pub fn train_run(
    gpu: &Gpu, ops: &TrainingOps, config: &TrainingConfig, run: &TrainingRun, dataset: &Dataset,
    tensors_dir: Option<&Path>, on_epoch: &dyn Fn(usize, usize),
) -> Result<(Table, RunSummary)> {
    let setting = RunSetting {
        gpu,
        ops,
        config,
        run,
        dataset,
        tensors_dir,
    };
    let (records, diverged) = match &ops.network {
        Network::F32(net) => setting.train(net, on_epoch)?,
        Network::F64(net) => setting.train(net, on_epoch)?,
    };
    // Rows that were not measured keep only the cheap columns; drop none of them.
    let rows: Vec<EpochRow> = records
        .iter()
        .map(|r| r.row(run, &dataset.name, config, ops.precision()))
        .collect();
    let summary = summarize(config, run, &records, diverged)?;
    Ok((EpochRow::table(&rows)?, summary))
}

/// What one run trains and measures, whatever precision its network runs in.
struct RunSetting<'a> {
    gpu: &'a Gpu,
    ops: &'a TrainingOps,
    config: &'a TrainingConfig,
    run: &'a TrainingRun,
    dataset: &'a Dataset,
    tensors_dir: Option<&'a Path>,
}

/// The epoch and reason a run diverged at.
type Diverged = Option<(usize, String)>;

impl RunSetting<'_> {
    /// The epochs' records with a network in `T`, and where it diverged.
    fn train<T: Real>(
        &self, net: &NetworkKernels<T>, on_epoch: &dyn Fn(usize, usize),
    ) -> Result<(Vec<EpochRecord>, Diverged)> {
        let (gpu, ops, config, run, dataset) =
            (self.gpu, self.ops, self.config, self.run, self.dataset);
        let fcn = Fcn::<T>::init(gpu, fcn_config(config, run, dataset))?;
        let data = RunData::upload(gpu, dataset, run.n)?;
        if let Some(dir) = self.tensors_dir {
            save_inputs_and_weights(dir, dataset, &fcn, gpu, "initial")?;
        }
        let epoch = Epoch {
            gpu,
            ops,
            net,
            config,
            run,
            fcn: &fcn,
            data: &data,
            options: LanczosOptions {
                seed: run.seed,
                tol_min: ops.spectral.tol_min(),
                ..Default::default()
            },
        };
        let mut trajectory = Trajectory::default();
        let mut diverged = None;
        for t in 0..=config.epochs {
            let result = epoch.step(t, &mut trajectory);
            on_epoch(t + 1, config.epochs + 1);
            match result {
                Ok(()) => {}
                // A network that has blown up but not yet overflowed its loss (f32 NTK or
                // Gram entries past 1e38) has diverged, like a non-finite loss.
                Err(e) if is_non_finite(&e) => {
                    diverged = Some((t, format!("epoch {t}: {e:#}")));
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(dir) = self.tensors_dir {
            save_inputs_and_weights(dir, dataset, &fcn, gpu, "final")?;
        }
        Ok((trajectory.records, diverged))
    }
}

fn summarize(
    config: &TrainingConfig, run: &TrainingRun, records: &[EpochRecord], diverged: Diverged,
) -> Result<RunSummary> {
    let last = match records.last() {
        Some(r) => r,
        None => bail!("run {} diverged before its first measurement", run.id()),
    };
    let last_test = records
        .iter()
        .rev()
        .find_map(|r| r.test_loss.zip(r.test_accuracy));
    let (diverged_epoch, diverged_reason) = diverged.unzip();
    Ok(RunSummary {
        status: if diverged_epoch.is_some() {
            "diverged".into()
        } else {
            "done".into()
        },
        epochs_run: last.epoch,
        diverged_epoch,
        diverged_reason,
        final_train_loss: last.train_loss,
        final_train_accuracy: last.train_accuracy,
        final_test_loss: last_test.map(|(l, _)| l),
        final_test_accuracy: last_test.map(|(_, a)| a),
        passes_accuracy_filter: diverged_epoch.is_none()
            && last.train_accuracy > config.min_final_accuracy,
    })
}
