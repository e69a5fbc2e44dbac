//! Eigenvalue machinery: GPU Krylov solvers over `ops`, and their small host-side
//! f64 subproblems.
//!
//! - [`lanczos`]: extreme eigenvalues of a symmetric operator, full reorthogonalisation.
//! - [`bidiag`]: Golub–Kahan–Lanczos on a factor F (eigenvalues of F Fᵀ as squared
//!   singular values: half the exponent of κ, the f32 route).
//! - [`power`]: power iteration, the simple baseline.
//! - [`dense`]: every eigenvalue of a stored matrix, Householder tridiagonalisation
//!   on the GPU then [`tridiag`] on the host.
//! - [`tridiag`]: the host f64 tridiagonal eigenproblem they share.
//! - [`band`]: host f64 band → tridiagonal reduction (Householder bulge chasing), the
//!   second stage of a two-stage symmetric eigensolver.
//! - [`host_threads`]: a batch's host stages spread over the host's cores.
//!
//! [`SpectrumMethod`] chooses between Lanczos and the dense solver for stored matrices;
//! matrix-free operators always run Lanczos.

pub mod band;
pub mod bidiag;
pub mod dense;
pub mod host_threads;
pub mod lanczos;
pub mod operator;
pub mod power;
pub mod tridiag;
pub mod two_stage;

use std::str::FromStr;

use anyhow::{bail, Result};

use crate::gpu::Gpu;

pub use bidiag::{golub_kahan, FactorOperator};
pub use dense::{DenseEigensolver, DenseReduction, PendingSpectra};
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
    pub const ALL: [Precision; 3] = [Precision::Auto, Precision::F32, Precision::F64];

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
        crate::ops::parse_name("precision", s, &Precision::ALL, Precision::name)
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
    gpu: &Gpu, n: usize, data: &[f64], precision: Precision, opts: &LanczosOptions,
) -> Result<SpectrumResult> {
    spectrum_with_method(gpu, n, data, precision, SpectrumMethod::Lanczos, opts)
}

/// How the spectrum of a stored matrix is computed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpectrumMethod {
    /// The dense solver when the matrix is small enough, else Lanczos ([`SpectrumMethod::resolve`]).
    #[default]
    Auto,
    Lanczos,
    Dense,
}

/// Largest order `auto` gives the dense solver (where the matrix fits one binding).
/// λ_min of a clustered spectrum needs ~0.8 n Lanczos steps, so the dense reduction
/// wins: lavapipe, n = 1000, κ 1e4, f64: dense 2.8 s, Lanczos 24.4 s (2026-11-30).
/// Orders above this were not measured; they keep Lanczos.
pub const AUTO_DENSE_MAX_ORDER: usize = 8192;

impl SpectrumMethod {
    pub const ALL: [SpectrumMethod; 3] = [
        SpectrumMethod::Auto,
        SpectrumMethod::Lanczos,
        SpectrumMethod::Dense,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SpectrumMethod::Auto => "auto",
            SpectrumMethod::Lanczos => "lanczos",
            SpectrumMethod::Dense => "dense",
        }
    }

    /// The method that runs for a stored matrix of order n with elements of
    /// `element_bytes`: `auto` is dense when n <= [`AUTO_DENSE_MAX_ORDER`] (or every
    /// eigenvalue is wanted) and the reduction's copy fits the adapter's binding limit,
    /// else Lanczos. An explicit `dense` that does not fit is an error.
    pub fn resolve(
        self, gpu: &Gpu, n: usize, element_bytes: usize, opts: &LanczosOptions,
    ) -> Result<SpectrumMethod> {
        let bytes = (n as u64).saturating_mul(n as u64) * element_bytes as u64;
        let fits = bytes <= gpu.max_binding_bytes();
        match self {
            SpectrumMethod::Auto if fits && (n <= AUTO_DENSE_MAX_ORDER || opts.full) => {
                Ok(SpectrumMethod::Dense)
            }
            SpectrumMethod::Auto => Ok(SpectrumMethod::Lanczos),
            SpectrumMethod::Dense if !fits => bail!(
                "method dense needs a {n} x {n} matrix ({bytes} bytes) in one binding, beyond \
                 {}'s limit of {} bytes: use method lanczos or auto",
                gpu.summary.name,
                gpu.max_binding_bytes()
            ),
            m => Ok(m),
        }
    }
}

impl FromStr for SpectrumMethod {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        crate::ops::parse_name(
            "spectrum method",
            s,
            &SpectrumMethod::ALL,
            SpectrumMethod::name,
        )
    }
}

/// Extreme eigenvalues (and, by the dense method, all of them) of a symmetric matrix
/// already on the device, by `method`: what an experiment calls with its Gram matrix.
pub fn matrix_spectrum<T: Real>(
    gpu: &Gpu, ops: std::sync::Arc<crate::ops::vector::VectorOps<T>>, matrix: &DenseMatrix<T>,
    method: SpectrumMethod, opts: &LanczosOptions,
) -> Result<SpectrumResult> {
    let n = matrix.order();
    match method.resolve(gpu, n, std::mem::size_of::<T>(), opts)? {
        SpectrumMethod::Dense => {
            DenseEigensolver::<T>::new(gpu)?.spectrum(gpu, matrix.matrix(), opts.k)
        }
        _ => lanczos(gpu, ops, matrix, opts),
    }
}

/// Extreme eigenvalues (and, by the dense method, all of them) of a dense symmetric
/// matrix given on the host (row-major, f64), by `method` in `precision`.
pub fn spectrum_with_method(
    gpu: &Gpu, n: usize, data: &[f64], precision: Precision, method: SpectrumMethod,
    opts: &LanczosOptions,
) -> Result<SpectrumResult> {
    fn run<T: Real>(
        gpu: &Gpu, n: usize, data: &[f64], method: SpectrumMethod, opts: &LanczosOptions,
    ) -> Result<SpectrumResult> {
        let size = std::mem::size_of::<T>();
        match method.resolve(gpu, n, size, opts)? {
            SpectrumMethod::Dense => {
                // Building the kernels is a once-per-process cost (the process time
                // counts it), not the solve's.
                let solver = DenseEigensolver::<T>::new(gpu)?;
                solver.prepare(gpu, n)?;
                let start = std::time::Instant::now();
                if data.len() != n * n {
                    bail!(
                        "a {n} x {n} matrix needs {} entries, got {}",
                        n * n,
                        data.len()
                    );
                }
                let converted: Vec<T> = data.iter().map(|&x| T::from_f64(x)).collect();
                let matrix = crate::gpu::Tensor::from_slice(gpu, &[n, n], &converted)?;
                let mut r = solver.spectrum(gpu, &matrix, opts.k)?;
                r.seconds = start.elapsed().as_secs_f64();
                Ok(r)
            }
            _ => {
                let ops = std::sync::Arc::new(crate::ops::vector::VectorOps::<T>::new(gpu)?);
                let op = DenseMatrix::<T>::from_host(gpu, n, data)?;
                lanczos(gpu, ops, &op, opts)
            }
        }
    }
    match precision.resolve(gpu)? {
        Precision::F64 => run::<f64>(gpu, n, data, method, opts),
        _ => run::<f32>(gpu, n, data, method, opts),
    }
}
