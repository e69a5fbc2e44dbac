//! Symmetric operators: anything that maps a GPU vector to its product. A dense
//! matrix is one; the NTK will be another, applied matrix-free (one VJP and one JVP).

use std::sync::Arc;

use anyhow::{bail, Result};

use super::Real;
use crate::gpu::{Batch, Gpu, Tensor};
use crate::ops::vector::VectorOps;

/// A symmetric linear operator of order `order()` on device vectors of `T`.
pub trait SymmetricOperator<T: Real> {
    fn order(&self) -> usize;
    /// Records `y = A x` (x and y are distinct vectors of length `order()`).
    fn apply(&self, batch: &mut Batch, x: &Tensor<T>, y: &Tensor<T>) -> Result<()>;
    /// What the operator is, for reports.
    fn describe(&self) -> String;
}

/// The order of `op`, which `solver` needs to be at least 1.
pub(crate) fn solver_order<T: Real>(solver: &str, op: &dyn SymmetricOperator<T>) -> Result<usize> {
    match op.order() {
        0 => bail!("{solver} needs an operator of order at least 1"),
        n => Ok(n),
    }
}

/// A dense symmetric matrix stored on the GPU, row-major `[n, n]`.
pub struct DenseMatrix<T: Real> {
    matrix: Tensor<T>,
    ops: Arc<VectorOps<T>>,
}

impl<T: Real> DenseMatrix<T> {
    pub fn new(gpu: &Gpu, matrix: Tensor<T>) -> Result<Self> {
        Self::with_ops(matrix, Arc::new(VectorOps::new(gpu)?))
    }

    pub fn with_ops(matrix: Tensor<T>, ops: Arc<VectorOps<T>>) -> Result<Self> {
        let (r, c) = matrix.dims2("a symmetric operator's matrix")?;
        if r != c {
            bail!("a symmetric operator needs a square matrix, got {r} x {c}");
        }
        Ok(DenseMatrix { matrix, ops })
    }

    /// Uploads a host matrix given in f64 (converted to `T`).
    pub fn from_host(gpu: &Gpu, n: usize, data: &[f64]) -> Result<Self> {
        let converted: Vec<T> = data.iter().map(|&x| T::from_f64(x)).collect();
        Self::new(gpu, Tensor::from_slice(gpu, &[n, n], &converted)?)
    }

    pub fn matrix(&self) -> &Tensor<T> {
        &self.matrix
    }

    pub fn into_matrix(self) -> Tensor<T> {
        self.matrix
    }
}

impl<T: Real> SymmetricOperator<T> for DenseMatrix<T> {
    fn order(&self) -> usize {
        self.matrix.shape()[0]
    }

    fn apply(&self, batch: &mut Batch, x: &Tensor<T>, y: &Tensor<T>) -> Result<()> {
        let n = self.order();
        self.ops.gemv(batch, false, n, 1.0, &self.matrix, x, 0.0, y)
    }

    fn describe(&self) -> String {
        format!("dense {} x {} {}", self.order(), self.order(), T::NAME)
    }
}
