//! Gram and NTK spectra (MEASUREMENTS.md §3, §6): Ĝ = F Fᵀ / w of a layer's features
//! with its extreme eigenvalues, Gershgorin proxies and change from an earlier Ĝ, and
//! the empirical NTK's extreme eigenvalues, each in the precision resolved once here.

use std::sync::Arc;

use anyhow::Result;

use super::gather::record_alone;
use crate::gpu::{Gpu, Tensor};
use crate::linalg::{LanczosOptions, Precision, Real, SpectrumMethod, SpectrumResult};
use crate::nn::ntk::NtkSolvers;
use crate::ops::gram::Gram;
pub use crate::ops::symstats::GershgorinProxies;
use crate::ops::symstats::SymStats;
use crate::ops::vector::VectorOps;

/// The kernels of one precision: vector ops for the solvers, statistics of Ĝ.
pub(super) struct PrecisionOps<T: Real> {
    pub(super) vectors: Arc<VectorOps<T>>,
    pub(super) stats: SymStats<T>,
}

impl<T: Real> PrecisionOps<T> {
    fn new(gpu: &Gpu) -> Result<Self> {
        Ok(PrecisionOps {
            vectors: Arc::new(VectorOps::new(gpu)?),
            stats: SymStats::new(gpu)?,
        })
    }
}

/// The kernels every Gram or NTK spectrum uses, in the resolved precision (f64 ones
/// only where the precision is f64). Shared by conditioning and training runs.
pub struct SpectralOps {
    pub(super) gram: Gram,
    precision: Precision,
    /// How Gram spectra are computed (auto: dense when small enough).
    pub(super) method: SpectrumMethod,
    /// Options of every Krylov solve (λ_min tolerance from `spectrum_tol_min`).
    pub(super) options: LanczosOptions,
    pub(super) f32_ops: PrecisionOps<f32>,
    pub(super) f64_ops: Option<PrecisionOps<f64>>,
}

/// Ĝ in the solver's precision (kept, e.g. at t = 0 for Eq. 13).
pub enum GramTensor {
    F32(Tensor<f32>),
    F64(Tensor<f64>),
}

impl GramTensor {
    pub fn to_f64_vec(&self, gpu: &Gpu) -> Result<Vec<f64>> {
        Ok(match self {
            GramTensor::F32(g) => g.to_vec(gpu)?.into_iter().map(f64::from).collect(),
            GramTensor::F64(g) => g.to_vec(gpu)?,
        })
    }
}

/// Ĝ of one layer and its spectrum.
pub struct GramMeasurement {
    pub gram: GramTensor,
    pub spectrum: SpectrumResult,
}

impl SpectralOps {
    /// Resolves `precision` (auto: f64 where the device has it) once, for every
    /// measurement these kernels make.
    pub fn new(gpu: &Gpu, precision: Precision) -> Result<Self> {
        let precision = precision.resolve(gpu)?;
        Ok(SpectralOps {
            gram: Gram::new(gpu)?,
            precision,
            method: SpectrumMethod::Auto,
            options: LanczosOptions::default(),
            f32_ops: PrecisionOps::new(gpu)?,
            f64_ops: if precision == Precision::F64 {
                Some(PrecisionOps::new(gpu)?)
            } else {
                None
            },
        })
    }

    /// Sets the method of Gram spectra and the λ_min tolerance of Krylov solves.
    pub fn with_choice(mut self, method: SpectrumMethod, tol_min: Option<f64>) -> Self {
        self.method = method;
        if let Some(tol) = tol_min {
            self.options.tol_min = tol;
        }
        self
    }

    /// How Gram spectra are computed.
    pub fn method(&self) -> SpectrumMethod {
        self.method
    }

    /// The λ_min tolerance of Krylov solves.
    pub fn tol_min(&self) -> f64 {
        self.options.tol_min
    }

    /// The precision that runs (auto resolved).
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Ĝ = F Fᵀ / w of layer features F [n, w] (f32, or f64 of an f64 network, which
    /// needs the f64 precision) and its extreme eigenvalues (Lanczos, default tolerances,
    /// start vector from `seed`).
    pub fn gram_spectrum<X: Real>(
        &self, gpu: &Gpu, features: &Tensor<X>, seed: u64,
    ) -> Result<GramMeasurement> {
        let (pending, read) = record_alone(gpu, |batch, gather| {
            self.record_gram_spectrum(batch, features, seed, None, gather)
        })?;
        Ok(self.finish_gram_spectrum(gpu, pending, &read)?.0)
    }

    /// ‖Ĝ − Ĝ_0‖_F of two Gram matrices of the same precision; `None` when they differ.
    pub fn frobenius_change(
        &self, gpu: &Gpu, g: &GramTensor, g0: &GramTensor,
    ) -> Result<Option<f64>> {
        Ok(match (g, g0, &self.f64_ops) {
            (GramTensor::F64(g), GramTensor::F64(g0), Some(ops)) => {
                Some(ops.stats.frobenius_distance(gpu, g, g0)?)
            }
            (GramTensor::F32(g), GramTensor::F32(g0), _) => {
                Some(self.f32_ops.stats.frobenius_distance(gpu, g, g0)?)
            }
            _ => None,
        })
    }

    /// What an NTK spectrum is solved with: these kernels, the resolved precision and
    /// the stored-matrix method, with `options`.
    pub fn ntk_solvers<'a>(&'a self, options: &'a LanczosOptions) -> NtkSolvers<'a> {
        NtkSolvers {
            vectors_f32: &self.f32_ops.vectors,
            vectors_f64: self.f64_ops.as_ref().map(|ops| &ops.vectors),
            precision: self.precision,
            stored: self.method,
            options,
        }
    }
}
