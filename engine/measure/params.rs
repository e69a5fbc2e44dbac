//! Parameter norms and distances, and the per-example Lipschitz term of Lemma 2
//! (MEASUREMENTS.md §5, §8).

use anyhow::Result;

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

impl<T: Real> ParamMeasure<T> {
    pub fn new(gpu: &Gpu) -> Result<Self> {
        Ok(ParamMeasure {
            vectors: VectorOps::new(gpu)?,
            rownorm: RowNorm::new(gpu)?,
        })
    }

    /// ‖θ‖ over every tensor of a parameter list (or of its gradient).
    pub fn norm(&self, gpu: &Gpu, params: &ParamTensors<T>) -> Result<f64> {
        Ok(sum_of_squares(gpu, &self.vectors, params.tensors())?.sqrt())
    }

    /// ‖a − b‖ over parameter lists of the same shapes.
    pub fn distance(&self, gpu: &Gpu, a: &ParamTensors<T>, b: &ParamTensors<T>) -> Result<f64> {
        distance(gpu, &self.vectors, a, b)
    }

    /// max_i ‖∇_θ l_i‖ with l_i = n × (example i's share of h), from the forward cache
    /// and every layer's δ.
    pub fn lipschitz(
        &self, gpu: &Gpu, cache: &ForwardCache<T>, deltas: &[Tensor<T>], bias: bool,
    ) -> Result<f64> {
        lipschitz(gpu, &self.rownorm, cache, deltas, bias)
    }
}

/// Sum of squares of every tensor, read back once.
fn sum_of_squares<'a, T: Real>(
    gpu: &Gpu, vectors: &VectorOps<T>, tensors: impl Iterator<Item = &'a Tensor<T>>,
) -> Result<f64> {
    let tensors: Vec<&Tensor<T>> = tensors.collect();
    let gather = Tensor::<T>::zeros(gpu, &[tensors.len()])?;
    let size = std::mem::size_of::<T>() as u64;
    let mut batch = Batch::new(gpu);
    let mut outs = Vec::with_capacity(tensors.len());
    for (i, t) in tensors.iter().enumerate() {
        let out = Tensor::<T>::zeros(gpu, &[1])?;
        let flat = t.view(&[t.len()])?;
        vectors.nrm2(&mut batch, &flat, &out)?;
        batch.copy_region(out.buffer(), 0, gather.buffer(), size * i as u64, size);
        outs.push(out);
    }
    batch.submit()?;
    Ok(gather
        .to_vec(gpu)?
        .iter()
        .map(|&v| v.to_f64() * v.to_f64())
        .sum())
}

fn distance<T: Real>(
    gpu: &Gpu, vectors: &VectorOps<T>, a: &ParamTensors<T>, b: &ParamTensors<T>,
) -> Result<f64> {
    let diffs: Vec<Tensor<T>> = a
        .tensors()
        .map(|t| Tensor::<T>::zeros(gpu, &[t.len()]))
        .collect::<Result<_>>()?;
    let mut batch = Batch::new(gpu);
    for ((x, y), d) in a.tensors().zip(b.tensors()).zip(&diffs) {
        vectors.copy(&mut batch, &x.view(&[x.len()])?, d)?;
        vectors.axpy(&mut batch, -1.0, &y.view(&[y.len()])?, d)?;
    }
    batch.submit()?;
    Ok(sum_of_squares(gpu, vectors, diffs.iter())?.sqrt())
}

/// Per layer ‖δ_i‖² (‖a_i^{l−1}‖² + [bias]), summed over layers; the max over i, rooted.
fn lipschitz<T: Real>(
    gpu: &Gpu, rownorm: &RowNorm<T>, cache: &ForwardCache<T>, deltas: &[Tensor<T>], bias: bool,
) -> Result<f64> {
    let n = cache.logits.shape()[0];
    let mut batch = Batch::new(gpu);
    let mut norms = Vec::new();
    for (input, delta) in cache.inputs.iter().zip(deltas) {
        let a = Tensor::<T>::zeros(gpu, &[n])?;
        let d = Tensor::<T>::zeros(gpu, &[n])?;
        rownorm.norms(&mut batch, input, &a)?;
        rownorm.norms(&mut batch, delta, &d)?;
        norms.push((a, d));
    }
    batch.submit()?;
    let mut per_example = vec![0.0f64; n];
    for (a, d) in &norms {
        let (a, d) = (a.to_vec(gpu)?, d.to_vec(gpu)?);
        for i in 0..n {
            let delta = d[i].to_f64() * n as f64; // δ of l_i = n δ of h (row i)
            let a2 = a[i].to_f64().powi(2) + if bias { 1.0 } else { 0.0 };
            per_example[i] += delta * delta * a2;
        }
    }
    Ok(per_example.into_iter().fold(0.0f64, f64::max).sqrt())
}
