//! Every layer of one network measured together (MEASUREMENTS.md §3): each layer's
//! Ĝ = F Fᵀ / w, its Gershgorin statistics and, by the dense method, the spectra of all
//! of them as stacks, recorded after the caller's forward pass into one submission.
//! Then only the tridiagonals (one readback per stack) and the statistics (one
//! readback) come back. Krylov spectra (Lanczos: large orders, or asked for) are solved
//! layer by layer after that same submission.
//!
//! Stacked reductions give bit-identical eigenvalues to one matrix at a time (tested in
//! tests/engine/dense_spectrum.rs), so a run's rows do not depend on the batching.

use anyhow::Result;

use super::spectral::{GershgorinProxies, GramMeasurement, GramTensor, PrecisionOps, SpectralOps};
use crate::gpu::{Batch, Gpu, Tensor};
use crate::linalg::{
    matrix_spectrum, DenseEigensolver, DenseMatrix, LanczosOptions, PendingSpectra, Real,
    SpectrumMethod, SpectrumResult,
};
use crate::ops::symstats::proxies_from_row_stats;

/// One layer's Ĝ, its spectrum and its Gershgorin proxies.
pub struct LayerSpectrum {
    pub measurement: GramMeasurement,
    pub proxies: GershgorinProxies,
}

/// Ĝ, spectrum and proxies of one layer in the spectral precision `T`.
type Measured<T> = (Tensor<T>, SpectrumResult, GershgorinProxies);

impl SpectralOps {
    /// Measures the Gram matrices of `features` (one tensor [n, w_l] per layer, all with
    /// the same n) after the work `batch` already holds (a forward pass that writes
    /// them), submitting once. `after_submit` runs between the submission and the first
    /// readback (checks of the forward pass). Krylov solves start from `seed`.
    pub fn layer_spectra<X: Real>(
        &self, gpu: &Gpu, batch: Batch, features: &[&Tensor<X>], seed: u64,
        after_submit: impl FnOnce() -> Result<()>,
    ) -> Result<Vec<LayerSpectrum>> {
        let wrap = |gram, spectrum, proxies| LayerSpectrum {
            measurement: GramMeasurement { gram, spectrum },
            proxies,
        };
        Ok(match &self.f64_ops {
            Some(ops) => self
                .layer_spectra_in(gpu, ops, batch, features, seed, after_submit)?
                .into_iter()
                .map(|(g, s, p)| wrap(GramTensor::F64(g), s, p))
                .collect(),
            None => self
                .layer_spectra_in(gpu, &self.f32_ops, batch, features, seed, after_submit)?
                .into_iter()
                .map(|(g, s, p)| wrap(GramTensor::F32(g), s, p))
                .collect(),
        })
    }

    fn layer_spectra_in<X: Real, T: Real>(
        &self, gpu: &Gpu, ops: &PrecisionOps<T>, mut batch: Batch, features: &[&Tensor<X>],
        seed: u64, after_submit: impl FnOnce() -> Result<()>,
    ) -> Result<Vec<Measured<T>>> {
        let Some(first) = features.first() else {
            return Ok(Vec::new());
        };
        let n = first.dims2("layer features")?.0;
        let layers = features.len();
        let grams = (0..layers)
            .map(|_| Tensor::<T>::zeros(gpu, &[n, n]))
            .collect::<Result<Vec<_>>>()?;
        let stats = Tensor::<T>::zeros(gpu, &[layers, n, 4])?;
        let layer_stats = Tensor::<T>::zeros(gpu, &[n, 4])?;
        let element = std::mem::size_of::<T>() as u64;
        for (l, (f, g)) in features.iter().zip(&grams).enumerate() {
            let width = f.dims2("layer features")?.1;
            self.gram.record(&mut batch, *f, 1.0 / width as f64, g)?;
            ops.stats.record_row_stats(&mut batch, g, &layer_stats)?;
            let bytes = layer_stats.bytes();
            batch.copy_region(
                layer_stats.buffer(),
                0,
                stats.buffer(),
                l as u64 * bytes,
                bytes,
            );
        }
        let options = LanczosOptions {
            seed,
            ..self.options.clone()
        };
        let method = self.method.resolve(gpu, n, element as usize, &options)?;
        let dense = DenseEigensolver::<T>::new(gpu)?;
        // The stacks live until the batch has run.
        let (_stacks, pending) = if method == SpectrumMethod::Dense {
            record_stacks(gpu, &mut batch, &dense, &grams)?
        } else {
            (Vec::new(), Vec::new())
        };
        batch.submit()?;
        after_submit()?;
        let stats: Vec<f64> = stats.to_vec(gpu)?.into_iter().map(T::to_f64).collect();
        let proxies = stats.chunks(4 * n).map(proxies_from_row_stats);
        let spectra = if method == SpectrumMethod::Dense {
            let mut spectra = Vec::with_capacity(layers);
            for p in pending {
                spectra.extend(dense.finish(gpu, p, options.k, 1)?);
            }
            spectra
        } else {
            grams
                .iter()
                .map(|g| {
                    let op = DenseMatrix::with_ops(g.view(g.shape())?, ops.vectors.clone())?;
                    matrix_spectrum(gpu, ops.vectors.clone(), &op, method, &options)
                })
                .collect::<Result<Vec<_>>>()?
        };
        Ok(grams
            .into_iter()
            .zip(spectra)
            .zip(proxies)
            .map(|((g, s), p)| (g, s, p))
            .collect())
    }
}

/// Copies the Gram matrices into stacks of at most one binding each and records their
/// reductions; returns the stacks and the pending spectra.
#[allow(clippy::type_complexity)]
fn record_stacks<T: Real>(
    gpu: &Gpu, batch: &mut Batch, dense: &DenseEigensolver<T>, grams: &[Tensor<T>],
) -> Result<(Vec<Tensor<T>>, Vec<PendingSpectra<T>>)> {
    let n = grams[0].shape()[0];
    let bytes = grams[0].bytes();
    let per_stack = (gpu.max_binding_bytes() / bytes.max(1)).max(1) as usize;
    let (mut stacks, mut pending) = (Vec::new(), Vec::new());
    for chunk in grams.chunks(per_stack) {
        let stack = Tensor::<T>::zeros(gpu, &[chunk.len(), n, n])?;
        for (i, g) in chunk.iter().enumerate() {
            batch.copy_region(g.buffer(), 0, stack.buffer(), i as u64 * bytes, bytes);
        }
        pending.push(dense.record(batch, &stack)?);
        stacks.push(stack);
    }
    Ok((stacks, pending))
}
