//! The non-Gram pieces of the explicit empirical NTK (shaders/ntk.wgsl):
//! repeating each example's row once per logit, and the Hadamard accumulation
//! K += (A Aᵀ (+1) ⊗ 1_{k×k}) ⊙ (Δ Δᵀ). Row p = i·k + c belongs to example i, logit c.

use anyhow::{bail, Result};

use super::real::{check_grid_index, KernelPair, Real, RealPair};
use crate::gpu::{grid_1d, groups_for, Batch, Gpu, GpuError, Tensor};

/// Params of shaders/ntk.wgsl: sizes, then the offset at byte 16 (first of the pair).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    k: u32,
    _pad: u32,
    offset: RealPair,
}

const _: () = assert!(std::mem::offset_of!(Params, offset) == 16);

/// Invocations per workgroup of both entry points (WG in the shader).
const WG: u32 = 256;

pub struct NtkOps {
    repeat: KernelPair,
    accumulate: KernelPair,
}

/// (n, k) from GA [n, n] and D, K [nk, nk].
fn accumulate_dims(ga: &[usize], dd: &[usize], kernel: &[usize], k: usize) -> Result<usize> {
    let n = ga.first().copied().unwrap_or(0);
    let order = n.saturating_mul(k);
    if ga != [n, n] || dd != [order, order] || kernel != [order, order] || k == 0 {
        bail!(GpuError::Shape(format!(
            "ntk accumulate with k = {k}: GA {ga:?} must be [n, n] and D {dd:?}, K {kernel:?} \
             both [n k, n k]"
        )));
    }
    Ok(n)
}

impl NtkOps {
    pub fn new(gpu: &Gpu) -> Result<Self> {
        Ok(NtkOps {
            repeat: KernelPair::new(
                gpu,
                <f32 as Real>::NTK,
                <f64 as Real>::NTK,
                "ntk_repeat_rows",
            )?,
            accumulate: KernelPair::new(
                gpu,
                <f32 as Real>::NTK,
                <f64 as Real>::NTK,
                "ntk_accumulate",
            )?,
        })
    }

    /// Records out[i·k + c, :] = x[i, :] for every c < k (`out` is [n·k, cols]).
    pub fn repeat_rows<T: Real>(
        &self,
        batch: &mut Batch,
        x: &Tensor<T>,
        k: usize,
        out: &Tensor<T>,
    ) -> Result<()> {
        let kernel = self.repeat.get::<T>(batch.gpu(), T::NTK)?;
        let (rows, cols) = x.dims2("ntk repeat rows: x")?;
        if out.shape() != [rows * k, cols] {
            bail!(GpuError::Shape(format!(
                "ntk repeat rows: x {:?} repeated {k} times needs out [{}, {cols}], got {:?}",
                x.shape(),
                rows * k,
                out.shape()
            )));
        }
        let len = rows * k * cols;
        check_grid_index(batch.gpu(), "ntk repeat rows", len, WG)?;
        let params = Params {
            rows: rows as u32,
            cols: cols as u32,
            k: k as u32,
            _pad: 0,
            offset: RealPair::default(),
        };
        let groups = grid_1d(batch.gpu(), groups_for(len, WG))?;
        batch.dispatch(kernel, &[x.buffer(), out.buffer()], Some(&params), groups)
    }

    /// Records K[p, q] += (GA[p/k, q/k] + offset) · D[p, q] in `T` (offset rounded to `T`).
    pub fn accumulate<T: Real>(
        &self,
        batch: &mut Batch,
        ga: &Tensor<T>,
        dd: &Tensor<T>,
        k: usize,
        offset: f64,
        kernel_matrix: &Tensor<T>,
    ) -> Result<()> {
        let kernel = self.accumulate.get::<T>(batch.gpu(), T::NTK)?;
        let n = accumulate_dims(ga.shape(), dd.shape(), kernel_matrix.shape(), k)?;
        let len = n * k * n * k;
        check_grid_index(batch.gpu(), "ntk accumulate", len, WG)?;
        let params = Params {
            rows: n as u32,
            cols: 0,
            k: k as u32,
            _pad: 0,
            offset: T::pair(offset, 0.0),
        };
        let groups = grid_1d(batch.gpu(), groups_for(len, WG))?;
        batch.dispatch(
            kernel,
            &[ga.buffer(), dd.buffer(), kernel_matrix.buffer()],
            Some(&params),
            groups,
        )
    }
}
