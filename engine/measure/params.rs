//! Parameter norms and distances, and the per-example Lipschitz term of Lemma 2
//! (MEASUREMENTS.md §5, §8).

use anyhow::Result;

use super::gather::{record_alone, Gather, Gathered, Part};
use crate::gpu::{Batch, Gpu, Tensor};
use crate::linalg::Real;
use crate::nn::fcn::{ForwardCache, ParamTensors};
use crate::ops::rownorm::RowNorm;
use crate::ops::vector::VectorOps;

/// The kernels of the norm measurements of a network in `T`, built once per device.
/// Each method uses only the kernel it needs.
pub struct ParamMeasure<T: Real = f32> {
    vectors: VectorOps<T>,
    rownorm: RowNorm<T>,
}

/// A norm recorded into a caller's batch: one ‖·‖₂ per tensor, gathered for one
/// readback, and the scalars kept until the batch has run.
pub struct PendingNorm<T: Real> {
    part: Part<T>,
    _scalars: Vec<Tensor<T>>,
}

impl<T: Real> PendingNorm<T> {
    /// √(Σ ‖t‖²) from the gathered per-tensor norms, summed in f64.
    pub fn finish(&self, gathered: &Gathered) -> f64 {
        gathered
            .get_f64(self.part)
            .iter()
            .map(|v| v * v)
            .sum::<f64>()
            .sqrt()
    }
}

/// The per-example Lipschitz terms recorded into a caller's batch: every layer's row
/// norms of its input and of its δ, gathered.
pub struct PendingLipschitz<T: Real> {
    norms: Vec<(Part<T>, Part<T>)>,
    bias: bool,
}

impl<T: Real> PendingLipschitz<T> {
    /// Per layer ‖δ_i‖² (‖a_i^{l−1}‖² + [bias]), summed over layers; the max over i,
    /// rooted.
    pub fn finish(&self, gathered: &Gathered) -> f64 {
        let mut per_example: Vec<f64> = Vec::new();
        for &(a, d) in &self.norms {
            let (a, d) = (gathered.get_f64(a), gathered.get_f64(d));
            let n = a.len();
            per_example.resize(n, 0.0);
            for i in 0..n {
                let delta = d[i] * n as f64; // δ of l_i = n δ of h (row i)
                let a2 = a[i].powi(2) + if self.bias { 1.0 } else { 0.0 };
                per_example[i] += delta * delta * a2;
            }
        }
        per_example.into_iter().fold(0.0f64, f64::max).sqrt()
    }
}

impl<T: Real> ParamMeasure<T> {
    pub fn new(gpu: &Gpu) -> Result<Self> {
        Ok(ParamMeasure {
            vectors: VectorOps::new(gpu)?,
            rownorm: RowNorm::new(gpu)?,
        })
    }

    /// ‖θ‖ over every tensor of a parameter list (or of its gradient).
    pub fn norm(&self, gpu: &Gpu, params: &ParamTensors<T>) -> Result<f64> {
        self.submitted(gpu, |batch, gather| self.record_norm(batch, params, gather))
    }

    /// ‖a − b‖ over parameter lists of the same shapes.
    pub fn distance(&self, gpu: &Gpu, a: &ParamTensors<T>, b: &ParamTensors<T>) -> Result<f64> {
        self.submitted(gpu, |batch, gather| {
            self.record_distance(batch, a, b, gather)
        })
    }

    /// max_i ‖∇_θ l_i‖ with l_i = n × (example i's share of h), from the forward cache
    /// and every layer's δ.
    pub fn lipschitz(
        &self, gpu: &Gpu, cache: &ForwardCache<T>, deltas: &[Tensor<T>], bias: bool,
    ) -> Result<f64> {
        let (pending, read) = record_alone(gpu, |batch, gather| {
            self.record_lipschitz(batch, cache, deltas, bias, gather)
        })?;
        Ok(pending.finish(&read))
    }

    /// Records ‖θ‖ (see [`ParamMeasure::norm`]) into `batch`, its scalars into `gather`.
    pub fn record_norm(
        &self, batch: &mut Batch, params: &ParamTensors<T>, gather: &mut Gather,
    ) -> Result<PendingNorm<T>> {
        record_norms(batch, &self.vectors, params.tensors(), gather)
    }

    /// Records ‖a − b‖ (see [`ParamMeasure::distance`]) into `batch`.
    pub fn record_distance(
        &self, batch: &mut Batch, a: &ParamTensors<T>, b: &ParamTensors<T>, gather: &mut Gather,
    ) -> Result<PendingNorm<T>> {
        let gpu = batch.gpu();
        let diffs: Vec<Tensor<T>> = a
            .tensors()
            .map(|t| Tensor::<T>::zeros(gpu, &[t.len()]))
            .collect::<Result<_>>()?;
        for ((x, y), d) in a.tensors().zip(b.tensors()).zip(&diffs) {
            self.vectors.copy(batch, &x.view(&[x.len()])?, d)?;
            self.vectors.axpy(batch, -1.0, &y.view(&[y.len()])?, d)?;
        }
        let mut pending = record_norms(batch, &self.vectors, diffs.iter(), gather)?;
        pending._scalars.extend(diffs);
        Ok(pending)
    }

    /// Records the Lipschitz terms (see [`ParamMeasure::lipschitz`]) into `batch`.
    pub fn record_lipschitz(
        &self, batch: &mut Batch, cache: &ForwardCache<T>, deltas: &[Tensor<T>], bias: bool,
        gather: &mut Gather,
    ) -> Result<PendingLipschitz<T>> {
        let gpu = batch.gpu();
        let n = cache.logits.shape()[0];
        let mut norms = Vec::new();
        for (input, delta) in cache.inputs.iter().zip(deltas) {
            let a = Tensor::<T>::zeros(gpu, &[n])?;
            let d = Tensor::<T>::zeros(gpu, &[n])?;
            self.rownorm.norms(batch, input, &a)?;
            self.rownorm.norms(batch, delta, &d)?;
            norms.push((gather.add(&a), gather.add(&d)));
        }
        Ok(PendingLipschitz { norms, bias })
    }

    /// Records one measurement with its own gather, submits once and reads back once.
    fn submitted(
        &self, gpu: &Gpu, record: impl FnOnce(&mut Batch, &mut Gather) -> Result<PendingNorm<T>>,
    ) -> Result<f64> {
        let (pending, read) = record_alone(gpu, record)?;
        Ok(pending.finish(&read))
    }
}

/// Records ‖t‖₂ of every tensor into one vector gathered for readback.
fn record_norms<'a, T: Real>(
    batch: &mut Batch, vectors: &VectorOps<T>, tensors: impl Iterator<Item = &'a Tensor<T>>,
    gather: &mut Gather,
) -> Result<PendingNorm<T>> {
    let gpu = batch.gpu();
    let tensors: Vec<&Tensor<T>> = tensors.collect();
    let norms = Tensor::<T>::zeros(gpu, &[tensors.len()])?;
    let size = std::mem::size_of::<T>() as u64;
    let mut scalars = Vec::with_capacity(tensors.len() + 1);
    for (i, t) in tensors.iter().enumerate() {
        let out = Tensor::<T>::zeros(gpu, &[1])?;
        let flat = t.view(&[t.len()])?;
        vectors.nrm2(batch, &flat, &out)?;
        batch.copy_region(out.buffer(), 0, norms.buffer(), size * i as u64, size);
        scalars.push(out);
    }
    let part = gather.add(&norms);
    scalars.push(norms);
    Ok(PendingNorm {
        part,
        _scalars: scalars,
    })
}
