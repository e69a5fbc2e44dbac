//! Golub–Kahan–Lanczos bidiagonalisation of a factor F (n x d), for the eigenvalues of
//! G = F Fᵀ as squared singular values of F.
//!
//! Working on F instead of G halves the exponent of the condition number: an error of
//! u·σ_max in σ_min becomes a relative error of about u·sqrt(κ(G)) in λ_min = σ_min²,
//! instead of u·κ(G) when G itself is formed and solved in the same precision. This is
//! the route for adapters without f64 (Apple GPUs), and a cross-check elsewhere.
//!
//! The process is Lanczos on the augmented operator [[0, F], [Fᵀ, 0]] started from
//! (u₁, 0): its tridiagonal has a zero diagonal and off-diagonals α₁, β₂, α₂, β₃, …, and
//! its eigenvalues are ±σ of the bidiagonal. So the host side and the residual bounds
//! are those of [`super::lanczos`]. Both bases (U in Rⁿ, V in Rᵈ) are fully
//! reorthogonalised.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};

use super::lanczos::{
    convergence_floor, random_start, rounding_floor, Counters, EigenEstimate, KrylovBasis,
    LanczosOptions, SpectrumResult, MAX_BLOCK, MIN_BLOCK,
};
use super::tridiag::tridiag_eigen;
use super::Real;
use crate::gpu::{Batch, Gpu, Tensor};
use crate::ops::vector::VectorOps;

/// A linear map F: Rᵈ -> Rⁿ given by its products, G = F Fᵀ (n x n).
pub trait FactorOperator<T: Real> {
    /// n: the order of G = F Fᵀ.
    fn rows(&self) -> usize;
    /// d
    fn cols(&self) -> usize;
    /// Records y = F x (x of length d, y of length n).
    fn apply(&self, batch: &mut Batch, x: &Tensor<T>, y: &Tensor<T>) -> Result<()>;
    /// Records y = Fᵀ x (x of length n, y of length d).
    fn apply_transpose(&self, batch: &mut Batch, x: &Tensor<T>, y: &Tensor<T>) -> Result<()>;
    fn describe(&self) -> String;
}

/// A dense factor stored on the GPU, row-major `[n, d]` (e.g. a layer's features).
pub struct DenseFactor<T: Real> {
    factor: Tensor<T>,
    ops: Arc<VectorOps<T>>,
}

impl<T: Real> DenseFactor<T> {
    pub fn new(factor: Tensor<T>, ops: Arc<VectorOps<T>>) -> Result<Self> {
        factor.dims2("a factor")?;
        Ok(DenseFactor { factor, ops })
    }
}

impl<T: Real> FactorOperator<T> for DenseFactor<T> {
    fn rows(&self) -> usize {
        self.factor.shape()[0]
    }
    fn cols(&self) -> usize {
        self.factor.shape()[1]
    }
    fn apply(&self, batch: &mut Batch, x: &Tensor<T>, y: &Tensor<T>) -> Result<()> {
        self.ops
            .gemv(batch, false, self.rows(), 1.0, &self.factor, x, 0.0, y)
    }
    fn apply_transpose(&self, batch: &mut Batch, x: &Tensor<T>, y: &Tensor<T>) -> Result<()> {
        self.ops
            .gemv(batch, true, self.rows(), 1.0, &self.factor, x, 0.0, y)
    }
    fn describe(&self) -> String {
        format!("dense factor {} x {} {}", self.rows(), self.cols(), T::NAME)
    }
}

/// One side of the bidiagonalisation (U in Rⁿ or V in Rᵈ): the current direction, the
/// next one being formed, and the fully reorthogonalised basis of the earlier ones.
struct Side<T: Real> {
    current: Tensor<T>,
    next: Tensor<T>,
    basis: KrylovBasis<T>,
}

impl<T: Real> Side<T> {
    fn new(
        gpu: &Gpu, ops: &Arc<VectorOps<T>>, len: usize, cap: usize,
    ) -> Result<(Self, Option<String>)> {
        let (basis, note) = KrylovBasis::new(gpu, ops.clone(), len, len.min(cap))?;
        let side = Side {
            current: Tensor::zeros(gpu, &[len])?,
            next: Tensor::zeros(gpu, &[len])?,
            basis,
        };
        Ok((side, note))
    }

    /// Records one half-step's end: `next` orthogonalised against the first `count`
    /// basis vectors, its norm into `coef[slot]` and, unless the basis is full at `row`,
    /// next / norm as the current direction, stored as basis row `row`. The norm stays
    /// on the device: no readback.
    fn record_half_step(
        &self, k: &Kernels<T>, batch: &mut Batch, count: usize, slot: usize, row: usize,
    ) -> Result<()> {
        let size = std::mem::size_of::<T>() as u64;
        self.basis.orthogonalize(batch, &self.next, count)?;
        k.vectors.nrm2(batch, &self.next, &k.norm)?;
        batch.copy_region(
            k.norm.buffer(),
            0,
            k.coef.buffer(),
            slot as u64 * size,
            size,
        );
        if row < self.basis.capacity {
            k.vectors.normalize(
                batch,
                &self.next,
                &k.norm,
                0,
                &self.current,
                &self.basis.v,
                row,
            )?;
        }
        Ok(())
    }
}

/// The kernels and device scalars of one run: α of block step s lands in coef[s], β in
/// coef[MAX_BLOCK + s].
struct Kernels<T: Real> {
    vectors: Arc<VectorOps<T>>,
    norm: Tensor<T>,
    coef: Tensor<T>,
}

impl<T: Real> Kernels<T> {
    fn new(gpu: &Gpu, vectors: Arc<VectorOps<T>>) -> Result<Self> {
        Ok(Kernels {
            vectors,
            norm: Tensor::zeros(gpu, &[1])?,
            coef: Tensor::zeros(gpu, &[2 * MAX_BLOCK])?,
        })
    }
}

/// Records steps `first .. first + steps` (both half-steps each), stopping where a
/// basis is full (the host stops there too).
fn record_block<T: Real>(
    batch: &mut Batch, k: &Kernels<T>, factor: &dyn FactorOperator<T>,
    (u, v): (&Side<T>, &Side<T>), first: usize, steps: usize,
) -> Result<()> {
    for s in 0..steps {
        let step = first + s;
        // α v = Fᵀ u - β v_prev; the β term is removed by full reorthogonalisation.
        factor.apply_transpose(batch, &u.current, &v.next)?;
        v.record_half_step(k, batch, step.min(v.basis.capacity), s, step)?;
        if step == v.basis.capacity {
            return Ok(());
        }
        // β u' = F v - α u, likewise.
        factor.apply(batch, &v.current, &u.next)?;
        u.record_half_step(k, batch, step + 1, MAX_BLOCK + s, step + 1)?;
    }
    Ok(())
}

/// Both sides for at most `max_steps` steps, u starting from a random unit vector drawn
/// from `seed`; notes say where memory capped a basis.
#[allow(clippy::type_complexity)]
fn sides<T: Real>(
    gpu: &Gpu, ops: &Arc<VectorOps<T>>, (n, d): (usize, usize), max_steps: usize, seed: u64,
) -> Result<(Side<T>, Side<T>, Vec<String>)> {
    let (mut u, note_u) = Side::new(gpu, ops, n, max_steps + 1)?;
    let (v, note_v) = Side::new(gpu, ops, d, max_steps)?;
    u.current = random_start(gpu, n, seed)?;
    Ok((u, v, note_u.into_iter().chain(note_v).collect()))
}

/// Extreme eigenvalues of F Fᵀ by Golub–Kahan–Lanczos bidiagonalisation of F, blocks
/// of 8 to 64 steps per submission with α and β kept on the device (one readback per
/// block). Tolerances in `opts` are relative to the eigenvalues of F Fᵀ.
pub fn golub_kahan<T: Real>(
    gpu: &Gpu, ops: Arc<VectorOps<T>>, factor: &dyn FactorOperator<T>, opts: &LanczosOptions,
) -> Result<SpectrumResult> {
    let start_time = Instant::now();
    let (n, d) = (factor.rows(), factor.cols());
    if n == 0 || d == 0 {
        bail!("Golub-Kahan needs a non-empty factor, got {n} x {d}");
    }
    // Steps: each finds one α (a v-direction) and one β (a u-direction). The process
    // ends by itself after min(n, d) steps (one more α half-step when n > d finds the
    // null space of Fᵀ, i.e. the zero eigenvalues of F Fᵀ).
    let max_steps = opts.max_iter.unwrap_or(n).clamp(1, n.min(d) + 1);
    let (u, v, mut notes) = sides(gpu, &ops, (n, d), max_steps, opts.seed)?;
    let k = Kernels::new(gpu, ops)?;
    let estimates = Estimates::new((n, d), opts, T::UNIT_ROUNDOFF);
    // Off-diagonals of the augmented tridiagonal: α₁, β₂, α₂, β₃, ...
    let mut off: Vec<f64> = Vec::new();
    let mut sigma_max = 0.0f64;
    let negligible = |x: f64, sigma_max: f64| {
        x == 0.0 || x <= 16.0 * T::UNIT_ROUNDOFF * (n.max(d) as f64).sqrt() * sigma_max
    };
    let mut counters = Counters::default();
    let mut batch = Batch::new(gpu);
    u.basis.store(&mut batch, 0, &u.current)?;
    let (mut done, mut block) = (0, MIN_BLOCK);
    loop {
        let steps = block.min(max_steps - done);
        record_block(&mut batch, &k, factor, (&u, &v), done, steps)?;
        batch.submit()?;
        let g: Vec<f64> = k.coef.to_vec(gpu)?.into_iter().map(T::to_f64).collect();
        counters.submissions += 1;
        counters.readbacks += 1;
        let stats = (start_time, counters);
        for (s, step) in (done..done + steps).enumerate() {
            let a = g[s];
            check_finite(a, "alpha", step, factor)?;
            if negligible(a, sigma_max) {
                // Fᵀ u is in span(V): the Krylov space is exhausted and the tridiagonal
                // (ending with a β, odd order) is exact for it, a zero eigenvalue included.
                notes.push(format!(
                    "Krylov space exhausted after {step} steps (alpha half-step)"
                ));
                return estimates.result::<T>(&off, 0.0, true, step, notes, stats);
            }
            if step == v.basis.capacity {
                // Only when the basis was capped by memory: stop where we are.
                let mut r = estimates.result::<T>(&off, a, false, step, notes, stats)?;
                r.notes
                    .push("stopped at the memory cap of the Krylov basis".into());
                return Ok(r);
            }
            off.push(a);
            sigma_max = sigma_max.max(a);
            let b = g[MAX_BLOCK + s];
            check_finite(b, "beta", step, factor)?;
            sigma_max = sigma_max.max(b);
            let exhausted = negligible(b, sigma_max) || step + 1 == u.basis.capacity;
            if exhausted || step + 1 == max_steps {
                let beta = if exhausted { 0.0 } else { b };
                let r = estimates.result::<T>(&off, beta, exhausted, step + 1, notes, stats)?;
                return Ok(note_unconverged(r, max_steps));
            }
            off.push(b);
        }
        done += steps;
        // Converged at the block's end? (The last β is the next off-diagonal.)
        let (beta, prefix) = off.split_last().expect("a block adds α and β");
        let r = estimates.result::<T>(prefix, *beta, false, done, notes.clone(), stats)?;
        if r.converged {
            return Ok(r);
        }
        block = (block * 2).min(MAX_BLOCK);
        batch = Batch::new(gpu);
    }
}

fn note_unconverged(mut result: SpectrumResult, max_steps: usize) -> SpectrumResult {
    if !result.converged {
        result.notes.push(format!(
            "not converged: step limit {max_steps} reached before the tolerances"
        ));
    }
    result
}

fn check_finite<T: Real>(
    x: f64, what: &str, step: usize, factor: &dyn FactorOperator<T>,
) -> Result<()> {
    if !x.is_finite() {
        return Err(crate::error::NonFinite::new(format!(
            "Golub-Kahan step {step} produced a non-finite {what} ({x}): the factor ({}) gives NaN or Inf",
            factor.describe()
        ))
        .into());
    }
    Ok(())
}

struct Estimates {
    order: usize,
    k: usize,
    tol_min: f64,
    tol_max: f64,
    u_round: f64,
    dim: usize,
}

impl Estimates {
    fn new((n, d): (usize, usize), opts: &LanczosOptions, u_round: f64) -> Self {
        Estimates {
            order: n,
            k: opts.k.max(1),
            tol_min: opts.tol_min,
            tol_max: opts.tol_max,
            u_round,
            dim: n.max(d),
        }
    }

    /// Ritz estimates for F Fᵀ from the augmented tridiagonal with off-diagonals `off`
    /// and next off-diagonal `beta_next`. Its eigenvalues are ±σ (plus one 0 when its
    /// order is odd, which is then a genuine zero eigenvalue of F Fᵀ); λ = σ².
    fn result<T: Real>(
        &self, off: &[f64], beta_next: f64, exact: bool, steps: usize, notes: Vec<String>,
        (start_time, counters): (Instant, Counters),
    ) -> Result<SpectrumResult> {
        let m = off.len() + 1;
        let eig = tridiag_eigen(&vec![0.0; m], off, false)?;
        // Non-negative half: indices m/2 .. m (ascending σ).
        let first = m / 2;
        let sigmas: Vec<f64> = eig.values[first..].iter().map(|s| s.max(0.0)).collect();
        let lasts = &eig.last_components[first..];
        let count = sigmas.len();
        let k = self.k.min(count);
        let sigma_max = sigmas.last().copied().unwrap_or(0.0);
        let floor_sigma = convergence_floor(self.u_round, self.dim, sigma_max);
        let allowance_sigma = rounding_floor(self.u_round, self.dim, 2 * steps, sigma_max);
        let estimate = |i: usize, tol: f64| {
            let s = sigmas[i];
            let r_sigma = if exact {
                0.0
            } else {
                (beta_next * lasts[i]).abs()
            };
            let lambda = s * s;
            // |λ - σ²| <= 2σδ + δ² for |σ - σ_true| <= δ.
            let to_lambda = |delta: f64| 2.0 * s * delta + delta * delta;
            let residual = to_lambda(r_sigma);
            let floor = to_lambda(floor_sigma);
            EigenEstimate {
                value: lambda,
                residual,
                bound: to_lambda(r_sigma + allowance_sigma),
                converged: exact || residual <= tol * lambda || residual <= floor,
            }
        };
        let smallest: Vec<_> = (0..k).map(|i| estimate(i, self.tol_min)).collect();
        let largest: Vec<_> = (0..k)
            .map(|i| estimate(count - 1 - i, self.tol_max))
            .collect();
        let converged = smallest.iter().chain(&largest).all(|e| e.converged);
        Ok(SpectrumResult {
            order: self.order,
            smallest,
            largest,
            iterations: steps,
            restarts: 0,
            converged,
            full_spectrum: None,
            precision: T::PRECISION,
            method: "golub-kahan",
            submissions: counters.submissions,
            readbacks: counters.readbacks,
            seconds: start_time.elapsed().as_secs_f64(),
            notes,
        })
    }
}
