//! Per-row statistics of square matrices (shaders/symstats.wgsl):
//! the Gershgorin proxies of MEASUREMENTS.md §3 and ‖A - B‖_F for the Eq. 13 bound.
//! The GPU reduces each row; the host combines the n row results.

use std::marker::PhantomData;
use std::sync::Arc;

use anyhow::{bail, Result};

use super::launch::{kernels, launch, Grid, Words};
use super::real::{check_u32_index, Real};
use super::shaders::SYMSTATS;
use crate::gpu::{Batch, Element, Gpu, GpuError, Kernel, Tensor};

/// Gershgorin proxies of a (normalised) Gram matrix Ĝ, named as in the output files.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct GershgorinProxies {
    /// min_i Ĝ_ii
    pub min_diag: f64,
    /// max_i Σ_{j≠i} |Ĝ_ij|
    pub max_offdiag_rowsum: f64,
    /// max_{i≠j} |Ĝ_ij|
    pub max_abs_offdiag: f64,
    /// min_i (Ĝ_ii - R_i): every eigenvalue is at least this.
    pub gershgorin_lower: f64,
    /// max_i (Ĝ_ii + R_i): every eigenvalue is at most this.
    pub gershgorin_upper: f64,
}

pub struct SymStats<T: Real> {
    row_stats: Arc<Kernel>,
    row_diff_sq: Arc<Kernel>,
    _element: PhantomData<T>,
}

fn square<T: Element>(what: &str, a: &Tensor<T>) -> Result<usize> {
    match a.shape() {
        [r, c] if r == c => {
            // Row i's stats sit at 4 i + 3; its elements at i n + j.
            check_u32_index(what, (*r as u128) * (*r as u128).max(4))?;
            Ok(*r)
        }
        s => bail!(GpuError::Shape(format!(
            "{what} must be a square matrix, but has shape {s:?}"
        ))),
    }
}

impl<T: Real> SymStats<T> {
    pub fn new(gpu: &Gpu) -> Result<Self> {
        let shader = T::of(&SYMSTATS);
        let [row_stats, row_diff_sq] = kernels(gpu, shader, ["row_stats", "row_diff_sq"])?;
        Ok(SymStats {
            row_stats,
            row_diff_sq,
            _element: PhantomData,
        })
    }

    /// stats[i] = (A_ii, Σ_{j≠i} |A_ij|, max_{j≠i} |A_ij|, 0), stats of shape [n, 4].
    pub fn record_row_stats(
        &self, batch: &mut Batch, a: &Tensor<T>, stats: &Tensor<T>,
    ) -> Result<()> {
        let n = square("the matrix", a)?;
        if stats.shape() != [n, 4] {
            bail!(GpuError::Shape(format!(
                "row stats of a {n} x {n} matrix need shape [{n}, 4], got {:?}",
                stats.shape()
            )));
        }
        // One workgroup per row; the params are n.
        let buffers = [a.buffer(), stats.buffer()];
        let params = Words::new([n]);
        launch(batch, &self.row_stats, &buffers, &params, Grid::Groups(n))
    }

    /// out[i] = Σ_j (A_ij - B_ij)².
    pub fn record_row_diff_sq(
        &self, batch: &mut Batch, a: &Tensor<T>, b: &Tensor<T>, out: &Tensor<T>,
    ) -> Result<()> {
        let n = square("A", a)?;
        if b.shape() != a.shape() || out.shape() != [n] {
            bail!(GpuError::Shape(format!(
                "row_diff_sq: A {:?}, B {:?} and out {:?} must be [n, n], [n, n], [n]",
                a.shape(),
                b.shape(),
                out.shape()
            )));
        }
        let buffers = [a.buffer(), b.buffer(), out.buffer()];
        let params = Words::new([n]);
        launch(batch, &self.row_diff_sq, &buffers, &params, Grid::Groups(n))
    }

    /// The Gershgorin proxies of A in one GPU pass.
    pub fn gershgorin(&self, gpu: &Gpu, a: &Tensor<T>) -> Result<GershgorinProxies> {
        let n = square("the matrix", a)?;
        if n == 0 {
            bail!("Gershgorin proxies of an empty matrix are undefined");
        }
        let stats = Tensor::<T>::zeros(gpu, &[n, 4])?;
        let mut batch = Batch::new(gpu);
        self.record_row_stats(&mut batch, a, &stats)?;
        batch.submit()?;
        let s: Vec<f64> = stats.to_vec(gpu)?.into_iter().map(Into::into).collect();
        Ok(proxies_from_row_stats(&s))
    }

    /// ‖A - B‖_F.
    pub fn frobenius_distance(&self, gpu: &Gpu, a: &Tensor<T>, b: &Tensor<T>) -> Result<f64> {
        let n = square("A", a)?;
        let out = Tensor::<T>::zeros(gpu, &[n])?;
        let mut batch = Batch::new(gpu);
        self.record_row_diff_sq(&mut batch, a, b, &out)?;
        batch.submit()?;
        Ok(out
            .to_vec(gpu)?
            .into_iter()
            .map(Into::<f64>::into)
            .sum::<f64>()
            .sqrt())
    }
}

/// Combines per-row (diag, off-diagonal abs sum, off-diagonal abs max, _) rows.
pub fn proxies_from_row_stats(stats: &[f64]) -> GershgorinProxies {
    let mut p = GershgorinProxies {
        min_diag: f64::INFINITY,
        max_offdiag_rowsum: 0.0,
        max_abs_offdiag: 0.0,
        gershgorin_lower: f64::INFINITY,
        gershgorin_upper: f64::NEG_INFINITY,
    };
    for row in stats.chunks_exact(4) {
        let (diag, sum, max) = (row[0], row[1], row[2]);
        p.min_diag = p.min_diag.min(diag);
        p.max_offdiag_rowsum = p.max_offdiag_rowsum.max(sum);
        p.max_abs_offdiag = p.max_abs_offdiag.max(max);
        p.gershgorin_lower = p.gershgorin_lower.min(diag - sum);
        p.gershgorin_upper = p.gershgorin_upper.max(diag + sum);
    }
    p
}
