//! BLAS-1/2 vector operations for the Krylov solvers (shaders/vector.wgsl, and
//! shaders/vector_f64.wgsl for f64), in either precision through [`VectorElement`].
//!
//! Copies of whole vectors and of matrix rows are buffer copies, not kernels.

use std::marker::PhantomData;
use std::sync::Arc;

use anyhow::{bail, Result};

use super::shaders;
use crate::gpu::{grid_1d, groups_for, Batch, Element, Gpu, GpuError, Kernel, Shader, Tensor};

const WG: u32 = 256;
/// Workgroups of the first stage of a dot product (and the length of its scratch).
const DOT_GROUPS: usize = 1024;

/// Element types with a vector shader.
pub trait VectorElement: Element + Copy {
    const SHADER: &'static Shader;
    type Params: bytemuck::Pod;
    fn params(n: usize, rows: usize, alpha: f64, beta: f64) -> Self::Params;
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ParamsF32 {
    n: u32,
    rows: u32,
    _pad0: [u32; 2],
    alpha: f32,
    beta: f32,
    _pad1: [u32; 2],
}

/// f64 fields sit at offsets that are multiples of 8, as WGSL's uniform layout wants.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ParamsF64 {
    n: u32,
    rows: u32,
    _pad0: [u32; 2],
    alpha: f64,
    beta: f64,
}

impl VectorElement for f32 {
    const SHADER: &'static Shader = &shaders::VECTOR;
    type Params = ParamsF32;
    fn params(n: usize, rows: usize, alpha: f64, beta: f64) -> ParamsF32 {
        ParamsF32 {
            n: n as u32,
            rows: rows as u32,
            _pad0: [0; 2],
            alpha: alpha as f32,
            beta: beta as f32,
            _pad1: [0; 2],
        }
    }
}

impl VectorElement for f64 {
    const SHADER: &'static Shader = &shaders::VECTOR_F64;
    type Params = ParamsF64;
    fn params(n: usize, rows: usize, alpha: f64, beta: f64) -> ParamsF64 {
        ParamsF64 {
            n: n as u32,
            rows: rows as u32,
            _pad0: [0; 2],
            alpha,
            beta,
        }
    }
}

pub struct VectorOps<T: VectorElement> {
    axpy: Arc<Kernel>,
    scale: Arc<Kernel>,
    dot_partial: Arc<Kernel>,
    dot_final: Arc<Kernel>,
    gemv_n: Arc<Kernel>,
    gemv_t: Arc<Kernel>,
    partials: Tensor<T>,
    _element: PhantomData<T>,
}

fn vector_len<T: Element>(what: &str, t: &Tensor<T>) -> Result<usize> {
    match t.shape() {
        [n] => Ok(*n),
        s => bail!(GpuError::Shape(format!(
            "{what} must be a vector, but has shape {s:?}"
        ))),
    }
}

fn same_len<T: Element>(op: &str, x: &Tensor<T>, y: &Tensor<T>) -> Result<usize> {
    let (n, m) = (vector_len("x", x)?, vector_len("y", y)?);
    if n != m {
        bail!(GpuError::Shape(format!(
            "{op}: x {:?} and y {:?} differ in length",
            x.shape(),
            y.shape()
        )));
    }
    Ok(n)
}

fn one_element<T: Element>(op: &str, out: &Tensor<T>) -> Result<()> {
    if out.len() != 1 {
        bail!(GpuError::Shape(format!(
            "{op}: out must hold one element, has shape {:?}",
            out.shape()
        )));
    }
    Ok(())
}

impl<T: VectorElement> VectorOps<T> {
    pub fn new(gpu: &Gpu) -> Result<Self> {
        let k = |entry: &str| gpu.kernel(T::SHADER, entry, &[]);
        Ok(VectorOps {
            axpy: k("axpy")?,
            scale: k("scale")?,
            dot_partial: k("dot_partial")?,
            dot_final: k("dot_final")?,
            gemv_n: k("gemv_n")?,
            gemv_t: k("gemv_t")?,
            partials: Tensor::zeros(gpu, &[DOT_GROUPS])?,
            _element: PhantomData,
        })
    }

    fn elementwise(&self, batch: &mut Batch, n: usize) -> Result<[u32; 3]> {
        grid_1d(batch.gpu(), groups_for(n, WG))
    }

    /// y += alpha x
    pub fn axpy(&self, batch: &mut Batch, alpha: f64, x: &Tensor<T>, y: &Tensor<T>) -> Result<()> {
        let n = same_len("axpy", x, y)?;
        let groups = self.elementwise(batch, n)?;
        batch.dispatch(
            &self.axpy,
            &[x.buffer(), y.buffer()],
            Some(&T::params(n, 0, alpha, 0.0)),
            groups,
        )
    }

    /// x *= alpha, in place.
    pub fn scale(&self, batch: &mut Batch, alpha: f64, x: &Tensor<T>) -> Result<()> {
        let n = vector_len("x", x)?;
        let groups = self.elementwise(batch, n)?;
        batch.dispatch(
            &self.scale,
            &[x.buffer()],
            Some(&T::params(n, 0, alpha, 0.0)),
            groups,
        )
    }

    /// y = x (a buffer copy).
    pub fn copy(&self, batch: &mut Batch, x: &Tensor<T>, y: &Tensor<T>) -> Result<()> {
        same_len("copy", x, y)?;
        batch.copy(x.buffer(), y.buffer(), x.bytes());
        Ok(())
    }

    fn reduce(
        &self,
        batch: &mut Batch,
        x: &Tensor<T>,
        y: &Tensor<T>,
        out: &Tensor<T>,
        sqrt: bool,
    ) -> Result<()> {
        let n = x.len();
        // Enough workgroups to fill a large GPU, each striding over its share.
        let groups = (n.div_ceil(WG as usize)).clamp(1, DOT_GROUPS);
        let p = T::params(n, groups, 0.0, 0.0);
        batch.dispatch(
            &self.dot_partial,
            &[x.buffer(), y.buffer(), self.partials.buffer()],
            Some(&p),
            [groups as u32, 1, 1],
        )?;
        let p = T::params(n, groups, 0.0, if sqrt { 1.0 } else { 0.0 });
        batch.dispatch(
            &self.dot_final,
            &[self.partials.buffer(), out.buffer()],
            Some(&p),
            [1, 1, 1],
        )
    }

    /// out[0] = x · y
    pub fn dot(
        &self,
        batch: &mut Batch,
        x: &Tensor<T>,
        y: &Tensor<T>,
        out: &Tensor<T>,
    ) -> Result<()> {
        same_len("dot", x, y)?;
        one_element("dot", out)?;
        self.reduce(batch, x, y, out, false)
    }

    /// out[0] = ‖x‖
    pub fn nrm2(&self, batch: &mut Batch, x: &Tensor<T>, out: &Tensor<T>) -> Result<()> {
        vector_len("x", x)?;
        one_element("nrm2", out)?;
        self.reduce(batch, x, x, out, true)
    }

    /// With `trans == false`: y[r] = alpha (A x)[r] + beta y[r] for r < rows.
    /// With `trans == true`: y = alpha A[0..rows]ᵀ x[0..rows] + beta y.
    /// A is [m, n] row-major and only its first `rows` rows are used.
    #[allow(clippy::too_many_arguments)]
    pub fn gemv(
        &self,
        batch: &mut Batch,
        trans: bool,
        rows: usize,
        alpha: f64,
        a: &Tensor<T>,
        x: &Tensor<T>,
        beta: f64,
        y: &Tensor<T>,
    ) -> Result<()> {
        let (m, n) = a.dims2("gemv: A")?;
        let (xn, yn) = (vector_len("gemv: x", x)?, vector_len("gemv: y", y)?);
        let (need_x, need_y) = if trans { (rows, n) } else { (n, rows) };
        if rows > m || xn < need_x || yn < need_y || (trans && yn != n) || (!trans && xn != n) {
            bail!(GpuError::Shape(format!(
                "gemv{}: A {:?} with {rows} rows used needs x of length {} and y of length {}, got {:?} and {:?}",
                if trans { " (transposed)" } else { "" },
                a.shape(),
                if trans { format!(">= {rows}") } else { n.to_string() },
                if trans { n.to_string() } else { format!(">= {rows}") },
                x.shape(),
                y.shape()
            )));
        }
        let p = T::params(n, rows, alpha, beta);
        let buffers = [a.buffer(), x.buffer(), y.buffer()];
        if trans {
            let groups = grid_1d(batch.gpu(), groups_for(n, WG))?;
            batch.dispatch(&self.gemv_t, &buffers, Some(&p), groups)
        } else {
            let groups = grid_1d(batch.gpu(), rows as u64)?;
            batch.dispatch(&self.gemv_n, &buffers, Some(&p), groups)
        }
    }

    fn check_row(op: &str, a: &Tensor<T>, row: usize, x: &Tensor<T>) -> Result<u64> {
        let (m, n) = a.dims2(op)?;
        if row >= m || vector_len("x", x)? != n {
            bail!(GpuError::Shape(format!(
                "{op}: row {row} of A {:?} and x {:?} do not fit",
                a.shape(),
                x.shape()
            )));
        }
        Ok((row * n * std::mem::size_of::<T>()) as u64)
    }

    /// A[row, :] = x (a buffer copy).
    pub fn set_row(
        &self,
        batch: &mut Batch,
        a: &Tensor<T>,
        row: usize,
        x: &Tensor<T>,
    ) -> Result<()> {
        let offset = Self::check_row("set_row", a, row, x)?;
        batch.copy_region(x.buffer(), 0, a.buffer(), offset, x.bytes());
        Ok(())
    }

    /// x = A[row, :] (a buffer copy).
    pub fn get_row(
        &self,
        batch: &mut Batch,
        a: &Tensor<T>,
        row: usize,
        x: &Tensor<T>,
    ) -> Result<()> {
        let offset = Self::check_row("get_row", a, row, x)?;
        batch.copy_region(a.buffer(), offset, x.buffer(), 0, x.bytes());
        Ok(())
    }
}
