//! Power iteration: λ_max directly, λ_min as σ - λ_max(σI - A) with σ just above
//! λ_max. The simple baseline the Lanczos results are checked against; it converges
//! slowly when the top (or bottom) of the spectrum is clustered.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};
use rand::SeedableRng;

use super::lanczos::{gather_scalars, random_unit, rounding_floor, EigenEstimate, SpectrumResult};
use super::operator::SymmetricOperator;
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

/// The dominant eigenvalue of `op` (largest in magnitude; the largest for PSD operators).
fn dominant<T: Real>(
    gpu: &Gpu,
    ops: &VectorOps<T>,
    op: &dyn SymmetricOperator<T>,
    opts: &PowerOptions,
    floor_of: impl Fn(f64) -> f64,
) -> Result<(EigenEstimate, usize)> {
    let n = op.order();
    let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed);
    let start: Vec<T> = random_unit(&mut rng, n)
        .into_iter()
        .map(T::from_f64)
        .collect();
    let mut v = Tensor::<T>::from_slice(gpu, &[n], &start)?;
    let mut w = Tensor::<T>::zeros(gpu, &[n])?;
    let r = Tensor::<T>::zeros(gpu, &[n])?;
    let (theta_t, norm_t, res_t) = (
        Tensor::<T>::zeros(gpu, &[1])?,
        Tensor::<T>::zeros(gpu, &[1])?,
        Tensor::<T>::zeros(gpu, &[1])?,
    );
    let gather = Tensor::<T>::zeros(gpu, &[3])?;
    // The previous step's θ and ‖A v‖; the residual of a step is measured in the next.
    let mut prev: Option<(f64, f64)> = None;
    for it in 0..=opts.max_iter {
        let mut batch = Batch::new(gpu);
        if let Some((theta, norm)) = prev {
            batch.copy(w.buffer(), r.buffer(), w.bytes());
            ops.axpy(&mut batch, -theta, &v, &r)?;
            ops.nrm2(&mut batch, &r, &res_t)?;
            ops.scale(&mut batch, 1.0 / norm, &w)?;
            std::mem::swap(&mut v, &mut w);
        }
        op.apply(&mut batch, &v, &w)?;
        ops.dot(&mut batch, &v, &w, &theta_t)?;
        ops.nrm2(&mut batch, &w, &norm_t)?;
        gather_scalars(&mut batch, &[&theta_t, &norm_t, &res_t], &gather);
        batch.submit()?;
        let g: Vec<f64> = gather.to_vec(gpu)?.into_iter().map(T::to_f64).collect();
        let (theta, norm, residual) = (g[0], g[1], g[2]);
        if !theta.is_finite() || !norm.is_finite() {
            return Err(crate::error::NonFinite::new(format!("power iteration produced a non-finite value: the operator ({}) returned NaN or Inf", op.describe())).into());
        }
        if let Some((prev_theta, _)) = prev {
            let floor = floor_of(prev_theta.abs());
            if residual <= opts.tol * prev_theta.abs() || residual <= floor || it == opts.max_iter {
                let converged = residual <= opts.tol * prev_theta.abs() || residual <= floor;
                return Ok((
                    EigenEstimate {
                        value: prev_theta,
                        residual,
                        bound: residual + floor,
                        converged,
                    },
                    it,
                ));
            }
        }
        if norm == 0.0 {
            // A v = 0: v is an eigenvector of eigenvalue 0.
            return Ok((
                EigenEstimate {
                    value: 0.0,
                    residual: 0.0,
                    bound: floor_of(0.0),
                    converged: true,
                },
                it + 1,
            ));
        }
        prev = Some((theta, norm));
    }
    unreachable!("the loop returns at max_iter")
}

/// λ_max and λ_min of a symmetric PSD operator by power iteration.
pub fn power_iteration<T: Real>(
    gpu: &Gpu,
    ops: Arc<VectorOps<T>>,
    op: &dyn SymmetricOperator<T>,
    opts: &PowerOptions,
) -> Result<SpectrumResult> {
    let start = Instant::now();
    let n = op.order();
    if n == 0 {
        bail!("power iteration needs an operator of order at least 1");
    }
    let u = T::UNIT_ROUNDOFF;
    let (top, it_top) = dominant(gpu, &ops, op, opts, |norm| rounding_floor(u, n, 1, norm))?;
    // Shift just above λ_max so that σI - A is PSD and its top is σ - λ_min.
    let shift = top.value + top.bound;
    let shifted = Shifted {
        inner: op,
        ops: &ops,
        shift,
    };
    let floor = rounding_floor(u, n, 1, shift);
    let (bottom, it_bottom) = dominant(gpu, &ops, &shifted, opts, |_| floor)?;
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
        seconds: start.elapsed().as_secs_f64(),
        notes,
    })
}
