//! Lanczos with full reorthogonalisation for extreme eigenvalues of a symmetric
//! operator (MEASUREMENTS.md §7).
//!
//! The Krylov basis lives on the GPU as a matrix V (one basis vector per row), so that
//! reorthogonalisation of a new vector w against all of it is two matrix-vector
//! products, h = V w and w -= Vᵀ h, done twice (classical Gram–Schmidt applied twice:
//! as accurate as modified Gram–Schmidt here, and matrix-shaped).
//!
//! The scalars stay on the GPU: α_j is h[j] of the first reorthogonalisation pass, β_j
//! the norm a reduction leaves in a device buffer, and the next vector is w / β_j by a
//! kernel that reads β_j from there ([`VectorOps::normalize`]). So a block of s steps
//! (8, 16, 32, then 64) is one submission, and its α and β come back in one readback;
//! the host then solves the small tridiagonal in f64 ([`super::tridiag`]) and applies
//! the stopping rules. A breakdown (β_j at rounding level) found in a block discards
//! the steps recorded after it. The extremes are judged there when the dropped β are
//! too small to hide anything beyond the tolerance; otherwise, or if they have not
//! converged, the basis is shorter than 2k, or several at each end are wanted
//! (repeated eigenvalues), the restart is recorded at the head of the next block.
//!
//! Without reorthogonalisation f32 Lanczos is useless past κ ~ 1e4 (GPU-NOTES.md), so
//! there is no option to drop it.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

use super::operator::{solver_order, SymmetricOperator};
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
    /// device precision u, plus the norm of the β a breakdown set to 0): what the
    /// reported value is claimed to be good to.
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
    /// Which solver ran: "lanczos", "dense", "power" or "golub-kahan".
    pub method: &'static str,
    /// Command submissions that recorded compute work.
    pub submissions: usize,
    /// Device-to-host reads (each waits for the device).
    pub readbacks: usize,
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
    pub h: Tensor<T>,
    ops: Arc<VectorOps<T>>,
    pub capacity: usize,
}

impl<T: Real> KrylovBasis<T> {
    /// A basis of up to `capacity` vectors of length `n`, capped by the adapter's
    /// binding limit (the cap is returned as a note).
    pub fn new(
        gpu: &Gpu, ops: Arc<VectorOps<T>>, n: usize, capacity: usize,
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

/// A random unit start vector of length `n` drawn from `seed`, on the device.
pub(crate) fn random_start<T: Real>(gpu: &Gpu, n: usize, seed: u64) -> Result<Tensor<T>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let start: Vec<T> = random_unit(&mut rng, n)
        .into_iter()
        .map(T::from_f64)
        .collect();
    Tensor::from_slice(gpu, &[n], &start)
}

/// Ritz values of the tridiagonal (alpha, off) with their residuals |β_next s_last|,
/// turned into the k smallest and k largest estimates.
pub(crate) fn ritz_estimates(
    values: &[f64], last_components: &[f64], beta_next: f64, k: usize, opts: (f64, f64),
    (floor, allowance): (f64, f64), exact: bool,
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

/// Steps in the first block; each later block doubles, up to [`MAX_BLOCK`].
pub const MIN_BLOCK: usize = 8;
/// Most steps recorded into one submission.
pub const MAX_BLOCK: usize = 64;

/// Layout of the coefficient buffer one block reads back: α of each step, then β of
/// each step, then the norm of a restart vector recorded at the head of the block.
const BETA_AT: usize = MAX_BLOCK;
const RESTART_AT: usize = 2 * MAX_BLOCK;

/// Submissions and readbacks, for the result's counters.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counters {
    pub submissions: usize,
    pub readbacks: usize,
}

/// The device state of one Lanczos run.
struct LanczosDevice<'a, T: Real> {
    gpu: &'a Gpu,
    ops: Arc<VectorOps<T>>,
    op: &'a dyn SymmetricOperator<T>,
    basis: KrylovBasis<T>,
    /// The current basis vector (also row j of the basis) and the next one being formed.
    q: Tensor<T>,
    w: Tensor<T>,
    beta_t: Tensor<T>,
    coef: Tensor<T>,
    counters: Counters,
}

impl<'a, T: Real> LanczosDevice<'a, T> {
    /// Buffers for a run of up to `max_dim` steps (capped by the binding limit, with a
    /// note), q set to `start`.
    fn new(
        gpu: &'a Gpu, ops: Arc<VectorOps<T>>, op: &'a dyn SymmetricOperator<T>, max_dim: usize,
        start: &[T],
    ) -> Result<(Self, Option<String>)> {
        let n = op.order();
        let (basis, note) = KrylovBasis::new(gpu, ops.clone(), n, max_dim)?;
        let dev = LanczosDevice {
            gpu,
            op,
            q: Tensor::<T>::from_slice(gpu, &[n], start)?,
            w: Tensor::<T>::zeros(gpu, &[n])?,
            beta_t: Tensor::<T>::zeros(gpu, &[1])?,
            coef: Tensor::<T>::zeros(gpu, &[2 * MAX_BLOCK + 1])?,
            basis,
            ops,
            counters: Counters::default(),
        };
        Ok((dev, note))
    }

    /// Records step j: w = A q_j, α_j = h[j], w ⟂ V[0..=j] twice, β_j = ‖w‖, and, when
    /// the basis has room, q_{j+1} = w / β_j into q and row j + 1.
    fn record_step(&self, batch: &mut Batch, j: usize, slot: usize) -> Result<()> {
        let size = std::mem::size_of::<T>() as u64;
        let (v, h) = (&self.basis.v, &self.basis.h);
        self.op.apply(batch, &self.q, &self.w)?;
        for pass in 0..2 {
            self.ops
                .gemv(batch, false, j + 1, 1.0, v, &self.w, 0.0, h)?;
            if pass == 0 {
                let (src, dst) = (j as u64 * size, slot as u64 * size);
                batch.copy_region(h.buffer(), src, self.coef.buffer(), dst, size);
            }
            self.ops
                .gemv(batch, true, j + 1, -1.0, v, h, 1.0, &self.w)?;
        }
        self.ops.nrm2(batch, &self.w, &self.beta_t)?;
        let dst = (BETA_AT + slot) as u64 * size;
        batch.copy_region(self.beta_t.buffer(), 0, self.coef.buffer(), dst, size);
        if j + 1 < self.basis.capacity {
            self.ops
                .normalize(batch, &self.w, &self.beta_t, 0, &self.q, v, j + 1)?;
        }
        Ok(())
    }

    /// Records a restart at row `dim`: a random vector made orthogonal to the basis,
    /// normalised by its device norm (kept in the restart slot for the host to check).
    fn record_restart(&self, batch: &mut Batch, dim: usize, start: &[T]) -> Result<()> {
        let size = std::mem::size_of::<T>() as u64;
        self.w.write(self.gpu, start)?;
        self.basis.orthogonalize(batch, &self.w, dim)?;
        self.ops.nrm2(batch, &self.w, &self.beta_t)?;
        let dst = RESTART_AT as u64 * size;
        batch.copy_region(self.beta_t.buffer(), 0, self.coef.buffer(), dst, size);
        let v = &self.basis.v;
        self.ops
            .normalize(batch, &self.w, &self.beta_t, 0, &self.q, v, dim)
    }

    /// Submits a block and reads its coefficients back (one submission, one readback).
    fn run_block(&mut self, batch: Batch) -> Result<Vec<f64>> {
        batch.submit()?;
        self.counters.submissions += 1;
        let values = self.coef.to_vec(self.gpu)?;
        self.counters.readbacks += 1;
        Ok(values.into_iter().map(T::to_f64).collect())
    }
}

/// The host half: the tridiagonal so far and the stopping rules.
struct LanczosHost {
    n: usize,
    u: f64,
    alpha: Vec<f64>,
    /// β_j of every step; 0 where a breakdown split the tridiagonal.
    beta: Vec<f64>,
    /// The sum of squares of the β set to 0 by breakdowns: the residuals dropped with
    /// them are at most its square root in norm (see `dropped_uncertainty`).
    dropped_squares: f64,
    norm_estimate: f64,
}

impl LanczosHost {
    fn new(n: usize, u: f64, max_dim: usize) -> Self {
        LanczosHost {
            n,
            u,
            alpha: Vec::with_capacity(max_dim),
            beta: Vec::with_capacity(max_dim),
            dropped_squares: 0.0,
            norm_estimate: 0.0,
        }
    }

    /// Takes a block's coefficients; returns whether a breakdown cut it short.
    fn absorb(&mut self, coef: &[f64], steps: usize, what: &dyn Fn() -> String) -> Result<bool> {
        for s in 0..steps {
            let j = self.alpha.len();
            let (a_j, b_j) = (coef[s], coef[BETA_AT + s]);
            if !a_j.is_finite() || !b_j.is_finite() {
                return Err(crate::error::NonFinite::new(format!(
                    "Lanczos step {j} produced a non-finite value (alpha {a_j}, beta {b_j}): \
                     the operator ({}) returned NaN or Inf",
                    what()
                ))
                .into());
            }
            self.alpha.push(a_j);
            self.norm_estimate = self.norm_estimate.max(a_j.abs() + b_j);
            // Breakdown: w lies in the span of V (an invariant subspace). Below this
            // threshold the new direction is rounding noise, not information. (Not
            // quite: A = I + δ e eᵀ gives w ~ δ/√n from a random start; see
            // `breakdown_settles`.)
            let floor = 16.0 * self.u * (self.n as f64).sqrt();
            let breakdown = b_j <= floor * self.norm_estimate.max(f64::MIN_POSITIVE);
            self.beta.push(if breakdown { 0.0 } else { b_j });
            if breakdown {
                self.dropped_squares += b_j * b_j;
            }
            if breakdown && self.alpha.len() < self.n {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// What the β dropped by breakdowns may hide: their norm, times n because a
    /// direction the random start holds with weight c (typically 1/√n) shows in w only
    /// as c·δ (A = I + δ e eᵀ); the factor n covers c down to 1/n, not every start.
    /// Part of every bound.
    fn dropped_uncertainty(&self) -> f64 {
        self.n as f64 * self.dropped_squares.sqrt()
    }

    /// Whether the extremes may be judged at a breakdown rather than after restarts:
    /// only when what the dropped β may hide is within the tighter tolerance or the
    /// rounding allowance. Otherwise restarts explore the rest of the space, as they
    /// always did.
    fn breakdown_settles(&self, opts: &LanczosOptions) -> bool {
        let norm = self.norm_estimate;
        let rounding = rounding_floor(self.u, self.n, self.alpha.len(), norm);
        self.dropped_uncertainty() <= (opts.tol_max.min(opts.tol_min) * norm).max(rounding)
    }

    /// Ritz estimates of the tridiagonal so far, with the stopping rules' verdict.
    fn estimates(&self, k: usize, opts: &LanczosOptions) -> Result<Estimates> {
        let dim = self.alpha.len();
        let full = dim == self.n;
        let eig = tridiag_eigen(&self.alpha, &self.beta[..dim - 1], false)?;
        let norm = eig.values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let u = self.u;
        let floors = (
            convergence_floor(u, self.n, norm),
            rounding_floor(u, self.n, dim, norm) + self.dropped_uncertainty(),
        );
        let (smallest, largest, converged) = ritz_estimates(
            &eig.values,
            &eig.last_components,
            self.beta[dim - 1],
            k,
            (opts.tol_min, opts.tol_max),
            floors,
            full,
        );
        let full_spectrum = full.then(|| eig.values.clone());
        Ok(Estimates {
            smallest,
            largest,
            converged,
            full_spectrum,
        })
    }
}

struct Estimates {
    smallest: Vec<EigenEstimate>,
    largest: Vec<EigenEstimate>,
    converged: bool,
    full_spectrum: Option<Vec<f64>>,
}

/// Extreme eigenvalues of `op` by Lanczos with full reorthogonalisation, s steps per
/// submission (see the module documentation).
pub fn lanczos<T: Real>(
    gpu: &Gpu, ops: Arc<VectorOps<T>>, op: &dyn SymmetricOperator<T>, opts: &LanczosOptions,
) -> Result<SpectrumResult> {
    let start_time = Instant::now();
    let n = solver_order("Lanczos", op)?;
    let k = opts.k.max(1).min(n);
    let max_dim = opts.max_iter.unwrap_or(n).clamp(1, n);
    let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed);
    let to_t = |v: &[f64]| v.iter().map(|&x| T::from_f64(x)).collect::<Vec<T>>();
    let start = to_t(&random_unit(&mut rng, n));
    let (mut dev, cap_note) = LanczosDevice::new(gpu, ops, op, max_dim, &start)?;
    let max_dim = dev.basis.capacity;
    let mut notes: Vec<String> = cap_note.into_iter().collect();
    let mut host = LanczosHost::new(n, T::UNIT_ROUNDOFF, max_dim);
    let (mut block, mut restarts, mut restart_pending) = (MIN_BLOCK, 0, false);
    loop {
        let dim = host.alpha.len();
        let steps = block.min(max_dim - dim);
        let mut batch = Batch::new(gpu);
        if dim == 0 {
            dev.basis.store(&mut batch, 0, &dev.q)?;
        }
        if restart_pending {
            // The tridiagonal splits (β = 0 already recorded): how repeated eigenvalues
            // are found.
            let start = to_t(&random_unit(&mut rng, n));
            dev.record_restart(&mut batch, dim, &start)?;
        }
        for s in 0..steps {
            dev.record_step(&mut batch, dim + s, s)?;
        }
        let coef = dev.run_block(batch)?;
        if restart_pending {
            let r = coef[RESTART_AT];
            if r.is_nan() || r <= 0.0 {
                bail!("Lanczos restart failed: no direction left orthogonal to the basis");
            }
            restarts += 1;
        }
        restart_pending = host.absorb(&coef, steps, &|| op.describe())?;
        // Breakdowns come in runs (one per restart): start small again after one.
        block = if restart_pending {
            MIN_BLOCK
        } else {
            (block * 2).min(MAX_BLOCK)
        };
        let dim = host.alpha.len();
        let last = dim == max_dim;
        // After a breakdown the basis spans an invariant subspace holding every distinct
        // eigenvalue (random start), so the extremes are judged there if the dropped β
        // settle it; k > 1 may be one repeated eigenvalue, which only restarts find.
        // (Restarting always cost a 260 x 260 identity 260 submissions.)
        if restart_pending && !last && (k > 1 || !host.breakdown_settles(opts)) {
            continue;
        }
        let est = host.estimates(k, opts)?;
        if (est.converged && dim >= (2 * k).min(n) && !opts.full) || last {
            if !est.converged {
                notes.push(format!(
                    "not converged: Krylov dimension limit {max_dim} reached before the tolerances"
                ));
            }
            return Ok(SpectrumResult {
                order: n,
                smallest: est.smallest,
                largest: est.largest,
                iterations: dim,
                restarts,
                converged: est.converged,
                full_spectrum: est.full_spectrum,
                precision: T::PRECISION,
                method: "lanczos",
                submissions: dev.counters.submissions,
                readbacks: dev.counters.readbacks,
                seconds: start_time.elapsed().as_secs_f64(),
                notes,
            });
        }
    }
}
