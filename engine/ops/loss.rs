//! Losses with their gradients, and the gradient-descent update, in f32 or f64
//! (shaders/loss.wgsl).

use std::marker::PhantomData;
use std::sync::Arc;

use anyhow::{bail, Result};

use super::launch::{launch, Grid, KernelsBy, WordsAndReals};
use super::real::Real;
use super::shaders::LOSS;
use crate::gpu::{Batch, Gpu, GpuError, Kernel, Tensor};
pub use crate::nn::loss::Loss;

/// The loss and update kernels of one precision, built once.
pub struct LossOp<T: Real> {
    kernels: KernelsBy<Loss>,
    gd: Arc<Kernel>,
    _real: PhantomData<T>,
}

impl<T: Real> LossOp<T> {
    pub fn new(gpu: &Gpu) -> Result<Self> {
        let kernels = KernelsBy::new(Loss::ALL, |loss| {
            gpu.kernel(
                T::of(&LOSS),
                "loss_forward_backward",
                &[("KIND", loss.kind())],
            )
        })?;
        Ok(LossOp {
            kernels,
            gd: gpu.kernel(T::of(&LOSS), "gd_step", &[])?,
            _real: PhantomData,
        })
    }

    /// Records losses[i] = l_i and d_logits = ∂h/∂logits (h the mean of l_i), with
    /// each l_i the half-sum loss times `weight` (the reduction's factor, 2/k for a
    /// `mean` squared error; rounded to `T`). Labels must be below k (checked by [`check_labels`] when
    /// they are uploaded).
    #[allow(clippy::too_many_arguments)]
    pub fn forward_backward(
        &self, batch: &mut Batch, loss: Loss, weight: f64, logits: &Tensor<T>,
        labels: &Tensor<u32>, losses: &Tensor<T>, d_logits: &Tensor<T>,
    ) -> Result<()> {
        let (n, k) = logits.dims2("logits")?;
        if labels.shape() != [n] || losses.shape() != [n] || d_logits.shape() != logits.shape() {
            bail!(GpuError::Shape(format!(
                "loss: logits {:?} need labels [{n}], losses [{n}] and d_logits {:?}; got {:?}, {:?}, {:?}",
                logits.shape(),
                logits.shape(),
                labels.shape(),
                losses.shape(),
                d_logits.shape()
            )));
        }
        // Params: n, k, len, then weight and lr; one invocation per example.
        let params = WordsAndReals::new([n, k, 0], T::pair(weight, 0.0));
        let buffers = [
            logits.buffer(),
            labels.buffer(),
            losses.buffer(),
            d_logits.buffer(),
        ];
        let kernel = self.kernels.get(loss);
        launch(batch, kernel, &buffers, &params, Grid::Elements(n))
    }

    /// Records w -= lr · d_w (any shapes with the same number of elements; lr rounded to
    /// `T`).
    pub fn gd_step(
        &self, batch: &mut Batch, lr: f64, d_w: &Tensor<T>, w: &Tensor<T>,
    ) -> Result<()> {
        if d_w.len() != w.len() {
            bail!(GpuError::Shape(format!(
                "gd_step: d_w {:?} and w {:?} differ in size",
                d_w.shape(),
                w.shape()
            )));
        }
        let params = WordsAndReals::new([0, 0, w.len()], T::pair(0.0, lr));
        let buffers = [d_w.buffer(), w.buffer()];
        launch(batch, &self.gd, &buffers, &params, Grid::Elements(w.len()))
    }
}

/// Labels must index a logit: an error naming the first one that does not.
pub fn check_labels(labels: &[u32], k: usize) -> Result<()> {
    if let Some((i, &y)) = labels.iter().enumerate().find(|(_, &y)| y as usize >= k) {
        bail!("example {i} has label {y}, but the network has {k} outputs");
    }
    Ok(())
}
