//! BLAS-like vector and matrix-vector operations in f32 or f64, the building blocks of
//! the GPU Krylov solvers (shaders/vector.wgsl).
//!
//! One host API serves both precisions: [`VectorOps<f32>`] runs the f32 instantiation of
//! shaders/vector.wgsl on any adapter, [`VectorOps<f64>`] the f64 one, which needs
//! `SHADER_F64`; [`Real`] picks the shader and lays out the scalars. Scalars (alpha,
//! beta) are passed as f64 and rounded to the element type.
//!
//! Vectors are tensors of any shape, used as flat arrays of `len()` elements. Matrices
//! are 2-D `[m, n]` row-major; Lanczos keeps its basis as the rows of one `[m_max, n]`
//! matrix and uses [`VectorOps::gemv`] on its first `rows` rows for reorthogonalisation
//! (`h = V[0..j] w`, then `w -= V[0..j]^T h`).
//!
//! [`VectorOps::normalize`], [`VectorOps::div_scalar`] and [`VectorOps::axpy_scalar`]
//! take their scalar from a device buffer that a dot product or nrm2 wrote, without the
//! host seeing it: what lets a solver record a block of steps into one submission.
//!
//! Every method records into a [`Batch`]; results are there after `batch.submit()`.
//! Inputs and outputs must be distinct tensors (wgpu cannot bind one buffer as both),
//! except [`VectorOps::dot`]`(x, x)`, where both are read-only.

use std::sync::Arc;

use anyhow::{bail, Result};

use super::launch::{kernels, launch, Grid};
use super::real::{self, distinct, matrix_dims, Named, Real, RealPair};
use super::shaders::VECTOR;
use super::vector_split::REDUCTION_WG;
pub use super::vector_split::{
    dot_partials, GemvSplit, CPU_SEQUENTIAL, GEMV_ROWS_PER_GROUP, GEMV_ROW_LANES, GEMV_VARIABLE,
    MAX_PARTIALS,
};
use crate::gpu::{Batch, Gpu, GpuError, Kernel, Tensor};

/// The sizes at the head of the vector shaders' params, shared by both precisions.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct VectorSizes {
    /// Vector length; columns of A.
    pub n: u32,
    /// Rows of A used by gemv.
    pub rows: u32,
    /// The row set_row / get_row address.
    pub row: u32,
    /// Partial sums the second stage of a dot product adds up.
    pub count: u32,
    /// 1: the second stage writes the square root of the sum (nrm2).
    pub take_sqrt: u32,
    /// The device scalar the `*_scalar` kernels and normalize read.
    pub index: u32,
    /// 1: axpy_scalar subtracts.
    pub negate: u32,
    pub _pad: u32,
}

/// Params of shaders/vector.wgsl: the sizes (32 bytes, so the scalars land on offset 32,
/// a multiple of 8 as f64 needs), then alpha and beta in the precision's layout; 48 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct VectorParams {
    sizes: VectorSizes,
    alpha_beta: RealPair,
}

// The WGSL struct is laid out by hand; these pin the Rust side to it.
const _: () = {
    assert!(std::mem::size_of::<VectorSizes>() == 32);
    assert!(std::mem::size_of::<VectorParams>() == 48);
    assert!(std::mem::offset_of!(VectorParams, alpha_beta) == 32);
};

fn params<T: Real>(sizes: VectorSizes, alpha: f64, beta: f64) -> VectorParams {
    VectorParams {
        sizes,
        alpha_beta: T::pair(alpha, beta),
    }
}

/// The vector kernels of one precision, built once, and the scratch tensor for the
/// partial sums of dot products.
pub struct VectorOps<T: Real> {
    axpy: Arc<Kernel>,
    scale: Arc<Kernel>,
    copy: Arc<Kernel>,
    dot_partials: Arc<Kernel>,
    sum_sq_partials: Arc<Kernel>,
    finish: Arc<Kernel>,
    /// `vector_gemv_n` or `vector_gemv_rows`, as [`GemvSplit`] chose.
    gemv_n: Arc<Kernel>,
    gemv_split: GemvSplit,
    gemv_t: Arc<Kernel>,
    set_row: Arc<Kernel>,
    get_row: Arc<Kernel>,
    normalize: Arc<Kernel>,
    div_scalar: Arc<Kernel>,
    axpy_scalar: Arc<Kernel>,
    /// The host's threads on a CPU adapter, which set [`dot_partials`]; `None` on GPUs.
    cpu_threads: Option<usize>,
    /// `MAX_PARTIALS` partial sums. Shared by every dot product this object records:
    /// launches run in recording and submission order, so a second dot product's first
    /// stage cannot overwrite partials before the first one's second stage has read them.
    scratch: Tensor<T>,
}

impl<T: Real> VectorOps<T> {
    /// Builds the kernels. For f64, fails with an error naming `SHADER_F64` and the
    /// adapter when the adapter lacks it (callers then fall back to f32).
    pub fn new(gpu: &Gpu) -> Result<Self> {
        Self::with_gemv_split(gpu, GemvSplit::for_device(gpu)?)
    }

    /// [`VectorOps::new`] with the split of `gemv` chosen by the caller (tests and
    /// benches compare the two).
    pub fn with_gemv_split(gpu: &Gpu, gemv_split: GemvSplit) -> Result<Self> {
        let shader = T::of(&VECTOR);
        let gemv_n = match gemv_split {
            GemvSplit::WorkgroupPerRow => gpu.kernel(shader, "vector_gemv_n", &[])?,
            // The host lays out GEMV_ROWS_PER_GROUP rows per workgroup: the lanes it
            // sets here, and the workgroup size checked below, fix the shader's.
            GemvSplit::RowsPerWorkgroup => gpu.kernel(
                shader,
                "vector_gemv_rows",
                &[("ROW_LANES", GEMV_ROW_LANES as f64)],
            )?,
        };
        if gemv_n.workgroup_size[0] as usize != REDUCTION_WG {
            bail!(
                "{} has {} invocations per workgroup; the host lays out its rows for {}",
                gemv_n.label,
                gemv_n.workgroup_size[0],
                REDUCTION_WG
            );
        }
        let [axpy, scale, copy, dot_partials, sum_sq_partials, finish, gemv_t, set_row, get_row, normalize, div_scalar, axpy_scalar] =
            kernels(
                gpu,
                shader,
                [
                    "vector_axpy",
                    "vector_scale",
                    "vector_copy",
                    "vector_dot_partials",
                    "vector_sum_sq_partials",
                    "vector_finish",
                    "vector_gemv_t",
                    "vector_set_row",
                    "vector_get_row",
                    "vector_normalize",
                    "vector_div_scalar",
                    "vector_axpy_scalar",
                ],
            )?;
        Ok(VectorOps {
            axpy,
            scale,
            copy,
            dot_partials,
            sum_sq_partials,
            finish,
            gemv_n,
            gemv_split,
            gemv_t,
            set_row,
            get_row,
            normalize,
            div_scalar,
            axpy_scalar,
            cpu_threads: gpu.summary.is_cpu().then(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
            }),
            scratch: Tensor::zeros(gpu, &[MAX_PARTIALS])?,
        })
    }

    /// `y += alpha * x`.
    pub fn axpy(&self, batch: &mut Batch, alpha: f64, x: &Tensor<T>, y: &Tensor<T>) -> Result<()> {
        let what = "vector axpy";
        let n = same_len(what, ("x", x), ("y", y))?;
        distinct(what, ("x", x), ("y", y))?;
        self.elementwise(batch, &self.axpy, &[x.buffer(), y.buffer()], n, alpha)
    }

    /// `x *= alpha`, in place. (alpha = 0 turns NaN into NaN, as in IEEE arithmetic.)
    pub fn scale(&self, batch: &mut Batch, alpha: f64, x: &Tensor<T>) -> Result<()> {
        let n = vector_len("vector scale", ("x", x))?;
        self.elementwise(batch, &self.scale, &[x.buffer()], n, alpha)
    }

    /// `y = x`. Copying a tensor onto itself records nothing.
    pub fn copy(&self, batch: &mut Batch, x: &Tensor<T>, y: &Tensor<T>) -> Result<()> {
        let n = same_len("vector copy", ("x", x), ("y", y))?;
        if std::ptr::eq(x, y) {
            return Ok(());
        }
        self.elementwise(batch, &self.copy, &[x.buffer(), y.buffer()], n, 0.0)
    }

    /// `out[0] = x . y`; out holds one element. Two launches: per-workgroup partial sums
    /// into the scratch tensor, then one workgroup adds them up.
    pub fn dot(
        &self, batch: &mut Batch, x: &Tensor<T>, y: &Tensor<T>, out: &Tensor<T>,
    ) -> Result<()> {
        let what = "vector dot";
        let n = same_len(what, ("x", x), ("y", y))?;
        scalar_out(what, out)?;
        distinct(what, ("x", x), ("out", out))?;
        distinct(what, ("y", y), ("out", out))?;
        self.two_stage(
            batch,
            &self.dot_partials,
            &[x.buffer(), y.buffer()],
            n,
            false,
            out,
        )
    }

    /// `out[0] = ||x||_2`; out holds one element. Squares are summed without rescaling,
    /// so entries beyond ~1e19 (f32) or ~1e154 (f64) overflow to an infinite norm.
    pub fn nrm2(&self, batch: &mut Batch, x: &Tensor<T>, out: &Tensor<T>) -> Result<()> {
        let what = "vector nrm2";
        let n = vector_len(what, ("x", x))?;
        scalar_out(what, out)?;
        distinct(what, ("x", x), ("out", out))?;
        self.two_stage(batch, &self.sum_sq_partials, &[x.buffer()], n, true, out)
    }

    /// Matrix-vector product with the first `rows` rows of A `[m, n]`:
    /// - `trans = false`: `y[0..rows] = alpha * A[0..rows, :] x + beta * y[0..rows]`;
    ///   x has n elements, y at least `rows` (the rest of y is left alone).
    /// - `trans = true`: `y = alpha * A[0..rows, :]^T x[0..rows] + beta * y`;
    ///   x has at least `rows` elements (the rest is ignored), y has n.
    ///
    /// With `beta == 0`, y is only written (NaN in y does not leak). The lengths allow
    /// Lanczos to use fixed `[m_max]` buffers for `h` while its basis grows.
    /// `trans = false` splits the rows as [`GemvSplit`] says (coalesced reads along each
    /// row either way); `trans = true` runs one invocation per column, looping over the
    /// rows.
    #[allow(clippy::too_many_arguments)]
    pub fn gemv(
        &self, batch: &mut Batch, trans: bool, rows: usize, alpha: f64, a: &Tensor<T>,
        x: &Tensor<T>, beta: f64, y: &Tensor<T>,
    ) -> Result<()> {
        let what = if trans {
            "vector gemv (trans)"
        } else {
            "vector gemv"
        };
        let (m, n) = matrix_dims(what, a)?;
        if rows > m {
            bail!(GpuError::Shape(format!(
                "{what}: rows = {rows} but A has shape {:?}, only {m} rows",
                a.shape()
            )));
        }
        let (x_min, y_min, x_exact, y_exact) = if trans {
            (rows, n, false, true)
        } else {
            (n, rows, true, false)
        };
        let fits = |t: &Tensor<T>, len: usize, exact: bool| {
            if exact {
                t.len() == len
            } else {
                t.len() >= len
            }
        };
        if !fits(x, x_min, x_exact) || !fits(y, y_min, y_exact) {
            let need = |len: usize, exact: bool| {
                if exact {
                    format!("{len} elements")
                } else {
                    format!("at least {len} elements")
                }
            };
            bail!(GpuError::Shape(format!(
                "{what} with rows = {rows}: A has shape {:?}, so x needs {} and y {}, \
                 but x has shape {:?} and y has shape {:?}",
                a.shape(),
                need(x_min, x_exact),
                need(y_min, y_exact),
                x.shape(),
                y.shape()
            )));
        }
        distinct(what, ("A", a), ("y", y))?;
        distinct(what, ("x", x), ("y", y))?;
        let sizes = VectorSizes {
            n: n as u32,
            rows: rows as u32,
            ..Default::default()
        };
        let params = params::<T>(sizes, alpha, beta);
        let buffers = [x.buffer(), a.buffer(), y.buffer()];
        if trans {
            launch(batch, &self.gemv_t, &buffers, &params, Grid::Elements(n))
        } else {
            let groups = match self.gemv_split {
                GemvSplit::WorkgroupPerRow => rows,
                GemvSplit::RowsPerWorkgroup => rows.div_ceil(GEMV_ROWS_PER_GROUP),
            };
            launch(batch, &self.gemv_n, &buffers, &params, Grid::Groups(groups))
        }
    }

    /// `A[row, :] = x` for A `[m, n]` and x of n elements; the other rows are untouched.
    pub fn set_row(
        &self, batch: &mut Batch, a: &Tensor<T>, row: usize, x: &Tensor<T>,
    ) -> Result<()> {
        let n = self.check_row("vector set_row", a, row, x)?;
        self.row_copy(batch, &self.set_row, &[x.buffer(), a.buffer()], n, row)
    }

    /// `x = A[row, :]` for A `[m, n]` and x of n elements.
    pub fn get_row(
        &self, batch: &mut Batch, a: &Tensor<T>, row: usize, x: &Tensor<T>,
    ) -> Result<()> {
        let n = self.check_row("vector get_row", a, row, x)?;
        self.row_copy(batch, &self.get_row, &[a.buffer(), x.buffer()], n, row)
    }

    /// `y = x / s[index]` and `A[row, :] = y` for A `[m, n]`: the normalisation of a
    /// Krylov step by the norm a reduction left in the device scalars `s`, with the new
    /// vector stored as row `row` of the basis A.
    #[allow(clippy::too_many_arguments)]
    pub fn normalize(
        &self, batch: &mut Batch, x: &Tensor<T>, s: &Tensor<T>, index: usize, y: &Tensor<T>,
        a: &Tensor<T>, row: usize,
    ) -> Result<()> {
        let what = "vector normalize";
        self.check_row(what, a, row, x)?;
        distinct(what, ("A", a), ("y", y))?;
        let sizes = VectorSizes {
            row: row as u32,
            ..scalar_sizes(what, (x, s, index), y)?
        };
        let buffers = [x.buffer(), s.buffer(), y.buffer(), a.buffer()];
        let params = params::<T>(sizes, 0.0, 0.0);
        launch(
            batch,
            &self.normalize,
            &buffers,
            &params,
            Grid::Elements(x.len()),
        )
    }

    /// `y = x / s[index]`, by a device scalar.
    pub fn div_scalar(
        &self, batch: &mut Batch, x: &Tensor<T>, s: &Tensor<T>, index: usize, y: &Tensor<T>,
    ) -> Result<()> {
        let what = "vector div_scalar";
        self.by_device_scalar(batch, &self.div_scalar, what, (x, s, index), false, y)
    }

    /// `y += s[index] * x`, or `y -= s[index] * x` when `negate`, by a device scalar.
    #[allow(clippy::too_many_arguments)]
    pub fn axpy_scalar(
        &self, batch: &mut Batch, x: &Tensor<T>, s: &Tensor<T>, index: usize, negate: bool,
        y: &Tensor<T>,
    ) -> Result<()> {
        let what = "vector axpy_scalar";
        self.by_device_scalar(batch, &self.axpy_scalar, what, (x, s, index), negate, y)
    }

    /// div_scalar or axpy_scalar: one invocation per element, all reading `s[index]`.
    fn by_device_scalar(
        &self, batch: &mut Batch, kernel: &Kernel, what: &str,
        (x, s, index): (&Tensor<T>, &Tensor<T>, usize), negate: bool, y: &Tensor<T>,
    ) -> Result<()> {
        let sizes = VectorSizes {
            negate: negate as u32,
            ..scalar_sizes(what, (x, s, index), y)?
        };
        let buffers = [x.buffer(), s.buffer(), y.buffer()];
        let params = params::<T>(sizes, 0.0, 0.0);
        launch(batch, kernel, &buffers, &params, Grid::Elements(x.len()))
    }

    /// set_row or get_row: one invocation per element of row `row` (n elements).
    fn row_copy(
        &self, batch: &mut Batch, kernel: &Kernel, buffers: &[&wgpu::Buffer], n: usize, row: usize,
    ) -> Result<()> {
        let sizes = VectorSizes {
            n: n as u32,
            row: row as u32,
            ..Default::default()
        };
        let params = params::<T>(sizes, 0.0, 0.0);
        launch(batch, kernel, buffers, &params, Grid::Elements(n))
    }

    fn check_row(&self, what: &str, a: &Tensor<T>, row: usize, x: &Tensor<T>) -> Result<usize> {
        let (m, n) = matrix_dims(what, a)?;
        if row >= m {
            bail!(GpuError::Shape(format!(
                "{what}: row {row} is out of range for A of shape {:?}",
                a.shape()
            )));
        }
        if x.len() != n {
            bail!(GpuError::Shape(format!(
                "{what}: A has shape {:?}, so x needs {n} elements, but it has shape {:?}",
                a.shape(),
                x.shape()
            )));
        }
        distinct(what, ("A", a), ("x", x))?;
        Ok(n)
    }

    /// One invocation per element, spread over x and y by grid_1d.
    fn elementwise(
        &self, batch: &mut Batch, kernel: &Kernel, buffers: &[&wgpu::Buffer], n: usize, alpha: f64,
    ) -> Result<()> {
        let sizes = VectorSizes {
            n: n as u32,
            ..Default::default()
        };
        let params = params::<T>(sizes, alpha, 0.0);
        launch(batch, kernel, buffers, &params, Grid::Elements(n))
    }

    /// The workgroups of the first stage of a dot product of n elements on this
    /// adapter ([`dot_partials`]).
    pub fn partials(&self, n: usize) -> usize {
        dot_partials(n, self.cpu_threads)
    }

    /// Stage 1: `partials` workgroups write their sums into the scratch tensor (a
    /// grid-stride loop covers any n). Stage 2: one workgroup adds them into out[0].
    fn two_stage(
        &self, batch: &mut Batch, stage1: &Kernel, inputs: &[&wgpu::Buffer], n: usize,
        take_sqrt: bool, out: &Tensor<T>,
    ) -> Result<()> {
        // At least one workgroup, so that an empty vector still writes a 0 partial.
        let partials = self.partials(n);
        let sizes = VectorSizes {
            n: n as u32,
            count: partials as u32,
            take_sqrt: take_sqrt as u32,
            ..Default::default()
        };
        let params = params::<T>(sizes, 0.0, 0.0);
        let mut buffers = inputs.to_vec();
        buffers.push(self.scratch.buffer());
        batch.dispatch(stage1, &buffers, Some(&params), [partials as u32, 1, 1])?;
        batch.dispatch(
            &self.finish,
            &[self.scratch.buffer(), out.buffer()],
            Some(&params),
            [1, 1, 1],
        )
    }
}

/// Largest vector length: the dot product's grid-stride loop adds its stride (at most
/// `MAX_PARTIALS` workgroups of at most 1024 invocations) to an index below n, and the
/// sum must not wrap in u32.
const MAX_LEN: usize = u32::MAX as usize - MAX_PARTIALS * 1024;

fn vector_len<T: Real>(what: &str, t: Named<T>) -> Result<usize> {
    real::vector_len(what, t, MAX_LEN)
}

fn same_len<T: Real>(what: &str, a: Named<T>, b: Named<T>) -> Result<usize> {
    real::same_len(what, a, b, MAX_LEN)
}

fn scalar_out<T: Real>(what: &str, out: &Tensor<T>) -> Result<()> {
    if out.len() != 1 {
        bail!(GpuError::Shape(format!(
            "{what}: out must hold one element (e.g. shape [1]), but it has shape {:?}",
            out.shape()
        )));
    }
    Ok(())
}

/// The sizes of a kernel that writes y from x and the device scalar `s[index]`, after
/// checking them.
fn scalar_sizes<T: Real>(
    what: &str, (x, s, index): (&Tensor<T>, &Tensor<T>, usize), y: &Tensor<T>,
) -> Result<VectorSizes> {
    let n = same_len(what, ("x", x), ("y", y))?;
    distinct(what, ("x", x), ("y", y))?;
    if index >= s.len() {
        bail!(GpuError::Shape(format!(
            "{what}: scalar index {index} is out of range for a scalar buffer of shape {:?}",
            s.shape()
        )));
    }
    distinct(what, ("s", s), ("y", y))?;
    Ok(VectorSizes {
        n: n as u32,
        index: index as u32,
        ..Default::default()
    })
}
