//! Lanczos with full reorthogonalisation for extreme eigenvalues of a symmetric
//! operator (MEASUREMENTS.md §7).
//!
//! The Krylov basis lives on the GPU as a matrix V (one basis vector per row), so that
//! reorthogonalisation of a new vector w against all of it is two matrix-vector
//! products, h = V w and w -= Vᵀ h, done twice (classical Gram–Schmidt applied twice:
//! as accurate as modified Gram–Schmidt here, and matrix-shaped). Each step is one
//! submission and one readback of two scalars (α, β); the small tridiagonal
//! eigenproblem is solved on the host in f64 ([`super::tridiag`]).
//!
//! Without reorthogonalisation f32 Lanczos is useless past κ ~ 1e4 (GPU-NOTES.md), so
//! there is no option to drop it.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

use super::operator::SymmetricOperator;
use super::tridiag::tridiag_eigen;
use super::{Precision, Real};
use crate::gpu::{Batch, Gpu, Tensor};
use crate::ops::vector::VectorOps;

/// Stopping rules and what to return.
#[derive(Clone, Debug)]
pub struct LanczosOptions {
    /// Stop when the residual bound of λ_max is below `tol_max * |λ_max|` ...
    pub tol_max: f64,
    /// ... and that of λ_min below `tol_min * |λ_min|` (or the rounding floor).
    pub tol_min: f64,
    /// How many eigenvalues at each end (at least 1).
    pub k: usize,
    /// Largest Krylov dimension; default (None) the order of the operator.
    pub max_iter: Option<usize>,
    /// Seed of the random start vector.
    pub seed: u64,
    /// Run to the full Krylov dimension (the order, or `max_iter`) whatever the
    /// tolerances say, and return every eigenvalue when that is the order.
    pub full: bool,
}

impl Default for LanczosOptions {
    fn default() -> Self {
        LanczosOptions {
            tol_max: 1e-6,
            tol_min: 1e-4,
            k: 1,
            max_iter: None,
            seed: 0,
            full: false,
        }
    }
}

/// One extreme eigenvalue estimate (a Ritz value).
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct EigenEstimate {
    pub value: f64,
    /// |β_m s_{m,i}|: the Ritz residual norm. Some eigenvalue lies within it, up to
    /// rounding.
    pub residual: f64,
    /// `residual` plus a rounding allowance (a multiple of u·sqrt(n)·‖A‖ for the
    /// device precision u): what the reported value is claimed to be good to.
    pub bound: f64,
    pub converged: bool,
}

/// Extreme eigenvalues of a symmetric PSD operator, with their bounds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SpectrumResult {
    pub order: usize,
    /// The k smallest estimates, ascending.
    pub smallest: Vec<EigenEstimate>,
    /// The k largest estimates, descending.
    pub largest: Vec<EigenEstimate>,
    /// Krylov dimension reached (steps of the process).
    pub iterations: usize,
    /// Restarts after an invariant subspace was found (repeated or zero eigenvalues).
    pub restarts: usize,
    /// Whether every requested estimate met its tolerance.
    pub converged: bool,
    /// Every eigenvalue, ascending, when the Krylov dimension reached the order.
    pub full_spectrum: Option<Vec<f64>>,
    /// Device precision that ran.
    pub precision: Precision,
    pub method: &'static str,
    pub seconds: f64,
    pub notes: Vec<String>,
}

impl SpectrumResult {
    pub fn lambda_min(&self) -> f64 {
        self.smallest[0].value
    }

    pub fn lambda_max(&self) -> f64 {
        self.largest[0].value
    }

    /// λ_max / λ_min, infinite when λ_min <= 0.
    pub fn kappa(&self) -> f64 {
        let (lo, hi) = (self.lambda_min(), self.lambda_max());
        if lo <= 0.0 {
            f64::INFINITY
        } else {
            hi / lo
        }
    }
}

/// The Krylov basis on the GPU with the products that orthogonalise against it.
pub(crate) struct KrylovBasis<T: Real> {
    pub v: Tensor<T>,
    h: Tensor<T>,
    ops: Arc<VectorOps<T>>,
    pub capacity: usize,
}

impl<T: Real> KrylovBasis<T> {
    /// A basis of up to `capacity` vectors of length `n`, capped by the adapter's
    /// binding limit (the cap is returned as a note).
    pub fn new(
        gpu: &Gpu,
        ops: Arc<VectorOps<T>>,
        n: usize,
        capacity: usize,
    ) -> Result<(Self, Option<String>)> {
        let bytes_per_vector = (n * std::mem::size_of::<T>()) as u64;
        let fit = (gpu.max_binding_bytes() / bytes_per_vector.max(1)) as usize;
        let mut note = None;
        let capacity = if fit < capacity {
            if fit < 2 {
                bail!(
                    "a Krylov basis of vectors of length {n} does not fit the adapter's binding limit of {} bytes",
                    gpu.max_binding_bytes()
                );
            }
            note = Some(format!(
                "Krylov dimension capped at {fit} (of {capacity}) by the adapter's binding limit"
            ));
            fit
        } else {
            capacity
        };
        Ok((
            KrylovBasis {
                v: Tensor::zeros(gpu, &[capacity, n])?,
                h: Tensor::zeros(gpu, &[capacity])?,
                ops,
                capacity,
            },
            note,
        ))
    }

    /// Records w -= V[0..rows]ᵀ (V[0..rows] w), twice.
    pub fn orthogonalize(&self, batch: &mut Batch, w: &Tensor<T>, rows: usize) -> Result<()> {
        for _ in 0..2 {
            self.ops
                .gemv(batch, false, rows, 1.0, &self.v, w, 0.0, &self.h)?;
            self.ops
                .gemv(batch, true, rows, -1.0, &self.v, &self.h, 1.0, w)?;
        }
        Ok(())
    }

    pub fn store(&self, batch: &mut Batch, row: usize, x: &Tensor<T>) -> Result<()> {
        self.ops.set_row(batch, &self.v, row, x)
    }
}

/// A random unit vector (host side, from `rng`).
pub(crate) fn random_unit(rng: &mut rand::rngs::StdRng, n: usize) -> Vec<f64> {
    let mut v: Vec<f64> = (0..n).map(|_| StandardNormal.sample(rng)).collect();
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

/// Records copies of the first element of each one-element tensor into `gather`, so
/// that one readback returns them all.
pub(crate) fn gather_scalars<T: Real>(
    batch: &mut Batch,
    scalars: &[&Tensor<T>],
    gather: &Tensor<T>,
) {
    let size = std::mem::size_of::<T>() as u64;
    for (i, s) in scalars.iter().enumerate() {
        batch.copy_region(s.buffer(), 0, gather.buffer(), i as u64 * size, size);
    }
}

/// Ritz values of the tridiagonal (alpha, off) with their residuals |β_next s_last|,
/// turned into the k smallest and k largest estimates.
pub(crate) fn ritz_estimates(
    values: &[f64],
    last_components: &[f64],
    beta_next: f64,
    k: usize,
    opts: (f64, f64),
    (floor, allowance): (f64, f64),
    exact: bool,
) -> (Vec<EigenEstimate>, Vec<EigenEstimate>, bool) {
    let (tol_min, tol_max) = opts;
    let m = values.len();
    let k = k.min(m);
    let estimate = |i: usize, tol: f64| {
        let residual = if exact {
            0.0
        } else {
            (beta_next * last_components[i]).abs()
        };
        let value = values[i];
        EigenEstimate {
            value,
            residual,
            bound: residual + allowance,
            converged: exact || residual <= tol * value.abs() || residual <= floor,
        }
    };
    let smallest: Vec<_> = (0..k).map(|i| estimate(i, tol_min)).collect();
    let largest: Vec<_> = (0..k).map(|i| estimate(m - 1 - i, tol_max)).collect();
    let converged = smallest.iter().chain(&largest).all(|e| e.converged);
    (smallest, largest, converged)
}

/// Rounding allowance for Ritz values computed with unit roundoff `u` after `steps`
/// steps on an operator of order `n` and norm about `norm`: rounding in the products
/// and the reorthogonalisation accumulates with the steps, so this is added to every
/// reported bound. (Measured errors stay below about half of it in the tests, f32 and
/// f64, orders up to a few hundred, over many seeds.)
pub(crate) fn rounding_floor(u: f64, n: usize, steps: usize, norm: f64) -> f64 {
    8.0 * u * (steps as f64).max((n as f64).sqrt()) * norm
}

/// Residual level under which an estimate counts as converged even when its relative
/// tolerance is not met (λ near 0): a small multiple of the rounding level, so that
/// the process keeps going while the residual still means something.
pub(crate) fn convergence_floor(u: f64, n: usize, norm: f64) -> f64 {
    2.0 * u * (n as f64).sqrt() * norm
}

/// Extreme eigenvalues of `op` by Lanczos with full reorthogonalisation.
pub fn lanczos<T: Real>(
    gpu: &Gpu,
    ops: Arc<VectorOps<T>>,
    op: &dyn SymmetricOperator<T>,
    opts: &LanczosOptions,
) -> Result<SpectrumResult> {
    let start_time = Instant::now();
    let n = op.order();
    if n == 0 {
        bail!("Lanczos needs an operator of order at least 1");
    }
    let k = opts.k.max(1).min(n);
    let max_dim = opts.max_iter.unwrap_or(n).clamp(1, n);
    let (basis, cap_note) = KrylovBasis::new(gpu, ops.clone(), n, max_dim)?;
    let max_dim = basis.capacity;
    let mut notes: Vec<String> = cap_note.into_iter().collect();

    let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed);
    let to_t = |v: &[f64]| v.iter().map(|&x| T::from_f64(x)).collect::<Vec<T>>();
    let mut q = Tensor::<T>::from_slice(gpu, &[n], &to_t(&random_unit(&mut rng, n)))?;
    let mut w = Tensor::<T>::zeros(gpu, &[n])?;
    let alpha_t = Tensor::<T>::zeros(gpu, &[1])?;
    let beta_t = Tensor::<T>::zeros(gpu, &[1])?;
    let gather = Tensor::<T>::zeros(gpu, &[2])?;
    {
        let mut b = Batch::new(gpu);
        basis.store(&mut b, 0, &q)?;
        b.submit()?;
    }

    let mut alpha: Vec<f64> = Vec::with_capacity(max_dim);
    let mut off: Vec<f64> = Vec::with_capacity(max_dim); // off[j] couples j and j+1
    let mut restarts = 0;
    let mut next_check = 10.min(max_dim);
    let mut norm_estimate = 0.0f64;
    let u = T::UNIT_ROUNDOFF;

    loop {
        let j = alpha.len();
        let mut batch = Batch::new(gpu);
        op.apply(&mut batch, &q, &w)?;
        ops.dot(&mut batch, &q, &w, &alpha_t)?;
        basis.orthogonalize(&mut batch, &w, j + 1)?;
        ops.nrm2(&mut batch, &w, &beta_t)?;
        gather_scalars(&mut batch, &[&alpha_t, &beta_t], &gather);
        batch.submit()?;
        let ab = gather.to_vec(gpu)?;
        let (a_j, b_j) = (ab[0].to_f64(), ab[1].to_f64());
        if !a_j.is_finite() || !b_j.is_finite() {
            return Err(crate::error::NonFinite::new(format!(
                "Lanczos step {j} produced a non-finite value (alpha {a_j}, beta {b_j}): \
                 the operator ({}) returned NaN or Inf",
                op.describe()
            ))
            .into());
        }
        alpha.push(a_j);
        norm_estimate = norm_estimate.max(a_j.abs() + b_j);
        let dim = j + 1;
        let full = dim == n;
        let last = full || dim == max_dim;

        // Breakdown: w lies in the span of V (an invariant subspace). Below this
        // threshold the new direction is rounding noise, not information.
        let breakdown = b_j <= 16.0 * u * (n as f64).sqrt() * norm_estimate.max(f64::MIN_POSITIVE);

        if dim >= next_check || last {
            let eig = tridiag_eigen(&alpha, &off, false)?;
            let norm = eig.values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let floors = (
                convergence_floor(u, n, norm),
                rounding_floor(u, n, dim, norm),
            );
            let beta_next = if breakdown { 0.0 } else { b_j };
            let (smallest, largest, converged) = ritz_estimates(
                &eig.values,
                &eig.last_components,
                beta_next,
                k,
                (opts.tol_min, opts.tol_max),
                floors,
                full,
            );
            if (converged && dim >= (2 * k).min(n) && !opts.full) || last {
                if !converged {
                    notes.push(format!(
                        "not converged: Krylov dimension limit {max_dim} reached before the tolerances"
                    ));
                }
                let full_spectrum = full.then(|| eig.values.clone());
                return Ok(SpectrumResult {
                    order: n,
                    smallest,
                    largest,
                    iterations: dim,
                    restarts,
                    converged,
                    full_spectrum,
                    precision: T::PRECISION,
                    method: "lanczos",
                    seconds: start_time.elapsed().as_secs_f64(),
                    notes,
                });
            }
            next_check = dim + (dim / 10).max(1);
        }

        let mut batch = Batch::new(gpu);
        if breakdown {
            // Restart with a random vector orthogonal to the basis; the tridiagonal
            // splits (off-diagonal 0), which is how repeated eigenvalues are found.
            restarts += 1;
            off.push(0.0);
            w.write(gpu, &to_t(&random_unit(&mut rng, n)))?;
            basis.orthogonalize(&mut batch, &w, dim)?;
            ops.nrm2(&mut batch, &w, &beta_t)?;
            batch.submit()?;
            let r = beta_t.to_vec(gpu)?[0].to_f64();
            if r.is_nan() || r <= 0.0 {
                bail!("Lanczos restart failed: no direction left orthogonal to the basis");
            }
            batch = Batch::new(gpu);
            ops.scale(&mut batch, 1.0 / r, &w)?;
        } else {
            off.push(b_j);
            ops.scale(&mut batch, 1.0 / b_j, &w)?;
        }
        std::mem::swap(&mut q, &mut w);
        basis.store(&mut batch, dim, &q)?;
        batch.submit()?;
    }
}
