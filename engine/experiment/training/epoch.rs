//! One epoch in one submission: the previous epoch's gradient step (held back until its
//! gradient was read and found finite), forward, loss, backward, ‖g_t‖ and
//! ‖g_t − g_{t−1}‖, and at measured epochs everything `measured` records; then one
//! readback of every loss, logit and scalar. Only the spectra come back on their own
//! (the dense solver's tridiagonals; Lanczos solves submit their own blocks). Then the
//! loss predictions from the previous epoch's constants.

use anyhow::Result;

use super::measured::PendingMeasures;
use super::rows::EpochRecord;
use super::run::RunData;
use super::{NetworkKernels, TrainingOps};
use crate::error::NonFinite;
use crate::experiment::config::{TrainingConfig, TrainingRun};
use crate::gpu::{Batch, Gpu};
use crate::linalg::{LanczosOptions, Real};
use crate::measure::params::PendingNorm;
use crate::measure::{Gather, Gathered, GramTensor, Part};
use crate::nn::fcn::{check_norms_renormalizable, ForwardCache, ParamTensors};
use crate::nn::step::{accuracy, mean};
use crate::nn::Fcn;
use crate::theory::bounds::{mu_grad, predict_loss};

/// What one epoch needs, fixed for the run; the network is in `T`.
pub(super) struct Epoch<'a, T: Real> {
    pub gpu: &'a Gpu,
    pub ops: &'a TrainingOps,
    pub net: &'a NetworkKernels<T>,
    pub config: &'a TrainingConfig,
    pub run: &'a TrainingRun,
    pub fcn: &'a Fcn<T>,
    pub data: &'a RunData<T>,
    pub options: LanczosOptions,
}

/// What carries from one epoch to the next.
pub(super) struct Trajectory<T: Real> {
    pub records: Vec<EpochRecord>,
    /// g_{t−1}, whose step θ_t = θ_{t−1} − η g_{t−1} is recorded at the head of epoch
    /// t's batch (only a finite gradient is kept here).
    previous_grads: Option<ParamTensors<T>>,
    /// Ĝ at t = 0 and its λ_min, for Eq. 13.
    pub gram_initial: Option<(GramTensor, f64)>,
}

impl<T: Real> Default for Trajectory<T> {
    fn default() -> Self {
        Trajectory {
            records: Vec::new(),
            previous_grads: None,
            gram_initial: None,
        }
    }
}

/// The parts of an epoch's one readback that every epoch has.
struct StepParts<T: Real> {
    losses: Part<T>,
    logits: Part<T>,
    /// At t = 0, the renormalised layers' row norms (layer number from 1).
    norms: Vec<(usize, Part<T>)>,
    grad_norm: PendingNorm<T>,
    /// ‖g_t − g_{t−1}‖ from the second epoch on.
    grad_change: Option<PendingNorm<T>>,
}

/// Gathers the row norms of every renormalised layer of `cache`.
pub(super) fn gather_norms<T: Real>(
    cache: &ForwardCache<T>, gather: &mut Gather,
) -> Vec<(usize, Part<T>)> {
    let layers = cache.layers.iter().enumerate();
    layers
        .filter_map(|(l, layer)| layer.norms.as_ref().map(|n| (l + 1, gather.add(n))))
        .collect()
}

/// The renormalisation check of [`crate::nn::fcn::check_renormalizable`] on gathered
/// norms, layer by layer in order.
pub(super) fn check_norms<T: Real>(norms: &[(usize, Part<T>)], values: &Gathered) -> Result<()> {
    for &(number, part) in norms {
        check_norms_renormalizable(&values.get(part), number)?;
    }
    Ok(())
}

impl<T: Real> Epoch<'_, T> {
    /// Measures θ_t into a new row; unless t is the last epoch, keeps g_t for the step
    /// to θ_{t+1} that the next epoch records first. A non-finite loss, gradient or
    /// spectrum is a [`NonFinite`] error, and its step is never applied.
    pub fn step(&self, t: usize, trajectory: &mut Trajectory<T>) -> Result<()> {
        let (gpu, data, config, run) = (self.gpu, self.data, self.config, self.run);
        let mut batch = Batch::new(gpu);
        if let Some(previous) = &trajectory.previous_grads {
            // θ_t = θ_{t−1} − η g_{t−1}, before anything reads θ_t.
            let step = &self.net.step;
            step.record_gd_step(&mut batch, self.fcn, previous, run.lr)?;
        }
        let step = self.net.step.record_loss_and_gradients(
            &mut batch,
            self.fcn,
            &data.x,
            &data.y,
            config.objective(run.loss),
            &data.losses,
            &data.d_logits,
        )?;
        let mut gather = Gather::default();
        let params = &self.net.params;
        let parts = StepParts {
            losses: gather.add(&data.losses),
            logits: gather.add(&step.cache.logits),
            norms: if t == 0 {
                gather_norms(&step.cache, &mut gather)
            } else {
                Vec::new()
            },
            grad_norm: params.record_norm(&mut batch, &step.grads, &mut gather)?,
            grad_change: match &trajectory.previous_grads {
                Some(g) => Some(params.record_distance(&mut batch, &step.grads, g, &mut gather)?),
                None => None,
            },
        };
        let measured = t.is_multiple_of(config.measure_every) || t == config.epochs;
        let pending = measured
            .then(|| self.record_measures(&mut batch, &step, trajectory, &mut gather))
            .transpose()?;
        let read = gather.record(&mut batch)?;
        batch.submit()?;
        let values = read.read(gpu)?;
        check_norms(&parts.norms, &values)?;
        let per_example = values.get_f64(parts.losses);
        let h = mean(&per_example);
        let grad_norm = parts.grad_norm.finish(&values);
        if !h.is_finite() || !grad_norm.is_finite() {
            return Err(NonFinite::new(format!(
                "non-finite loss ({h}) or gradient norm ({grad_norm})"
            ))
            .into());
        }
        // L_secant of the previous row: ‖g_t − g_{t−1}‖ / (η ‖g_{t−1}‖).
        if let (Some(change), Some(last)) = (&parts.grad_change, trajectory.records.last_mut()) {
            last.l_secant = Some(change.finish(&values) / (run.lr * last.grad_norm));
        }
        let mut record = EpochRecord {
            epoch: t,
            train_loss: h,
            train_accuracy: accuracy(&values.get(parts.logits), &data.labels),
            grad_norm,
            mu_grad: mu_grad(grad_norm, h, 0.0),
            measured,
            ..Default::default()
        };
        if let Some(pending) = pending {
            self.finish_measures(
                pending,
                &values,
                &step,
                &per_example,
                &mut record,
                trajectory,
            )?;
        }
        self.predict(&mut record, trajectory.records.last());
        trajectory.records.push(record);
        if t < config.epochs {
            trajectory.previous_grads = Some(step.grads);
        }
        Ok(())
    }

    /// Records the measurements of a measured epoch into `batch` (see `measured`).
    fn record_measures(
        &self, batch: &mut Batch, step: &crate::nn::step::StepRecord<T>,
        trajectory: &Trajectory<T>, gather: &mut Gather,
    ) -> Result<PendingMeasures<T>> {
        let initial = trajectory.gram_initial.as_ref().map(|(g, _)| g);
        PendingMeasures::record(self, batch, step, initial, gather)
    }

    /// Bounds at t from the constants of t − 1 (when it was measured).
    fn predict(&self, record: &mut EpochRecord, previous: Option<&EpochRecord>) {
        let Some(prev) = previous.filter(|p| p.epoch + 1 == record.epoch && p.measured) else {
            return;
        };
        let (h, lr) = (record.train_loss, self.run.lr);
        if let (Some(mu), Some(l)) = (prev.mu_ntk, prev.l_ntk) {
            record.prediction_ntk = Some(predict_loss(prev.train_loss, h, 0.0, mu, l, lr));
        }
        if let Some(l) = prev.l_secant {
            record.prediction_grad =
                Some(predict_loss(prev.train_loss, h, 0.0, prev.mu_grad, l, lr));
        }
    }
}
