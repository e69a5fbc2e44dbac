//! One gradient-descent step of full-batch training (MEASUREMENTS.md §5): forward,
//! loss, backward recorded together, then θ ← θ − η g; and the loss and accuracy of
//! logits on the host.

use anyhow::Result;

use super::fcn::{record_backward_deltas, record_forward_cached, ForwardCache, ParamTensors};
use super::{Fcn, ForwardOps, Objective};
use crate::gpu::{Batch, Gpu, Tensor};
use crate::linalg::Real;
pub use crate::ops::loss::check_labels;
use crate::ops::loss::LossOp;

/// The kernels of a training step in one precision, built once per device.
pub struct TrainStep<T: Real = f32> {
    pub forward: ForwardOps<T>,
    loss: LossOp<T>,
}

/// What one recorded step leaves: the forward cache, the gradients and every layer's δ
/// (for per-example gradient norms).
pub struct StepRecord<T: Real = f32> {
    pub cache: ForwardCache<T>,
    pub grads: ParamTensors<T>,
    pub deltas: Vec<Tensor<T>>,
}

impl<T: Real> TrainStep<T> {
    pub fn new(gpu: &Gpu) -> Result<Self> {
        Ok(TrainStep {
            forward: ForwardOps::new(gpu)?,
            loss: LossOp::new(gpu)?,
        })
    }

    /// Records forward, loss and backward of h at the current parameters. Writes the
    /// per-example losses into `losses` and ∂h/∂logits into `d_logits`.
    #[allow(clippy::too_many_arguments)]
    pub fn record_loss_and_gradients(
        &self, batch: &mut Batch, fcn: &Fcn<T>, x: &Tensor<T>, labels: &Tensor<u32>,
        objective: Objective, losses: &Tensor<T>, d_logits: &Tensor<T>,
    ) -> Result<StepRecord<T>> {
        let cache = record_forward_cached(batch, &self.forward, fcn, x)?;
        let weight = objective.weight(cache.logits.dims2("logits")?.1);
        self.loss.forward_backward(
            batch,
            objective.loss,
            weight,
            &cache.logits,
            labels,
            losses,
            d_logits,
        )?;
        let (grads, deltas) = record_backward_deltas(batch, &self.forward, fcn, &cache, d_logits)?;
        Ok(StepRecord {
            cache,
            grads,
            deltas,
        })
    }

    /// Records θ ← θ − η g.
    pub fn record_gd_step(
        &self, batch: &mut Batch, fcn: &Fcn<T>, grads: &ParamTensors<T>, lr: f64,
    ) -> Result<()> {
        for (g, w) in grads.tensors().zip(fcn.params.tensors()) {
            self.loss.gd_step(batch, lr, g, w)?;
        }
        Ok(())
    }

    /// Loss h (mean of per-example losses) and accuracy of logits against labels; also
    /// the per-example losses.
    pub fn loss_and_accuracy(
        &self, gpu: &Gpu, objective: Objective, logits: &Tensor<T>, labels: &Tensor<u32>,
        host_labels: &[u32],
    ) -> Result<(f64, f64, Vec<f64>)> {
        let mut batch = Batch::new(gpu);
        let (losses, _) = self.record_losses(&mut batch, objective, logits, labels)?;
        batch.submit()?;
        let per_example: Vec<f64> = losses.to_vec(gpu)?.into_iter().map(T::to_f64).collect();
        let h = mean(&per_example);
        Ok((h, accuracy(&logits.to_vec(gpu)?, host_labels), per_example))
    }

    /// Records the per-example losses of logits [n, k] against labels; returns them
    /// ([n]) and ∂h/∂logits (unused by the caller, but written by the same kernel).
    pub fn record_losses(
        &self, batch: &mut Batch, objective: Objective, logits: &Tensor<T>, labels: &Tensor<u32>,
    ) -> Result<(Tensor<T>, Tensor<T>)> {
        let gpu = batch.gpu();
        let (n, k) = logits.dims2("logits")?;
        let losses = Tensor::<T>::zeros(gpu, &[n])?;
        let d_logits = Tensor::<T>::zeros(gpu, logits.shape())?;
        self.loss.forward_backward(
            batch,
            objective.loss,
            objective.weight(k),
            logits,
            labels,
            &losses,
            &d_logits,
        )?;
        Ok((losses, d_logits))
    }
}

/// h: the mean of the per-example losses, summed in f64.
pub fn mean(per_example: &[f64]) -> f64 {
    per_example.iter().sum::<f64>() / per_example.len() as f64
}

/// Fraction of rows whose argmax (first on ties) is the label.
pub fn accuracy<T: Real>(logits: &[T], labels: &[u32]) -> f64 {
    let n = labels.len();
    if n == 0 {
        return f64::NAN;
    }
    let k = logits.len() / n;
    let correct = logits
        .chunks(k)
        .zip(labels)
        .filter(|(row, &y)| {
            let mut best = 0;
            for c in 1..k {
                if row[c].to_f64() > row[best].to_f64() {
                    best = c;
                }
            }
            best == y as usize
        })
        .count();
    correct as f64 / n as f64
}
