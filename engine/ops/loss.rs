//! Losses with their gradients, and the gradient-descent update, in f32 or f64
//! (shaders/loss.wgsl).

use std::marker::PhantomData;
use std::sync::Arc;

use anyhow::{bail, Result};

use super::real::{Real, RealPair};
use crate::gpu::{grid_1d, groups_for, Batch, Gpu, GpuError, Kernel, Tensor};
pub use crate::nn::loss::Loss;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    k: u32,
    len: u32,
    _pad: u32,
    /// weight and lr, at byte 16.
    weight_lr: RealPair,
}

const _: () = assert!(std::mem::offset_of!(Params, weight_lr) == 16);

const WG: u32 = 64;

/// The loss and update kernels of one precision, built once.
pub struct LossOp<T: Real> {
    kernels: Vec<(Loss, Arc<Kernel>)>,
    gd: Arc<Kernel>,
    _real: PhantomData<T>,
}

impl<T: Real> LossOp<T> {
    pub fn new(gpu: &Gpu) -> Result<Self> {
        let kernels = Loss::ALL
            .into_iter()
            .map(|l| {
                Ok((
                    l,
                    gpu.kernel(T::LOSS, "loss_forward_backward", &[("KIND", l.kind())])?,
                ))
            })
            .collect::<Result<_>>()?;
        Ok(LossOp {
            kernels,
            gd: gpu.kernel(T::LOSS, "gd_step", &[])?,
            _real: PhantomData,
        })
    }

    /// Records losses[i] = l_i and d_logits = ∂h/∂logits (h the mean of l_i), with
    /// each l_i the half-sum loss times `weight` (the reduction's factor, 2/k for a
    /// `mean` squared error; rounded to `T`). Labels must be below k (checked by [`check_labels`] when
    /// they are uploaded).
    #[allow(clippy::too_many_arguments)]
    pub fn forward_backward(
        &self,
        batch: &mut Batch,
        loss: Loss,
        weight: f64,
        logits: &Tensor<T>,
        labels: &Tensor<u32>,
        losses: &Tensor<T>,
        d_logits: &Tensor<T>,
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
        let kernel = &self
            .kernels
            .iter()
            .find(|(l, _)| *l == loss)
            .expect("every loss built")
            .1;
        let params = Params {
            n: n as u32,
            k: k as u32,
            len: 0,
            _pad: 0,
            weight_lr: T::pair(weight, 0.0),
        };
        let groups = grid_1d(batch.gpu(), groups_for(n, WG))?;
        batch.dispatch(
            kernel,
            &[
                logits.buffer(),
                labels.buffer(),
                losses.buffer(),
                d_logits.buffer(),
            ],
            Some(&params),
            groups,
        )
    }

    /// Records w -= lr · d_w (any shapes with the same number of elements; lr rounded to
    /// `T`).
    pub fn gd_step(
        &self,
        batch: &mut Batch,
        lr: f64,
        d_w: &Tensor<T>,
        w: &Tensor<T>,
    ) -> Result<()> {
        if d_w.len() != w.len() {
            bail!(GpuError::Shape(format!(
                "gd_step: d_w {:?} and w {:?} differ in size",
                d_w.shape(),
                w.shape()
            )));
        }
        let params = Params {
            n: 0,
            k: 0,
            len: w.len() as u32,
            _pad: 0,
            weight_lr: T::pair(0.0, lr),
        };
        let groups = grid_1d(batch.gpu(), groups_for(w.len(), WG))?;
        batch.dispatch(&self.gd, &[d_w.buffer(), w.buffer()], Some(&params), groups)
    }
}

/// Labels must index a logit: an error naming the first one that does not.
pub fn check_labels(labels: &[u32], k: usize) -> Result<()> {
    if let Some((i, &y)) = labels.iter().enumerate().find(|(_, &y)| y as usize >= k) {
        bail!("example {i} has label {y}, but the network has {k} outputs");
    }
    Ok(())
}
