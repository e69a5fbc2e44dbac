//! G = scale · X Xᵀ (shaders/gram.wgsl; shaders/gram_f64.wgsl accumulates in f64).

use std::sync::Arc;

use anyhow::{bail, Result};

use super::shaders;
use crate::gpu::{grid_1d, Batch, Element, Gpu, GpuError, Kernel, Tensor};

const TILE: usize = 64;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ParamsF32 {
    n: u32,
    d: u32,
    _pad0: [u32; 2],
    scale: f32,
    _pad1: [u32; 3],
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ParamsF64 {
    n: u32,
    d: u32,
    _pad0: [u32; 2],
    scale: f64,
    _pad1: [u32; 2],
}

/// The Gram kernels: f32, and f64-accumulating where the adapter has SHADER_F64.
pub struct Gram {
    f32_kernel: Arc<Kernel>,
    f64_kernel: Option<Arc<Kernel>>,
}

fn dims<T: Element>(x: &Tensor, g: &Tensor<T>) -> Result<(usize, usize)> {
    let (n, d) = x.dims2("gram: X")?;
    if g.shape() != [n, n] {
        bail!(GpuError::Shape(format!(
            "gram: X {:?} gives a {n} x {n} matrix, but G has shape {:?}",
            x.shape(),
            g.shape()
        )));
    }
    if n > u32::MAX as usize / 2 || d > u32::MAX as usize {
        bail!("gram: X {:?} exceeds 32-bit indexing", x.shape());
    }
    Ok((n, d))
}

impl Gram {
    pub fn new(gpu: &Gpu) -> Result<Self> {
        Ok(Gram {
            f32_kernel: gpu.kernel(&shaders::GRAM, "gram", &[])?,
            f64_kernel: if gpu.has_f64() {
                Some(gpu.kernel(&shaders::GRAM_F64, "gram", &[])?)
            } else {
                None
            },
        })
    }

    pub fn has_f64(&self) -> bool {
        self.f64_kernel.is_some()
    }

    fn groups(batch: &Batch, n: usize) -> Result<[u32; 3]> {
        let tiles = n.div_ceil(TILE) as u64;
        grid_1d(batch.gpu(), tiles * (tiles + 1) / 2)
    }

    /// Records G = scale · X Xᵀ in f32.
    pub fn record(&self, batch: &mut Batch, x: &Tensor, scale: f32, g: &Tensor) -> Result<()> {
        let (n, d) = dims(x, g)?;
        if d == 0 {
            return g.fill(batch.gpu(), 0.0);
        }
        let params = ParamsF32 {
            n: n as u32,
            d: d as u32,
            _pad0: [0; 2],
            scale,
            _pad1: [0; 3],
        };
        let groups = Self::groups(batch, n)?;
        batch.dispatch(
            &self.f32_kernel,
            &[x.buffer(), g.buffer()],
            Some(&params),
            groups,
        )
    }

    /// Records G = scale · X Xᵀ accumulated and stored in f64.
    pub fn record_f64(
        &self,
        batch: &mut Batch,
        x: &Tensor,
        scale: f64,
        g: &Tensor<f64>,
    ) -> Result<()> {
        let Some(kernel) = &self.f64_kernel else {
            bail!(GpuError::MissingFeature {
                shader: "gram_f64",
                feature: "SHADER_F64".into(),
                adapter: batch.gpu().summary.name.clone(),
            });
        };
        let (n, d) = dims(x, g)?;
        if d == 0 {
            return g.fill(batch.gpu(), 0.0);
        }
        let params = ParamsF64 {
            n: n as u32,
            d: d as u32,
            _pad0: [0; 2],
            scale,
            _pad1: [0; 2],
        };
        let groups = Self::groups(batch, n)?;
        batch.dispatch(kernel, &[x.buffer(), g.buffer()], Some(&params), groups)
    }
}
