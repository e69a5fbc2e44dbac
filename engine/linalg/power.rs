//! Power iteration: λ_max directly, λ_min as σ - λ_max(σI - A) with σ just above
//! λ_max. The simple baseline the Lanczos results are checked against; it converges
//! slowly when the top (or bottom) of the spectrum is clustered. Like Lanczos, it
//! records blocks of steps with its scalars on the device and reads each block back once.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;

use super::lanczos::{
    random_start, rounding_floor, Counters, EigenEstimate, SpectrumResult, MAX_BLOCK, MIN_BLOCK,
};
use super::operator::{solver_order, SymmetricOperator};
use super::Real;
use crate::gpu::{Batch, Gpu, Tensor};
use crate::ops::vector::VectorOps;

#[derive(Clone, Debug)]
pub struct PowerOptions {
    /// Stop when the residual ‖A v - θ v‖ is below `tol * |θ|` (or the rounding floor).
    pub tol: f64,
    pub max_iter: usize,
    pub seed: u64,
}

impl Default for PowerOptions {
    fn default() -> Self {
        PowerOptions {
            tol: 1e-6,
            max_iter: 5000,
            seed: 0,
        }
    }
}

/// σI - A, for λ_min by power iteration.
struct Shifted<'a, T: Real> {
    inner: &'a dyn SymmetricOperator<T>,
    ops: &'a VectorOps<T>,
    shift: f64,
}

impl<T: Real> SymmetricOperator<T> for Shifted<'_, T> {
    fn order(&self) -> usize {
        self.inner.order()
    }
    fn apply(&self, batch: &mut Batch, x: &Tensor<T>, y: &Tensor<T>) -> Result<()> {
        self.inner.apply(batch, x, y)?;
        self.ops.scale(batch, -1.0, y)?;
        self.ops.axpy(batch, self.shift, x, y)
    }
    fn describe(&self) -> String {
        format!("{} I - ({})", self.shift, self.inner.describe())
    }
}

/// Per step of a block, the device writes θ = vᵀ A v, ‖A v‖ and the residual
/// ‖A v - θ v‖ into one coefficient buffer: θ of every step, then the norms, then the
/// residuals.
const SLOTS: usize = MAX_BLOCK;

/// The dominant eigenvalue of `op` (largest in magnitude; the largest for PSD
/// operators), s steps per submission: v_{i+1} = A v_i / ‖A v_i‖ with the norm read
/// from a device buffer, and one readback per block.
fn dominant<T: Real>(
    gpu: &Gpu, ops: &VectorOps<T>, op: &dyn SymmetricOperator<T>, opts: &PowerOptions,
    floor_of: impl Fn(f64) -> f64, counters: &mut Counters,
) -> Result<(EigenEstimate, usize)> {
    let n = op.order();
    let v = random_start::<T>(gpu, n, opts.seed)?;
    let w = Tensor::<T>::zeros(gpu, &[n])?;
    let r = Tensor::<T>::zeros(gpu, &[n])?;
    let scalars: Vec<Tensor<T>> = (0..3)
        .map(|_| Tensor::<T>::zeros(gpu, &[1]))
        .collect::<Result<_>>()?;
    let coef = Tensor::<T>::zeros(gpu, &[3 * SLOTS])?;
    let size = std::mem::size_of::<T>() as u64;
    let max_iter = opts.max_iter.max(1);
    let (mut done, mut block) = (0usize, MIN_BLOCK);
    loop {
        let steps = block.min(max_iter - done);
        let mut batch = Batch::new(gpu);
        for s in 0..steps {
            op.apply(&mut batch, &v, &w)?;
            ops.dot(&mut batch, &v, &w, &scalars[0])?;
            ops.nrm2(&mut batch, &w, &scalars[1])?;
            ops.copy(&mut batch, &w, &r)?;
            ops.axpy_scalar(&mut batch, &v, &scalars[0], 0, true, &r)?;
            ops.nrm2(&mut batch, &r, &scalars[2])?;
            for (slot, scalar) in scalars.iter().enumerate() {
                let dst = (slot * SLOTS + s) as u64 * size;
                batch.copy_region(scalar.buffer(), 0, coef.buffer(), dst, size);
            }
            ops.div_scalar(&mut batch, &w, &scalars[1], 0, &v)?;
        }
        batch.submit()?;
        counters.submissions += 1;
        let g: Vec<f64> = coef.to_vec(gpu)?.into_iter().map(T::to_f64).collect();
        counters.readbacks += 1;
        for s in 0..steps {
            let it = done + s;
            let (theta, norm, residual) = (g[s], g[SLOTS + s], g[2 * SLOTS + s]);
            if !theta.is_finite() || !norm.is_finite() {
                return Err(crate::error::NonFinite::new(format!(
                    "power iteration produced a non-finite value: the operator ({}) returned NaN or Inf",
                    op.describe()
                ))
                .into());
            }
            if norm == 0.0 {
                // A v = 0: v is an eigenvector of eigenvalue 0.
                let bound = floor_of(0.0);
                let zero = EigenEstimate {
                    value: 0.0,
                    residual: 0.0,
                    bound,
                    converged: true,
                };
                return Ok((zero, it + 1));
            }
            let floor = floor_of(theta.abs());
            let converged = residual <= opts.tol * theta.abs() || residual <= floor;
            if converged || it + 1 == max_iter {
                let estimate = EigenEstimate {
                    value: theta,
                    residual,
                    bound: residual + floor,
                    converged,
                };
                return Ok((estimate, it + 1));
            }
        }
        done += steps;
        block = (block * 2).min(MAX_BLOCK);
    }
}

/// λ_max and λ_min of a symmetric PSD operator by power iteration.
pub fn power_iteration<T: Real>(
    gpu: &Gpu, ops: Arc<VectorOps<T>>, op: &dyn SymmetricOperator<T>, opts: &PowerOptions,
) -> Result<SpectrumResult> {
    let start = Instant::now();
    let n = solver_order("power iteration", op)?;
    let u = T::UNIT_ROUNDOFF;
    let mut counters = Counters::default();
    let floor_top = |norm| rounding_floor(u, n, 1, norm);
    let (top, it_top) = dominant(gpu, &ops, op, opts, floor_top, &mut counters)?;
    // Shift just above λ_max so that σI - A is PSD and its top is σ - λ_min.
    let shift = top.value + top.bound;
    let shifted = Shifted {
        inner: op,
        ops: &ops,
        shift,
    };
    let floor = rounding_floor(u, n, 1, shift);
    let (bottom, it_bottom) = dominant(gpu, &ops, &shifted, opts, |_| floor, &mut counters)?;
    let smallest = EigenEstimate {
        value: shift - bottom.value,
        residual: bottom.residual,
        bound: bottom.bound,
        converged: bottom.converged,
    };
    let mut notes = Vec::new();
    if !(top.converged && smallest.converged) {
        notes.push(format!("not converged within {} iterations", opts.max_iter));
    }
    Ok(SpectrumResult {
        order: n,
        smallest: vec![smallest],
        largest: vec![top],
        iterations: it_top + it_bottom,
        restarts: 0,
        converged: top.converged && smallest.converged,
        full_spectrum: None,
        precision: T::PRECISION,
        method: "power",
        submissions: counters.submissions,
        readbacks: counters.readbacks,
        seconds: start.elapsed().as_secs_f64(),
        notes,
    })
}
