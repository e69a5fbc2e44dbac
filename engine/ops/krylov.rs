//! Vector updates by a device scalar (shaders/krylov.wgsl): what lets a Krylov solver
//! record a block of steps into one submission. A reduction ([`super::vector::VectorOps`])
//! writes a norm or a Rayleigh quotient into a device buffer; these kernels divide or
//! scale by it without the host seeing it.
//!
//! [`SpectralElement`] picks the f32 or f64 instantiation of the spectral shader
//! families (krylov, tridiagonalize) from the tensors' element type.

use std::sync::Arc;

use anyhow::{bail, Result};

use super::launch::{kernels, launch, Grid, Words};
use super::shaders;
use crate::gpu::{Batch, Element, Gpu, GpuError, Kernel, Shader, Tensor};

/// An element type the spectral shader families exist for: f32 and f64.
pub trait SpectralElement: Element {
    /// shaders/krylov.wgsl in this precision.
    const KRYLOV: &'static Shader;
    /// shaders/tridiagonalize.wgsl in this precision.
    const TRIDIAGONALIZE: &'static Shader;
}

impl SpectralElement for f32 {
    const KRYLOV: &'static Shader = &shaders::KRYLOV_F32;
    const TRIDIAGONALIZE: &'static Shader = &shaders::TRIDIAGONALIZE_F32;
}

impl SpectralElement for f64 {
    const KRYLOV: &'static Shader = &shaders::KRYLOV_F64;
    const TRIDIAGONALIZE: &'static Shader = &shaders::TRIDIAGONALIZE_F64;
}

/// The krylov kernels of one precision, built once.
pub struct KrylovOps<T: SpectralElement> {
    normalize: Arc<Kernel>,
    div_scalar: Arc<Kernel>,
    axpy_scalar: Arc<Kernel>,
    _element: std::marker::PhantomData<T>,
}

impl<T: SpectralElement> KrylovOps<T> {
    /// Builds the kernels; for f64 fails naming SHADER_F64 when the adapter lacks it.
    pub fn new(gpu: &Gpu) -> Result<Self> {
        let [normalize, div_scalar, axpy_scalar] = kernels(
            gpu,
            T::KRYLOV,
            [
                "krylov_normalize",
                "krylov_div_scalar",
                "krylov_axpy_scalar",
            ],
        )?;
        Ok(KrylovOps {
            normalize,
            div_scalar,
            axpy_scalar,
            _element: std::marker::PhantomData,
        })
    }

    /// `q = w / s[index]` and `basis[row, :] = q`: the Lanczos normalisation by the β
    /// that a reduction left in `s`, with the new vector stored in the basis.
    #[allow(clippy::too_many_arguments)]
    pub fn normalize(
        &self, batch: &mut Batch, w: &Tensor<T>, s: &Tensor<T>, index: usize, q: &Tensor<T>,
        basis: &Tensor<T>, row: usize,
    ) -> Result<()> {
        let what = "krylov normalize";
        let n = check_vectors(what, w, q)?;
        check_scalar(what, s, index)?;
        let (rows, cols) = basis.dims2(&format!("{what}: basis"))?;
        if cols != n || row >= rows {
            bail!(GpuError::Shape(format!(
                "{what}: basis of shape {:?} has no row {row} of {n} elements",
                basis.shape()
            )));
        }
        // Params: n, index, row, negate.
        let params = Words::new([n, index, row, 0]);
        let buffers = [w.buffer(), s.buffer(), q.buffer(), basis.buffer()];
        launch(batch, &self.normalize, &buffers, &params, Grid::Elements(n))
    }

    /// `y = x / s[index]`.
    pub fn div_scalar(
        &self, batch: &mut Batch, x: &Tensor<T>, s: &Tensor<T>, index: usize, y: &Tensor<T>,
    ) -> Result<()> {
        let what = "krylov div_scalar";
        self.elementwise(batch, &self.div_scalar, what, (x, s, index), false, y)
    }

    /// `y += s[index] * x`, or `y -= s[index] * x` when `negate`.
    #[allow(clippy::too_many_arguments)]
    pub fn axpy_scalar(
        &self, batch: &mut Batch, x: &Tensor<T>, s: &Tensor<T>, index: usize, negate: bool,
        y: &Tensor<T>,
    ) -> Result<()> {
        let what = "krylov axpy_scalar";
        self.elementwise(batch, &self.axpy_scalar, what, (x, s, index), negate, y)
    }

    fn elementwise(
        &self, batch: &mut Batch, kernel: &Kernel, what: &str,
        (x, s, index): (&Tensor<T>, &Tensor<T>, usize), negate: bool, y: &Tensor<T>,
    ) -> Result<()> {
        let n = check_vectors(what, x, y)?;
        check_scalar(what, s, index)?;
        let params = Words::new([n, index, 0, negate as usize]);
        let buffers = [x.buffer(), s.buffer(), y.buffer()];
        launch(batch, kernel, &buffers, &params, Grid::Elements(n))
    }
}

/// Input and output: same length, distinct buffers (wgpu cannot bind one buffer as both).
fn check_vectors<T: Element>(what: &str, x: &Tensor<T>, y: &Tensor<T>) -> Result<usize> {
    if x.len() != y.len() {
        bail!(GpuError::Shape(format!(
            "{what}: input of shape {:?} and output of shape {:?} must have the same length",
            x.shape(),
            y.shape()
        )));
    }
    if std::ptr::eq(x.buffer(), y.buffer()) {
        bail!("{what}: input and output are the same tensor; pass distinct tensors");
    }
    if x.len() > u32::MAX as usize {
        bail!("{what}: {} elements exceed 32-bit indexing", x.len());
    }
    Ok(x.len())
}

fn check_scalar<T: Element>(what: &str, s: &Tensor<T>, index: usize) -> Result<()> {
    if index >= s.len() {
        bail!(GpuError::Shape(format!(
            "{what}: scalar index {index} is out of range for a scalar buffer of shape {:?}",
            s.shape()
        )));
    }
    Ok(())
}
