//! Dense symmetric eigensolver: Householder reduction to tridiagonal form, then every
//! eigenvalue of the tridiagonal on the host in f64 ([`super::tridiag`]). The reduction
//! ([`DenseReduction`]) is either
//! - one stage on the GPU (shaders/tridiagonalize.wgsl: one workgroup per matrix below
//!   order [`crate::ops::tridiagonalize::WIDE_FROM_ORDER`], each column spread over many
//!   workgroups from it; no readback per column), or
//! - two stages ([`super::two_stage`]): full → band on the GPU, mostly matmuls, then
//!   band → tridiagonal on the host in f64.
//!
//! One submission and one readback (the tridiagonals, or the bands) per batch of matrices.
//!
//! Bound (MEASUREMENTS.md §7, same meaning as Lanczos': a true eigenvalue lies within
//! it): the reduction is backward stable, T = Qᵀ(A + E)Q, so by Weyl's theorem the i-th
//! computed eigenvalue is within ‖E‖₂ of the i-th true one (sorted). ‖E‖₂ has a part per
//! reflector (its rounding in forming v and τ and in the rank-2 update) and a part that
//! grows with n; we report c·(n + n₀)·(u + u₆₄)·‖A‖₂ for the device's unit roundoff u,
//! with u₆₄ for the host's stages in f64 (band → tridiagonal, the tridiagonal's
//! root-free QL), which are backward stable in the same form. Measured worst errors (750
//! random matrices per order up to n = 7, fewer above): 11–16.4 u‖A‖ at n = 3–130 in f32
//! (n = 2 is exact: nothing to reflect); in f64 17–36 u‖A‖ at n = 3–12 and 126 u‖A‖ at
//! n = 130 (faer's own error included); at most 0.34 of this bound (measured with the
//! rotation QL; the root-free QL that replaced it agrees with it to 64 ε‖A‖ in the
//! tests). c·n alone (12 u‖A‖ at n = 3) did not hold. c = [`BACKWARD_ERROR_CONSTANT`],
//! n₀ = [`BACKWARD_ERROR_ORDER_FLOOR`]; ‖A‖₂ is taken as max |λ(T)| (the difference is
//! itself within the bound).

use std::sync::OnceLock;
use std::time::Instant;

use anyhow::{bail, Result};

use super::host_threads::map_in_parallel;
use super::lanczos::{EigenEstimate, LanczosOptions, SpectrumResult};
use super::tridiag::tridiag_eigenvalues;
use super::two_stage::{self, TwoStage};
use super::Real;
use super::SpectrumMethod;
use crate::gpu::adapter::{device_choice, env_value};
use crate::gpu::{Batch, Gpu, Tensor};
use crate::ops::bandreduce::BandWork;
use crate::ops::tridiagonalize::{Reduction, TridiagonalWork, Tridiagonalize};

/// c in the reported bound c·(n + n₀)·(u + u₆₄)·‖A‖₂ (see the module docs).
pub const BACKWARD_ERROR_CONSTANT: f64 = 4.0;

/// n₀ in the reported bound: the per-reflector part, which dominates at small orders.
pub const BACKWARD_ERROR_ORDER_FLOOR: usize = 8;

/// How the dense solver reduces a matrix to tridiagonal form. Every way is backward
/// stable with the same bound; they differ in speed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenseReduction {
    /// Householder reflections one column at a time on the GPU (shaders/tridiagonalize.wgsl).
    OneStage(Reduction),
    /// Full → band on the GPU by blocked reflections and matmuls, band → tridiagonal on
    /// the host ([`two_stage`]).
    TwoStage,
}

/// Orders from which [`DenseReduction::for_device`] takes the two-stage reduction.
pub const TWO_STAGE_FROM_ORDER: usize = 128;

impl DenseReduction {
    pub const ALL: [DenseReduction; 3] = [
        DenseReduction::OneStage(Reduction::Workgroup),
        DenseReduction::OneStage(Reduction::Wide),
        DenseReduction::TwoStage,
    ];

    /// The reduction for matrices of order `n` on `gpu`. Two stages on CPU adapters,
    /// where it was measured faster (docs/PERFORMANCE.md); one stage on GPUs until the
    /// two are measured there (the host's band stage, O(n² b), may dominate beside a
    /// GPU's matmuls). [`REDUCTION_VARIABLE`] overrides the choice, for benchmarks.
    pub fn for_device(gpu: &Gpu, n: usize) -> Result<DenseReduction> {
        let choice = env_value(REDUCTION_VARIABLE);
        let two_stage = two_stage_wanted(choice.as_deref(), gpu.summary.is_cpu())?;
        if choice.as_deref() == Some("two-stage") && !two_stage::fits(n) {
            bail!(
                "{REDUCTION_VARIABLE}=two-stage: the two-stage reduction takes orders up to \
                 {}, this matrix has order {n}; unset it to reduce this one in one stage",
                two_stage::MAX_ORDER
            );
        }
        Ok(
            if two_stage && n >= TWO_STAGE_FROM_ORDER && two_stage::fits(n) {
                DenseReduction::TwoStage
            } else {
                DenseReduction::OneStage(Reduction::for_order(n))
            },
        )
    }
}

/// Whether [`REDUCTION_VARIABLE`]'s value `choice` (unset: `None`) asks for two stages
/// on an adapter that is or is not a CPU.
fn two_stage_wanted(choice: Option<&str>, is_cpu: bool) -> Result<bool> {
    let named = [("one-stage", false), ("two-stage", true)];
    device_choice(REDUCTION_VARIABLE, choice, is_cpu, (true, false), &named)
}

/// The environment variable that chooses the dense reduction for every matrix of order
/// [`TWO_STAGE_FROM_ORDER`] or more: `one-stage`, `two-stage` or `auto` (the default).
pub const REDUCTION_VARIABLE: &str = "WIDEPROBE_DENSE_REDUCTION";

/// The dense eigensolver of one precision, its kernels built once.
pub struct DenseEigensolver<T: Real> {
    reduce: Tridiagonalize<T>,
    /// Built on first use: a dozen pipelines that GPUs do not take by default.
    two_stage: OnceLock<TwoStage<T>>,
}

/// Where a recorded reduction leaves its result on the device.
enum ReducedWork<T: Real> {
    Tridiagonal(TridiagonalWork<T>),
    Band(BandWork<T>),
}

/// Reductions recorded into a caller's batch whose tridiagonals have not been read
/// yet: record several (one per matrix or per stack of matrices) into one batch,
/// submit it once, then [`DenseEigensolver::finish`] each.
pub struct PendingSpectra<T: Real> {
    work: ReducedWork<T>,
    start: Instant,
}

impl<T: Real> DenseEigensolver<T> {
    pub fn new(gpu: &Gpu) -> Result<Self> {
        Ok(DenseEigensolver {
            reduce: Tridiagonalize::new(gpu)?,
            two_stage: OnceLock::new(),
        })
    }

    /// Builds now every kernel a matrix of order `n` will need on `gpu` (the
    /// two-stage reduction's, where it will run), so that a timed solve compiles none.
    pub fn prepare(&self, gpu: &Gpu, n: usize) -> Result<()> {
        if DenseReduction::for_device(gpu, n)? == DenseReduction::TwoStage {
            self.two_stage(gpu)?;
        }
        Ok(())
    }

    /// The two-stage reduction's kernels, built on first use.
    fn two_stage(&self, gpu: &Gpu) -> Result<&TwoStage<T>> {
        if let Some(built) = self.two_stage.get() {
            return Ok(built);
        }
        let built = TwoStage::new(gpu)?;
        Ok(self.two_stage.get_or_init(|| built))
    }

    /// Records the dense solve of the `[n, n]` `matrix` into `batch` when `method`
    /// resolves to the dense solver for it on this device ([`SpectrumMethod::resolve`]),
    /// with the solver that finishes it; `None` when a Krylov solver runs instead, after
    /// the batch.
    pub fn record_if_dense(
        batch: &mut Batch, matrix: &Tensor<T>, method: SpectrumMethod, options: &LanczosOptions,
    ) -> Result<Option<(Self, PendingSpectra<T>)>> {
        let (gpu, n) = (batch.gpu(), matrix.shape()[0]);
        if method.resolve(gpu, n, std::mem::size_of::<T>(), options)? != SpectrumMethod::Dense {
            return Ok(None);
        }
        let solver = Self::new(gpu)?;
        let pending = solver.record(batch, matrix)?;
        Ok(Some((solver, pending)))
    }

    /// Records the reduction of `matrices`: one `[n, n]` matrix or a stack
    /// `[count, n, n]` (lower triangles read). The matrices must not change until
    /// the batch has been submitted.
    pub fn record(&self, batch: &mut Batch, matrices: &Tensor<T>) -> Result<PendingSpectra<T>> {
        let n = matrices.shape().last().copied().unwrap_or(0);
        let reduction = DenseReduction::for_device(batch.gpu(), n)?;
        self.record_with(batch, matrices, reduction)
    }

    /// [`DenseEigensolver::record`] with the reduction chosen by the caller (tests and
    /// benches compare the two).
    pub fn record_with(
        &self, batch: &mut Batch, matrices: &Tensor<T>, reduction: DenseReduction,
    ) -> Result<PendingSpectra<T>> {
        let shape = matrices.shape();
        let (count, n) = match *shape {
            [r, c] if r == c => (1, r),
            [count, r, c] if r == c => (count, r),
            _ => bail!(
                "the dense eigensolver needs a square matrix [n, n] or a stack [count, n, n], \
                 got shape {shape:?}"
            ),
        };
        if n == 0 || count == 0 {
            bail!("the dense eigensolver needs matrices of order at least 1, got shape {shape:?}");
        }
        let work = match reduction {
            DenseReduction::OneStage(reduction) => {
                let work = self.reduce.work(batch.gpu(), count, n, reduction)?;
                self.reduce.record(batch, matrices, &work)?;
                ReducedWork::Tridiagonal(work)
            }
            DenseReduction::TwoStage => {
                let two_stage = self.two_stage(batch.gpu())?;
                let work = two_stage.work(batch.gpu(), count, n)?;
                two_stage.record(batch, matrices, &work)?;
                ReducedWork::Band(work)
            }
        };
        Ok(PendingSpectra {
            work,
            start: Instant::now(),
        })
    }

    /// Reads the tridiagonals back (one readback) and solves them, the matrices spread
    /// over the host's cores: one result per matrix, every eigenvalue in
    /// `full_spectrum`, the k extremes at each end.
    /// `submissions` is what the caller's batch counts for (1 when it held only this).
    pub fn finish(
        &self, gpu: &Gpu, pending: PendingSpectra<T>, k: usize, submissions: usize,
    ) -> Result<Vec<SpectrumResult>> {
        let tridiagonals = match &pending.work {
            ReducedWork::Tridiagonal(work) => {
                let n = work.n;
                let tri: Vec<f64> = work.tri.to_vec(gpu)?.into_iter().map(T::to_f64).collect();
                tri.chunks(2 * n)
                    .map(|t| (t[..n].to_vec(), t[n..2 * n - 1].to_vec()))
                    .collect()
            }
            ReducedWork::Band(work) => two_stage::tridiagonals(gpu, work)?,
        };
        let spectra = map_in_parallel(&tridiagonals, |(d, e)| {
            spectrum_of_tridiagonal::<T>(d, e, k)
        });
        let seconds = pending.start.elapsed().as_secs_f64();
        spectra
            .into_iter()
            .map(|r| {
                let mut r = r?;
                r.submissions = submissions;
                r.readbacks = 1;
                r.seconds = seconds;
                Ok(r)
            })
            .collect()
    }

    /// Every eigenvalue of one symmetric matrix `[n, n]` on the device: one
    /// submission, one readback.
    pub fn spectrum(&self, gpu: &Gpu, matrix: &Tensor<T>, k: usize) -> Result<SpectrumResult> {
        let start = Instant::now();
        let mut batch = Batch::new(gpu);
        let pending = self.record(&mut batch, matrix)?;
        batch.submit()?;
        let mut r = self.finish(gpu, pending, k, 1)?.remove(0);
        r.seconds = start.elapsed().as_secs_f64();
        Ok(r)
    }
}

/// The bound c·(n + n₀)·(u + u₆₄)·‖A‖₂ for a matrix of order n and 2-norm `norm`
/// reduced on a device of unit roundoff `u`, the rest done on the host in f64 (see the
/// module docs).
pub fn dense_bound(u: f64, n: usize, norm: f64) -> f64 {
    let order = (n + BACKWARD_ERROR_ORDER_FLOOR) as f64;
    BACKWARD_ERROR_CONSTANT * order * (u + <f64 as Real>::UNIT_ROUNDOFF) * norm
}

fn spectrum_of_tridiagonal<T: Real>(d: &[f64], e: &[f64], k: usize) -> Result<SpectrumResult> {
    let n = d.len();
    if d.iter().chain(e).any(|x| !x.is_finite()) {
        bail!(
            "the dense eigensolver's reduction of a {n} x {n} {} matrix produced NaN or Inf: \
             the matrix has non-finite entries (or entries beyond ~1e19 in f32); check it, \
             or use f64",
            T::NAME
        );
    }
    let values = tridiag_eigenvalues(d, e)?;
    let norm = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let bound = dense_bound(T::UNIT_ROUNDOFF, n, norm);
    let estimate = |value: f64| EigenEstimate {
        value,
        residual: 0.0,
        bound,
        converged: true,
    };
    let k = k.clamp(1, n);
    Ok(SpectrumResult {
        order: n,
        smallest: values[..k].iter().map(|&v| estimate(v)).collect(),
        largest: values.iter().rev().take(k).map(|&v| estimate(v)).collect(),
        iterations: n,
        restarts: 0,
        converged: true,
        full_spectrum: Some(values),
        precision: T::PRECISION,
        method: "dense",
        submissions: 1,
        readbacks: 1,
        seconds: 0.0,
        notes: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_error_names;

    #[test]
    fn reduction_choice_defaults_by_adapter_and_names_bad_values() {
        for is_cpu in [false, true] {
            assert_eq!(two_stage_wanted(None, is_cpu).unwrap(), is_cpu);
            assert_eq!(two_stage_wanted(Some("auto"), is_cpu).unwrap(), is_cpu);
            assert!(two_stage_wanted(Some("two-stage"), is_cpu).unwrap());
            assert!(!two_stage_wanted(Some("one-stage"), is_cpu).unwrap());
        }
        assert_error_names(
            two_stage_wanted(Some("two"), true),
            &["WIDEPROBE_DENSE_REDUCTION=two", "one-stage"],
        );
    }
}
