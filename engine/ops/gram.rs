//! G = scale · X Xᵀ (shaders/gram.wgsl): X is f32, the sums and G are f32 or f64.

use anyhow::{bail, Result};

use super::real::{check_u32_index, KernelPair, Real, RealPair};
use crate::gpu::{grid_1d, Batch, Gpu, GpuError, Tensor};

const TILE: usize = 64;

/// Params of shaders/gram.wgsl: sizes, then the scale at offset 16 (first of the pair).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    d: u32,
    _pad0: [u32; 2],
    scale: RealPair,
}

const _: () = assert!(std::mem::offset_of!(Params, scale) == 16);

/// The Gram kernels: f32, and f64-accumulating where the adapter has SHADER_F64.
pub struct Gram {
    kernels: KernelPair,
}

fn dims<T: Real>(x: &Tensor, g: &Tensor<T>) -> Result<(usize, usize)> {
    let (n, d) = x.dims2("gram: X")?;
    if g.shape() != [n, n] {
        bail!(GpuError::Shape(format!(
            "gram: X {:?} gives a {n} x {n} matrix, but G has shape {:?}",
            x.shape(),
            g.shape()
        )));
    }
    // The kernel indexes X up to n d and G up to n², rounded up to whole tiles.
    let rows = n.next_multiple_of(TILE) as u128;
    let what = format!("gram: X {:?}", x.shape());
    check_u32_index(&what, rows * (d as u128 + 16))?;
    check_u32_index(&what, rows * rows)?;
    Ok((n, d))
}

impl Gram {
    pub fn new(gpu: &Gpu) -> Result<Self> {
        let kernels = KernelPair::new(gpu, <f32 as Real>::GRAM, <f64 as Real>::GRAM, "gram")?;
        Ok(Gram { kernels })
    }

    pub fn has_f64(&self) -> bool {
        self.kernels.has_f64()
    }

    fn groups(batch: &Batch, n: usize) -> Result<[u32; 3]> {
        let tiles = n.div_ceil(TILE) as u64;
        grid_1d(batch.gpu(), tiles * (tiles + 1) / 2)
    }

    /// Records G = scale · X Xᵀ, accumulated and stored in `T` (scale rounded to `T`).
    pub fn record<T: Real>(
        &self,
        batch: &mut Batch,
        x: &Tensor,
        scale: f64,
        g: &Tensor<T>,
    ) -> Result<()> {
        let kernel = self.kernels.get::<T>(batch.gpu(), T::GRAM)?;
        let (n, d) = dims(x, g)?;
        if d == 0 {
            return g.fill(batch.gpu(), T::zeroed());
        }
        let params = Params {
            n: n as u32,
            d: d as u32,
            _pad0: [0; 2],
            scale: T::pair(scale, 0.0),
        };
        let groups = Self::groups(batch, n)?;
        batch.dispatch(kernel, &[x.buffer(), g.buffer()], Some(&params), groups)
    }
}
