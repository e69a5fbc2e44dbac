//! One epoch: the gradient step's loss and gradient, and at measured epochs the test
//! loss, NTK spectrum, last hidden Ĝ and Lemma 2's bound; then the loss predictions
//! from the previous epoch's constants.

use anyhow::Result;

use super::rows::{EpochRecord, Lemma2Cells};
use super::run::RunData;
use super::{NetworkKernels, TrainingOps};
use crate::error::NonFinite;
use crate::experiment::config::{TrainingConfig, TrainingRun};
use crate::gpu::{Batch, Gpu};
use crate::linalg::{LanczosOptions, Real};
use crate::measure::GramTensor;
use crate::nn::fcn::{check_renormalizable, ParamTensors};
use crate::nn::step::{accuracy, StepRecord};
use crate::nn::{forward, Fcn, Loss};
use crate::theory::bounds::{mu_grad, predict_loss, stability_bound};

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
    previous_grads: Option<ParamTensors<T>>,
    /// Ĝ at t = 0 and its λ_min, for Eq. 13.
    gram_initial: Option<(GramTensor, f64)>,
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

impl<T: Real> Epoch<'_, T> {
    /// Measures θ_t into a new row and, unless t is the last epoch, steps to θ_{t+1}.
    /// A non-finite loss, gradient or spectrum is a [`NonFinite`] error.
    pub fn step(&self, t: usize, trajectory: &mut Trajectory<T>) -> Result<()> {
        let (gpu, data) = (self.gpu, self.data);
        // Forward, loss, backward: one submission.
        let mut batch = Batch::new(gpu);
        let step = self.net.step.record_loss_and_gradients(
            &mut batch,
            self.fcn,
            &data.x,
            &data.y,
            self.config.objective(self.run.loss),
            &data.losses,
            &data.d_logits,
        )?;
        batch.submit()?;
        if t == 0 {
            check_renormalizable(gpu, &step.cache)?;
        }
        let per_example: Vec<f64> = data
            .losses
            .to_vec(gpu)?
            .into_iter()
            .map(T::to_f64)
            .collect();
        let h = per_example.iter().sum::<f64>() / self.run.n as f64;
        let grad_norm = self.net.params.norm(gpu, &step.grads)?;
        if !h.is_finite() || !grad_norm.is_finite() {
            return Err(NonFinite::new(format!(
                "non-finite loss ({h}) or gradient norm ({grad_norm})"
            ))
            .into());
        }
        // L_secant of the previous row: ‖g_t − g_{t−1}‖ / (η ‖g_{t−1}‖).
        if let (Some(prev), Some(last)) =
            (&trajectory.previous_grads, trajectory.records.last_mut())
        {
            let change = self.net.params.distance(gpu, &step.grads, prev)?;
            last.l_secant = Some(change / (self.run.lr * last.grad_norm));
        }
        let config = self.config;
        let mut record = EpochRecord {
            epoch: t,
            train_loss: h,
            train_accuracy: accuracy(&step.cache.logits.to_vec(gpu)?, &data.labels),
            grad_norm,
            mu_grad: mu_grad(grad_norm, h, 0.0),
            measured: t.is_multiple_of(config.measure_every) || t == config.epochs,
            ..Default::default()
        };
        if record.measured {
            self.measure(&step, &per_example, &mut record, trajectory)?;
        }
        self.predict(&mut record, trajectory.records.last());
        trajectory.records.push(record);
        if t < config.epochs {
            // The step θ_{t+1} = θ_t − η g_t.
            let mut batch = Batch::new(gpu);
            self.net
                .step
                .record_gd_step(&mut batch, self.fcn, &step.grads, self.run.lr)?;
            batch.submit()?;
            trajectory.previous_grads = Some(step.grads);
        }
        Ok(())
    }

    /// The measured columns: test loss, NTK, Ĝ, Lemma 2.
    fn measure(
        &self, step: &StepRecord<T>, per_example: &[f64], record: &mut EpochRecord,
        trajectory: &mut Trajectory<T>,
    ) -> Result<()> {
        let test_losses = self.measure_test(record)?;
        let ntk = self.ops.ntk_spectrum(
            self.gpu,
            self.net,
            self.fcn,
            &step.cache,
            self.config.ntk,
            &self.options,
        )?;
        if self.run.loss == Loss::Mse {
            // μ_loss = L_loss of Lemma 3: 1/n for half_sum, 2/(n·k) for mean.
            let k = step.cache.logits.dims2("logits")?.1;
            let c = self.config.objective(Loss::Mse).curvature(self.run.n, k);
            record.mu_ntk = Some(c * ntk.spectrum.lambda_min());
            record.l_ntk = Some(c * ntk.spectrum.lambda_max());
        }
        record.ntk = Some((ntk.spectrum, ntk.method.name().to_string(), ntk.precision));
        if self.run.depth > 0 {
            self.measure_gram(step, record, &mut trajectory.gram_initial)?;
        }
        if matches!(self.run.loss, Loss::Mse | Loss::MseSoftmax) {
            self.measure_lemma2(step, per_example, &test_losses, record)?;
        }
        Ok(())
    }

    /// Test loss and accuracy; returns the per-example test losses (empty without a
    /// test set).
    fn measure_test(&self, record: &mut EpochRecord) -> Result<Vec<f64>> {
        let Some((xt, yt)) = &self.data.test else {
            return Ok(Vec::new());
        };
        let (gpu, net) = (self.gpu, self.net);
        let logits = forward(gpu, &net.step.forward, self.fcn, xt, |_, _| Ok(()))?;
        let (h_test, acc, per) = net.step.loss_and_accuracy(
            gpu,
            self.config.objective(self.run.loss),
            &logits,
            yt,
            &self.data.test_labels,
        )?;
        record.test_loss = Some(h_test);
        record.test_accuracy = Some(acc);
        Ok(per)
    }

    /// The last hidden layer's Ĝ, its spectrum, its change from t = 0 and Eq. 13.
    fn measure_gram(
        &self, step: &StepRecord<T>, record: &mut EpochRecord,
        initial: &mut Option<(GramTensor, f64)>,
    ) -> Result<()> {
        let features = &step.cache.inputs[self.run.depth];
        let spectral = &self.ops.spectral;
        let m = spectral.gram_spectrum(self.gpu, features, self.run.seed)?;
        let lambda_min = m.spectrum.lambda_min();
        match initial {
            Some((g0, lambda0)) => {
                let change = spectral
                    .frobenius_change(self.gpu, &m.gram, g0)?
                    .unwrap_or(f64::NAN);
                record.gram_change = Some(change);
                record.eq13 = Some(*lambda0 - change);
            }
            None => {
                record.gram_change = Some(0.0);
                record.eq13 = Some(lambda_min);
                *initial = Some((m.gram, lambda_min));
            }
        }
        record.gram = Some(m.spectrum);
        Ok(())
    }

    /// Lemma 2's stability bound from G (per-example Lipschitz), M, μ_grad and μ_ntk.
    fn measure_lemma2(
        &self, step: &StepRecord<T>, per_example: &[f64], test_losses: &[f64],
        record: &mut EpochRecord,
    ) -> Result<()> {
        let (config, run, h) = (self.config, self.run, record.train_loss);
        let g_lip = self
            .net
            .params
            .lipschitz(self.gpu, &step.cache, &step.deltas, config.bias)?;
        let m = if run.loss == Loss::MseSoftmax {
            1.0
        } else {
            per_example
                .iter()
                .chain(test_losses)
                .cloned()
                .fold(0.0f64, f64::max)
        };
        let by_grad = stability_bound(h, g_lip, record.mu_grad, run.n, m, config.delta);
        let by_ntk = record
            .mu_ntk
            .map(|mu| stability_bound(h, g_lip, mu, run.n, m, config.delta));
        record.lemma2 = Some(Lemma2Cells {
            g_lipschitz: g_lip,
            m,
            delta: config.delta,
            beta_grad: by_grad.beta,
            gen_bound_grad: by_grad.gen_bound,
            beta_ntk: by_ntk.map(|b| b.beta),
            gen_bound_ntk: by_ntk.map(|b| b.gen_bound),
            gap: record.test_loss.map(|h_test| h_test - h),
            vacuous: by_grad.gen_bound >= m,
        });
        Ok(())
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
