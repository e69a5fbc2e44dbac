//! The non-Gram pieces of the explicit empirical NTK (shaders/ntk.wgsl, ntk_f64.wgsl):
//! repeating each example's row once per logit, and the Hadamard accumulation
//! K += (A Aᵀ (+1) ⊗ 1_{k×k}) ⊙ (Δ Δᵀ). Row p = i·k + c belongs to example i, logit c.

use std::sync::Arc;

use anyhow::{bail, Result};

use super::shaders;
use crate::gpu::{grid_1d, groups_for, Batch, Gpu, GpuError, Kernel, Tensor};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ParamsF32 {
    rows: u32,
    cols: u32,
    k: u32,
    _pad: u32,
    offset: f32,
    _pad1: [u32; 3],
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ParamsF64 {
    rows: u32,
    cols: u32,
    k: u32,
    _pad: u32,
    offset: f64,
    _pad1: [u32; 2],
}

pub struct NtkOps {
    repeat: Arc<Kernel>,
    accumulate: Arc<Kernel>,
    accumulate_f64: Option<Arc<Kernel>>,
}

fn check_index(what: &str, len: usize) -> Result<()> {
    if len > (u32::MAX - 256) as usize {
        bail!("{what}: {len} elements exceed 32-bit indexing");
    }
    Ok(())
}

/// (n, k) from GA [n, n] and D, K [nk, nk].
fn accumulate_dims(ga: &[usize], dd: &[usize], kernel: &[usize], k: usize) -> Result<usize> {
    let n = ga.first().copied().unwrap_or(0);
    let order = n * k;
    if ga != [n, n] || dd != [order, order] || kernel != [order, order] || k == 0 {
        bail!(GpuError::Shape(format!(
            "ntk accumulate with k = {k}: GA {ga:?} must be [n, n] and D {dd:?}, K {kernel:?} \
             both [n k, n k]"
        )));
    }
    check_index("ntk accumulate", order * order)?;
    Ok(n)
}

impl NtkOps {
    pub fn new(gpu: &Gpu) -> Result<Self> {
        Ok(NtkOps {
            repeat: gpu.kernel(&shaders::NTK, "ntk_repeat_rows", &[])?,
            accumulate: gpu.kernel(&shaders::NTK, "ntk_accumulate", &[])?,
            accumulate_f64: if gpu.has_f64() {
                Some(gpu.kernel(&shaders::NTK_F64, "ntk_accumulate_f64", &[])?)
            } else {
                None
            },
        })
    }

    /// Records out[i·k + c, :] = x[i, :] for every c < k (`out` is [n·k, cols]).
    pub fn repeat_rows(&self, batch: &mut Batch, x: &Tensor, k: usize, out: &Tensor) -> Result<()> {
        let (rows, cols) = x.dims2("ntk repeat rows: x")?;
        if out.shape() != [rows * k, cols] {
            bail!(GpuError::Shape(format!(
                "ntk repeat rows: x {:?} repeated {k} times needs out [{}, {cols}], got {:?}",
                x.shape(),
                rows * k,
                out.shape()
            )));
        }
        check_index("ntk repeat rows", rows * k * cols)?;
        let params = ParamsF32 {
            rows: rows as u32,
            cols: cols as u32,
            k: k as u32,
            _pad: 0,
            offset: 0.0,
            _pad1: [0; 3],
        };
        let groups = grid_1d(batch.gpu(), groups_for(rows * k * cols, 256))?;
        batch.dispatch(
            &self.repeat,
            &[x.buffer(), out.buffer()],
            Some(&params),
            groups,
        )
    }

    /// Records K[p, q] += (GA[p/k, q/k] + offset) · D[p, q].
    pub fn accumulate(
        &self,
        batch: &mut Batch,
        ga: &Tensor,
        dd: &Tensor,
        k: usize,
        offset: f32,
        kernel_matrix: &Tensor,
    ) -> Result<()> {
        let n = accumulate_dims(ga.shape(), dd.shape(), kernel_matrix.shape(), k)?;
        let params = ParamsF32 {
            rows: n as u32,
            cols: 0,
            k: k as u32,
            _pad: 0,
            offset,
            _pad1: [0; 3],
        };
        let groups = grid_1d(batch.gpu(), groups_for(n * k * n * k, 256))?;
        batch.dispatch(
            &self.accumulate,
            &[ga.buffer(), dd.buffer(), kernel_matrix.buffer()],
            Some(&params),
            groups,
        )
    }

    /// [`NtkOps::accumulate`] in f64.
    pub fn accumulate_f64(
        &self,
        batch: &mut Batch,
        ga: &Tensor<f64>,
        dd: &Tensor<f64>,
        k: usize,
        offset: f64,
        kernel_matrix: &Tensor<f64>,
    ) -> Result<()> {
        let Some(kernel) = &self.accumulate_f64 else {
            bail!(GpuError::MissingFeature {
                shader: "ntk_f64",
                feature: "SHADER_F64".into(),
                adapter: batch.gpu().summary.name.clone(),
            });
        };
        let n = accumulate_dims(ga.shape(), dd.shape(), kernel_matrix.shape(), k)?;
        let params = ParamsF64 {
            rows: n as u32,
            cols: 0,
            k: k as u32,
            _pad: 0,
            offset,
            _pad1: [0; 2],
        };
        let groups = grid_1d(batch.gpu(), groups_for(n * k * n * k, 256))?;
        batch.dispatch(
            kernel,
            &[ga.buffer(), dd.buffer(), kernel_matrix.buffer()],
            Some(&params),
            groups,
        )
    }
}
