//! Eigenvalue machinery: GPU Krylov solvers over `ops`, and their small host-side
//! f64 subproblems.
//!
//! - [`lanczos`]: extreme eigenvalues of a symmetric operator, full reorthogonalisation.
//! - [`bidiag`]: Golub–Kahan–Lanczos on a factor F (eigenvalues of F Fᵀ as squared
//!   singular values: half the exponent of κ, the f32 route).
//! - [`power`]: power iteration, the simple baseline.
//! - [`tridiag`]: the host f64 tridiagonal eigenproblem they share.

pub mod bidiag;
pub mod lanczos;
pub mod operator;
pub mod power;
pub mod tridiag;

use std::str::FromStr;

use anyhow::{bail, Result};

use crate::gpu::Gpu;

pub use bidiag::{golub_kahan, FactorOperator};
pub use lanczos::{lanczos, EigenEstimate, LanczosOptions, SpectrumResult};
pub use operator::{DenseMatrix, SymmetricOperator};
pub use power::power_iteration;

/// Precision of spectral solves: `Auto` is f64 where the adapter has SHADER_F64.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    Auto,
    F32,
    F64,
}

impl Precision {
    /// The precision that will actually run on `gpu`; an explicit `F64` on an adapter
    /// without SHADER_F64 is an error rather than a silent downgrade.
    pub fn resolve(self, gpu: &Gpu) -> Result<Precision> {
        match self {
            Precision::Auto if gpu.has_f64() => Ok(Precision::F64),
            Precision::Auto => Ok(Precision::F32),
            Precision::F64 if !gpu.has_f64() => bail!(
                "precision f64 needs SHADER_F64, which {} lacks: use precision f32 or auto",
                gpu.summary.name
            ),
            p => Ok(p),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::Auto => "auto",
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }
}

impl FromStr for Precision {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Precision::Auto),
            "f32" => Ok(Precision::F32),
            "f64" => Ok(Precision::F64),
            _ => bail!("unknown precision `{s}`: use auto, f32 or f64"),
        }
    }
}

/// Device scalars the solvers run in: [`crate::ops::Real`] (which picks the shaders)
/// plus what the solvers need to know about the precision.
pub trait Real: crate::ops::Real {
    const PRECISION: Precision;
    /// Unit roundoff.
    const UNIT_ROUNDOFF: f64;
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
}

impl Real for f32 {
    const PRECISION: Precision = Precision::F32;
    const UNIT_ROUNDOFF: f64 = f32::EPSILON as f64 / 2.0;
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Real for f64 {
    const PRECISION: Precision = Precision::F64;
    const UNIT_ROUNDOFF: f64 = f64::EPSILON / 2.0;
    fn from_f64(x: f64) -> Self {
        x
    }
    fn to_f64(self) -> f64 {
        self
    }
}

/// Extreme eigenvalues of a dense symmetric matrix given on the host (row-major, f64),
/// by Lanczos in the requested precision.
pub fn dense_spectrum(
    gpu: &Gpu,
    n: usize,
    data: &[f64],
    precision: Precision,
    opts: &LanczosOptions,
) -> Result<SpectrumResult> {
    fn run<T: Real>(
        gpu: &Gpu,
        n: usize,
        data: &[f64],
        opts: &LanczosOptions,
    ) -> Result<SpectrumResult> {
        let ops = std::sync::Arc::new(crate::ops::vector::VectorOps::<T>::new(gpu)?);
        let op = DenseMatrix::<T>::from_host(gpu, n, data)?;
        lanczos(gpu, ops, &op, opts)
    }
    match precision.resolve(gpu)? {
        Precision::F64 => run::<f64>(gpu, n, data, opts),
        _ => run::<f32>(gpu, n, data, opts),
    }
}
