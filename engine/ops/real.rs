//! The one element trait every precision-generic wrapper uses ([`Real`]: f32 or f64), and
//! the shape and 32-bit index checks the wrappers share.
//!
//! A trait rather than an enum of precisions so that the tensors' element type picks the
//! shader at compile time: a `Tensor<f32>` can never reach an f64 kernel.

use anyhow::{bail, Result};

use super::shaders::Family;
use std::sync::Arc;

use crate::gpu::{Element, Gpu, GpuError, Kernel, Shader, Tensor};

/// The real scalars of a params struct (alpha and beta, or one scale with the second
/// unused), laid out as the precision's WGSL struct reads them: two f32 at the start of
/// the 16 bytes, or two f64. Every WGSL params struct places its `Real` fields at an
/// offset that is a multiple of 8 (f64 alignment), so one Rust struct serves both
/// precisions and only this field differs.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct RealPair {
    words: [u32; 4],
}

/// Device scalars of the precision-generic kernel families: f32 on any adapter, f64
/// where the adapter has `SHADER_F64` (lavapipe and NVIDIA have it, Metal does not).
pub trait Real: Element + Copy + Into<f64> {
    /// Whether this precision's shaders need the adapter's `SHADER_F64`.
    const NEEDS_F64: bool;
    /// This precision's instance of a kernel family.
    fn of(family: &'static Family) -> &'static Shader {
        if Self::NEEDS_F64 {
            &family.f64
        } else {
            &family.f32
        }
    }
    /// `a` and `b` rounded to this precision, in its params layout.
    fn pair(a: f64, b: f64) -> RealPair;
}

impl Real for f32 {
    const NEEDS_F64: bool = false;
    fn pair(a: f64, b: f64) -> RealPair {
        RealPair {
            words: [(a as f32).to_bits(), (b as f32).to_bits(), 0, 0],
        }
    }
}

impl Real for f64 {
    const NEEDS_F64: bool = true;
    fn pair(a: f64, b: f64) -> RealPair {
        RealPair {
            words: bytemuck::cast([a, b]),
        }
    }
}

/// One entry point of a family built in both precisions, for wrappers that serve both
/// from one object: f32 always, f64 where the adapter has `SHADER_F64`.
pub struct KernelPair {
    family: &'static Family,
    f32: Arc<Kernel>,
    f64: Option<Arc<Kernel>>,
}

impl KernelPair {
    pub fn new(gpu: &Gpu, family: &'static Family, entry: &str) -> Result<Self> {
        Ok(KernelPair {
            family,
            f32: gpu.kernel(&family.f32, entry, &[])?,
            f64: if gpu.has_f64() {
                Some(gpu.kernel(&family.f64, entry, &[])?)
            } else {
                None
            },
        })
    }

    pub fn has_f64(&self) -> bool {
        self.f64.is_some()
    }

    /// The kernel of `T`'s precision; for f64 on an adapter without it, an error naming
    /// SHADER_F64, the shader and the adapter.
    pub fn get<T: Real>(&self, gpu: &Gpu) -> Result<&Kernel> {
        if !T::NEEDS_F64 {
            return Ok(&self.f32);
        }
        match &self.f64 {
            Some(k) => Ok(k),
            None => bail!(GpuError::MissingFeature {
                shader: self.family.f64.name,
                feature: "SHADER_F64".into(),
                adapter: gpu.summary.name.clone(),
            }),
        }
    }
}

/// Checks that a kernel's u32 index arithmetic cannot wrap: `largest` is the largest
/// value any index expression of the kernel reaches (e.g. m k for an m x k operand).
pub fn check_u32_index(what: &str, largest: u128) -> Result<()> {
    if largest > u32::MAX as u128 {
        bail!(GpuError::Shape(format!(
            "{what}: an index reaches {largest}, beyond the kernel's 32-bit index arithmetic \
             (4294967295); split the problem into smaller pieces"
        )));
    }
    Ok(())
}

/// Checks a launch whose linear invocation index is `(wg.x + wg.y nwg.x) WG + lid` over
/// a [`crate::gpu::grid_1d`] grid of `len` elements: the grid rounds up by less than one
/// row of workgroups, so the index reaches `len + (max_dim + 1) WG` at most.
pub fn check_grid_index(gpu: &Gpu, what: &str, len: usize, wg: u32) -> Result<()> {
    let max_dim = gpu.limits().max_compute_workgroups_per_dimension as u128;
    check_u32_index(what, len as u128 + (max_dim + 1) * wg as u128)
}

/// A tensor with the name errors call it by.
pub type Named<'a, T> = (&'a str, &'a Tensor<T>);

/// The element count of a tensor used as a flat vector, checked against `max_len`.
pub fn vector_len<T: Element>(what: &str, (name, t): Named<T>, max_len: usize) -> Result<usize> {
    if t.len() > max_len {
        bail!(GpuError::Shape(format!(
            "{what}: {name} of shape {:?} exceeds 32-bit indexing ({max_len} elements at most)",
            t.shape()
        )));
    }
    Ok(t.len())
}

/// The common element count of two tensors, which must agree.
pub fn same_len<T: Element>(what: &str, a: Named<T>, b: Named<T>, max_len: usize) -> Result<usize> {
    if a.1.len() != b.1.len() {
        bail!(mismatch(
            what,
            a,
            b,
            "they must have the same number of elements"
        ));
    }
    vector_len(what, a, max_len)
}

/// Two tensors a kernel reads and writes element for element: the same shape.
pub fn same_shape<T: Element>(what: &str, a: Named<T>, b: Named<T>) -> Result<()> {
    if a.1.shape() != b.1.shape() {
        bail!(mismatch(what, a, b, "they must match"));
    }
    Ok(())
}

/// Two tensors whose shapes disagree, and the `rule` they break.
fn mismatch<T: Element>(what: &str, a: Named<T>, b: Named<T>, rule: &str) -> GpuError {
    GpuError::Shape(format!(
        "{what}: {} has shape {:?} but {} has shape {:?}; {rule}",
        a.0,
        a.1.shape(),
        b.0,
        b.1.shape()
    ))
}

/// Rows and columns of a matrix whose elements the kernel indexes with u32.
pub fn matrix_dims<T: Element>(what: &str, a: &Tensor<T>) -> Result<(usize, usize)> {
    let (m, n) = a.dims2(&format!("{what}: A"))?;
    check_u32_index(&format!("{what}: A {:?}", a.shape()), a.len() as u128)?;
    Ok((m, n))
}

/// A matrix X `[rows, cols]` whose elements the kernel indexes with u32, and an output
/// of one element per row: (rows, cols).
pub fn rows_and_output<T: Element, U: Element>(
    what: &str, x: &Tensor<T>, (name, out): Named<U>,
) -> Result<(usize, usize)> {
    let (rows, cols) = x.dims2(&format!("{what}: x"))?;
    if rows.saturating_mul(cols) > u32::MAX as usize {
        bail!("{what}: x of shape {:?} exceeds 32-bit indexing", x.shape());
    }
    if out.shape() != [rows] {
        bail!(GpuError::Shape(format!(
            "{what}: x has shape {:?}, so {name} must have shape [{rows}], but it has shape {:?}",
            x.shape(),
            out.shape()
        )));
    }
    Ok((rows, cols))
}

/// wgpu cannot bind one buffer as an input and as a writable output of one launch.
pub fn distinct<T: Element, U: Element>(what: &str, a: Named<T>, b: Named<U>) -> Result<()> {
    if std::ptr::eq(a.1.buffer(), b.1.buffer()) {
        bail!(GpuError::Shape(format!(
            "{what}: {} and {} are the same tensor; \
             wgpu cannot bind one buffer as both input and output",
            a.0, b.0
        )));
    }
    Ok(())
}
