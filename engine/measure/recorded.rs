//! A layer's Ĝ measured inside a caller's batch (a training epoch's one submission):
//! Ĝ = F Fᵀ / w, its change from an earlier Ĝ (row sums gathered for the caller's one
//! readback) and, by the dense method, its reduction; after the submission only the
//! tridiagonal comes back. A Lanczos spectrum (large orders, or asked for) is solved
//! after the submission with its own blocks. The same kernels in the same order as
//! one submission per step, so the numbers are the same.

use anyhow::Result;

use super::gather::{Gather, Gathered, Part};
use super::spectral::{GramMeasurement, GramTensor, PrecisionOps, SpectralOps};
use crate::gpu::{Batch, Gpu, Tensor};
use crate::linalg::{
    matrix_spectrum, DenseEigensolver, DenseMatrix, LanczosOptions, PendingSpectra, Real,
    SpectrumResult,
};

/// Ĝ, its change and its spectrum recorded by [`SpectralOps::record_gram_spectrum`].
pub struct PendingGram {
    work: GramWork,
}

enum GramWork {
    F32(GramIn<f32>),
    F64(GramIn<f64>),
}

/// The recorded work in the spectral precision `T`.
struct GramIn<T: Real> {
    gram: Tensor<T>,
    /// Σ_j (Ĝ − Ĝ_earlier)²_ij per row, gathered; the rows kept until the batch ran.
    change: Option<(Part<T>, Tensor<T>)>,
    dense: Option<(DenseEigensolver<T>, PendingSpectra<T>)>,
    options: LanczosOptions,
}

impl SpectralOps {
    /// Records Ĝ = F Fᵀ / w of layer features F [n, w] (f32, or f64 of an f64 network,
    /// which needs the f64 precision), ‖Ĝ − earlier‖_F when `earlier` is given (in the
    /// same precision; otherwise the change is `None`), and the reduction when the
    /// spectrum is dense. Krylov solves start from `seed`.
    pub fn record_gram_spectrum<X: Real>(
        &self, batch: &mut Batch, features: &Tensor<X>, seed: u64, earlier: Option<&GramTensor>,
        gather: &mut Gather,
    ) -> Result<PendingGram> {
        let options = LanczosOptions {
            seed,
            ..self.options.clone()
        };
        let work = match &self.f64_ops {
            Some(ops) => {
                let earlier = match earlier {
                    Some(GramTensor::F64(g)) => Some(g),
                    _ => None,
                };
                GramWork::F64(self.record_in(batch, ops, features, earlier, options, gather)?)
            }
            None => {
                let earlier = match earlier {
                    Some(GramTensor::F32(g)) => Some(g),
                    _ => None,
                };
                let ops = &self.f32_ops;
                GramWork::F32(self.record_in(batch, ops, features, earlier, options, gather)?)
            }
        };
        Ok(PendingGram { work })
    }

    fn record_in<X: Real, T: Real>(
        &self, batch: &mut Batch, ops: &PrecisionOps<T>, features: &Tensor<X>,
        earlier: Option<&Tensor<T>>, options: LanczosOptions, gather: &mut Gather,
    ) -> Result<GramIn<T>> {
        let gpu = batch.gpu();
        let (n, width) = features.dims2("layer features")?;
        let gram = Tensor::<T>::zeros(gpu, &[n, n])?;
        self.gram
            .record(batch, features, 1.0 / width as f64, &gram)?;
        let change = match earlier {
            Some(g0) => {
                let rows = Tensor::<T>::zeros(gpu, &[n])?;
                ops.stats.record_row_diff_sq(batch, &gram, g0, &rows)?;
                Some((gather.add(&rows), rows))
            }
            None => None,
        };
        let dense = DenseEigensolver::record_if_dense(batch, &gram, self.method, &options)?;
        Ok(GramIn {
            gram,
            change,
            dense,
            options,
        })
    }

    /// Ĝ and its spectrum, and its change when one was recorded, once the batch of
    /// [`SpectralOps::record_gram_spectrum`] has been submitted and its gather read.
    pub fn finish_gram_spectrum(
        &self, gpu: &Gpu, pending: PendingGram, gathered: &Gathered,
    ) -> Result<(GramMeasurement, Option<f64>)> {
        Ok(match pending.work {
            GramWork::F64(work) => {
                let ops = self
                    .f64_ops
                    .as_ref()
                    .expect("recorded in f64 with the f64 kernels");
                let (g, spectrum, change) = self.finish_in(gpu, ops, work, gathered)?;
                let gram = GramTensor::F64(g);
                (GramMeasurement { gram, spectrum }, change)
            }
            GramWork::F32(work) => {
                let (g, spectrum, change) = self.finish_in(gpu, &self.f32_ops, work, gathered)?;
                let gram = GramTensor::F32(g);
                (GramMeasurement { gram, spectrum }, change)
            }
        })
    }

    fn finish_in<T: Real>(
        &self, gpu: &Gpu, ops: &PrecisionOps<T>, work: GramIn<T>, gathered: &Gathered,
    ) -> Result<(Tensor<T>, SpectrumResult, Option<f64>)> {
        let change = work
            .change
            .map(|(part, _)| gathered.get_f64(part).into_iter().sum::<f64>().sqrt());
        let k = work.options.k;
        let (gram, spectrum) = match work.dense {
            Some((solver, reduction)) => {
                let spectrum = solver.finish(gpu, reduction, k, 1)?.remove(0);
                (work.gram, spectrum)
            }
            None => {
                let op = DenseMatrix::with_ops(work.gram, ops.vectors.clone())?;
                let vectors = ops.vectors.clone();
                let spectrum = matrix_spectrum(gpu, vectors, &op, self.method, &work.options)?;
                (op.into_matrix(), spectrum)
            }
        };
        Ok((gram, spectrum, change))
    }
}
