//! A measured epoch's columns, recorded into the epoch's one batch and finished from its
//! one readback: the test forward pass and loss, the NTK (explicit: assembled and, by
//! the dense method, reduced in the batch; matrix-free: Lanczos after it), the last
//! hidden Ĝ with its spectrum and change from t = 0, and Lemma 2's per-example
//! Lipschitz terms.

use anyhow::Result;

use super::epoch::{check_norms, gather_norms, Epoch, Trajectory};
use super::rows::{EpochRecord, Lemma2Cells};
use crate::gpu::{Batch, Tensor};
use crate::linalg::Real;
use crate::measure::params::PendingLipschitz;
use crate::measure::{Gather, Gathered, GramTensor, Part, PendingGram};
use crate::nn::fcn::{record_forward_cached, ForwardCache};
use crate::nn::ntk::{finish_ntk_spectrum, record_ntk_spectrum, PendingNtk};
use crate::nn::step::{accuracy, mean, StepRecord};
use crate::nn::Loss;
use crate::theory::bounds::stability_bound;

/// The test set's forward pass and losses, recorded.
struct PendingTest<T: Real> {
    losses: Part<T>,
    logits: Part<T>,
    norms: Vec<(usize, Part<T>)>,
    /// The pass and the loss's outputs, kept until the batch has run.
    _cache: ForwardCache<T>,
    _outputs: (Tensor<T>, Tensor<T>),
}

/// Everything a measured epoch recorded, finished after the batch's submission.
pub(super) struct PendingMeasures<T: Real> {
    test: Option<PendingTest<T>>,
    ntk: PendingNtk,
    gram: Option<PendingGram>,
    lipschitz: Option<PendingLipschitz<T>>,
}

impl<T: Real> PendingMeasures<T> {
    /// Records the measurements of θ_t at `step` into `batch`; Ĝ's change is taken
    /// from `initial` (Ĝ at t = 0) when there is one.
    pub fn record(
        epoch: &Epoch<T>, batch: &mut Batch, step: &StepRecord<T>, initial: Option<&GramTensor>,
        gather: &mut Gather,
    ) -> Result<Self> {
        let (ops, net, run) = (epoch.ops, epoch.net, epoch.run);
        let test = match &epoch.data.test {
            Some((xt, yt)) => {
                let cache = record_forward_cached(batch, &net.step.forward, epoch.fcn, xt)?;
                let objective = epoch.config.objective(run.loss);
                let outputs = net
                    .step
                    .record_losses(batch, objective, &cache.logits, yt)?;
                Some(PendingTest {
                    losses: gather.add(&outputs.0),
                    logits: gather.add(&cache.logits),
                    norms: gather_norms(&cache, gather),
                    _cache: cache,
                    _outputs: outputs,
                })
            }
            None => None,
        };
        let ntk = record_ntk_spectrum(
            batch,
            &net.step.forward,
            &ops.ntk,
            epoch.fcn,
            &step.cache,
            epoch.config.ntk,
            ops.spectral.ntk_solvers(&epoch.options),
        )?;
        let gram = if run.depth > 0 {
            let features = &step.cache.inputs[run.depth];
            let spectral = &ops.spectral;
            Some(spectral.record_gram_spectrum(batch, features, run.seed, initial, gather)?)
        } else {
            None
        };
        let lipschitz = if matches!(run.loss, Loss::Mse | Loss::MseSoftmax) {
            let (cache, deltas, bias) = (&step.cache, &step.deltas, epoch.config.bias);
            Some(
                net.params
                    .record_lipschitz(batch, cache, deltas, bias, gather)?,
            )
        } else {
            None
        };
        Ok(PendingMeasures {
            test,
            ntk,
            gram,
            lipschitz,
        })
    }
}

impl<T: Real> Epoch<'_, T> {
    /// The measured columns from the epoch's readback `values`: test loss, NTK, Ĝ,
    /// Lemma 2.
    pub(super) fn finish_measures(
        &self, pending: PendingMeasures<T>, values: &Gathered, step: &StepRecord<T>,
        per_example: &[f64], record: &mut EpochRecord, trajectory: &mut Trajectory<T>,
    ) -> Result<()> {
        let test_losses = match &pending.test {
            Some(test) => self.finish_test(test, values, record)?,
            None => Vec::new(),
        };
        let solvers = self.ops.spectral.ntk_solvers(&self.options);
        let forward = &self.net.step.forward;
        let ntk = finish_ntk_spectrum(
            self.gpu,
            pending.ntk,
            forward,
            self.fcn,
            &step.cache,
            solvers,
        )?;
        if self.run.loss == Loss::Mse {
            // μ_loss = L_loss of Lemma 3: 1/n for half_sum, 2/(n·k) for mean.
            let k = step.cache.logits.dims2("logits")?.1;
            let c = self.config.objective(Loss::Mse).curvature(self.run.n, k);
            record.mu_ntk = Some(c * ntk.spectrum.lambda_min());
            record.l_ntk = Some(c * ntk.spectrum.lambda_max());
        }
        record.ntk = Some((ntk.spectrum, ntk.method.name().to_string(), ntk.precision));
        if let Some(gram) = pending.gram {
            self.finish_gram(gram, values, record, &mut trajectory.gram_initial)?;
        }
        if let Some(lipschitz) = &pending.lipschitz {
            let g_lip = lipschitz.finish(values);
            self.lemma2(g_lip, per_example, &test_losses, record);
        }
        Ok(())
    }

    /// Test loss and accuracy; returns the per-example test losses.
    fn finish_test(
        &self, test: &PendingTest<T>, values: &Gathered, record: &mut EpochRecord,
    ) -> Result<Vec<f64>> {
        check_norms(&test.norms, values)?;
        let per = values.get_f64(test.losses);
        record.test_loss = Some(mean(&per));
        record.test_accuracy = Some(accuracy(&values.get(test.logits), &self.data.test_labels));
        Ok(per)
    }

    /// The last hidden layer's Ĝ, its spectrum, its change from t = 0 and Eq. 13.
    fn finish_gram(
        &self, pending: PendingGram, values: &Gathered, record: &mut EpochRecord,
        initial: &mut Option<(GramTensor, f64)>,
    ) -> Result<()> {
        let spectral = &self.ops.spectral;
        let (m, change) = spectral.finish_gram_spectrum(self.gpu, pending, values)?;
        let lambda_min = m.spectrum.lambda_min();
        match initial {
            Some((_, lambda0)) => {
                let change = change.unwrap_or(f64::NAN);
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
    fn lemma2(
        &self, g_lip: f64, per_example: &[f64], test_losses: &[f64], record: &mut EpochRecord,
    ) {
        let (config, run, h) = (self.config, self.run, record.train_loss);
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
    }
}
