//! G = scale · X Xᵀ (shaders/gram.wgsl, or shaders/gram_bcast.wgsl on CPU adapters with
//! subgroups): X f32 with the sums and G f32 or f64, or X f64 (an f64 network's features)
//! with the sums and G f64.

use std::sync::Arc;

use anyhow::{bail, Result};

use super::launch::{launch, triangle_tiles, Grid, Scratch, WordsAndReals};
use super::matmul::{split_depth, MatmulVariant, SplitSum};
use super::matmul_bcast::Broadcast;
use super::real::{check_u32_index, KernelPair, Real};
use super::shaders;
use super::shaders::{GRAM, GRAM_BCAST, GRAM_BCAST_F64_INPUT_F64};
use crate::gpu::{grid_1d, Batch, Gpu, GpuError, Kernel, Tensor};

/// The output tile's side: `gram`'s; `gram_small`'s is half of it.
const TILE: usize = 64;

/// Orders up to which the 32 x 32 tile is used: a 64 x 64 tile costs the same however
/// much of it lies past n (on lavapipe n = 32 took as long as n = 64), and the smaller
/// tile gives small matrices more workgroups. Both sum each entry in the same order, and
/// a deep product is split over its depth by the 64 x 64 tile count either way, so the
/// choice changes no bit of G (tested).
pub const SMALL_TILE_UP_TO: usize = 128;

/// The Gram kernels: f32, and f64-accumulating (of f32 or f64 input) where the adapter
/// has SHADER_F64; each with 64 x 64 and 32 x 32 output tiles, or the broadcast kernel
/// (shaders/gram_bcast.wgsl) where the network's products run on the broadcast matmul.
pub struct Gram {
    kernels: GramKernels,
    /// Partial sums of depth-split products, as raw 32-bit words (f32 or f64 sums).
    partial: Scratch<u32>,
}

/// Which Gram kernels run, built when the [`Gram`] is: only those (on lavapipe the tiled
/// family's six pipelines took about 60 ms to build, which a broadcast run never used).
enum GramKernels {
    Tiled {
        large: KernelPair,
        small: KernelPair,
        /// X f64, G f64 (large and small tiles); `None` without SHADER_F64.
        input_f64: Option<[Arc<Kernel>; 2]>,
    },
    /// `gram_bcast`'s lanes; its pipeline is built at the first record (its X_VEC4
    /// override depends on the depth).
    Broadcast(Broadcast),
}

/// Output tiles of side `tile` on or above the diagonal of an n x n matrix.
fn upper(tile: usize, n: usize) -> usize {
    triangle_tiles([n, n], [tile as u32; 2], false) as usize
}

/// An f64 X with an f32 G: the precisions no Gram kernel takes.
fn f64_x_needs_f64_g() -> GpuError {
    GpuError::Shape("gram: an f64 X needs an f64 G (an f64 network's Gram matrices are f64)".into())
}

fn dims<X: Real, T: Real>(x: &Tensor<X>, g: &Tensor<T>) -> Result<(usize, usize)> {
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
    /// The kernels for this adapter: the broadcast one where [`MatmulVariant::for_device`]
    /// picks the broadcast matmul (a CPU adapter with subgroups, lavapipe's Vulkan
    /// driver: there the tiled kernels' two barriers per 16 depths dominate; at order 240
    /// and depth 128, an NTK's factor in quick_training.yaml, it took 1.0-1.1 ms against
    /// 3.2 ms, docs/PERFORMANCE.md), the tiled ones elsewhere.
    pub fn new(gpu: &Gpu) -> Result<Self> {
        let broadcast = MatmulVariant::for_device(gpu)? == MatmulVariant::Broadcast;
        Self::with_broadcast(gpu, broadcast)
    }

    /// The tiled kernels, or the broadcast one where `broadcast` (tests run both); the
    /// broadcast kernel on an adapter without subgroups is an error.
    pub fn with_broadcast(gpu: &Gpu, broadcast: bool) -> Result<Self> {
        let kernels = if broadcast {
            GramKernels::Broadcast(Broadcast::of(gpu)?)
        } else {
            let input_f64 = if gpu.has_f64() {
                let shader = &shaders::GRAM_F64_INPUT_F64;
                Some([
                    gpu.kernel(shader, "gram", &[])?,
                    gpu.kernel(shader, "gram_small", &[])?,
                ])
            } else {
                None
            };
            GramKernels::Tiled {
                large: KernelPair::new(gpu, &GRAM, "gram")?,
                small: KernelPair::new(gpu, &GRAM, "gram_small")?,
                input_f64,
            }
        };
        Ok(Gram {
            kernels,
            partial: Scratch::default(),
        })
    }

    /// "broadcast" or "tiled": which kernels run.
    pub fn variant_name(&self) -> &'static str {
        match self.kernels {
            GramKernels::Broadcast(_) => "broadcast",
            GramKernels::Tiled { .. } => "tiled",
        }
    }

    /// Records G = scale · X Xᵀ, accumulated and stored in `T` (scale rounded to `T`).
    /// An f64 X needs an f64 G.
    pub fn record<X: Real, T: Real>(
        &self, batch: &mut Batch, x: &Tensor<X>, scale: f64, g: &Tensor<T>,
    ) -> Result<()> {
        let (n, d) = dims(x, g)?;
        let (large, small_tile, input_f64) = match &self.kernels {
            GramKernels::Broadcast(lanes) => {
                return Self::record_broadcast(batch, lanes, x, scale, g, (n, d));
            }
            GramKernels::Tiled {
                large,
                small,
                input_f64,
            } => (large, small, input_f64),
        };
        let small = n <= SMALL_TILE_UP_TO;
        let kernel = match (X::NEEDS_F64, T::NEEDS_F64) {
            (false, _) if small => small_tile.get::<T>(batch.gpu())?,
            (false, _) => large.get::<T>(batch.gpu())?,
            (true, false) => bail!(f64_x_needs_f64_g()),
            (true, true) => match input_f64 {
                Some(k) => &k[small as usize],
                None => bail!(GpuError::MissingFeature {
                    shader: shaders::GRAM_F64_INPUT_F64.name,
                    feature: "SHADER_F64".into(),
                    adapter: batch.gpu().summary.name.clone(),
                }),
            },
        };
        if d == 0 {
            return g.fill(batch.gpu(), T::zeroed());
        }
        // One workgroup per output tile on or above the diagonal. The split follows the
        // 64 x 64 tiles whichever tile runs, so that the partial sums, and G to the last
        // bit, do not depend on the tile.
        let upper_tiles = upper(if small { TILE / 2 } else { TILE }, n);
        let (split_len, splits) = split_depth(upper(TILE, n), d);
        if splits > 1 {
            return self.record_split(batch, kernel, x, scale, g, (upper_tiles, split_len, splits));
        }
        let params = WordsAndReals::new([n, d, d], T::pair(scale, 0.0));
        let buffers = [x.buffer(), g.buffer()];
        launch(batch, kernel, &buffers, &params, Grid::Groups(upper_tiles))
    }

    /// [`Gram::record`] on `gram_bcast`: one workgroup per 16-row, [`Broadcast::tile_columns`]
    /// output tile with an entry on or above the diagonal, and none for the tiles wholly
    /// below it ([`triangle_tiles`]).
    fn record_broadcast<X: Real, T: Real>(
        batch: &mut Batch, lanes: &Broadcast, x: &Tensor<X>, scale: f64, g: &Tensor<T>,
        (n, d): (usize, usize),
    ) -> Result<()> {
        let shader = match (X::NEEDS_F64, T::NEEDS_F64) {
            (false, false) => &GRAM_BCAST.f32,
            (false, true) => &GRAM_BCAST.f64,
            (true, true) => &GRAM_BCAST_F64_INPUT_F64,
            (true, false) => bail!(f64_x_needs_f64_g()),
        };
        let [sg, width] = lanes.lane_overrides();
        let overrides = [sg, width, ("X_VEC4", d.is_multiple_of(4) as u32 as f64)];
        let kernel = batch.gpu().kernel(shader, "gram_bcast", &overrides)?;
        if d == 0 {
            return g.fill(batch.gpu(), T::zeroed());
        }
        let tiles = triangle_tiles([n, n], [16, lanes.tile_columns() as u32], false);
        let params = WordsAndReals::new([n, d, d], T::pair(scale, 0.0));
        let buffers = [x.buffer(), g.buffer(), x.buffer()];
        launch(
            batch,
            &kernel,
            &buffers,
            &params,
            Grid::Groups(tiles as usize),
        )
    }

    /// G split over the depth: the Gram kernel (either tile) over a z grid of `splits`
    /// into a [splits, n, n] partial buffer (scale 1), then matmul's split sum scales and
    /// adds them into G, both in one pass.
    fn record_split<X: Real, T: Real>(
        &self, batch: &mut Batch, kernel: &Kernel, x: &Tensor<X>, scale: f64, g: &Tensor<T>,
        (upper_tiles, split_len, splits): (usize, usize, usize),
    ) -> Result<()> {
        let gpu = batch.gpu();
        let (n, d) = (g.shape()[0], x.shape()[1]);
        let len = splits * n * n;
        check_u32_index(
            &format!("gram split into {splits} partial {n}x{n} sums"),
            len as u128,
        )?;
        // Raw 32-bit words for either precision: the sums are T, seen by the kernels only.
        let partial = self
            .partial
            .at_least(gpu, len * std::mem::size_of::<T>() / 4)?;
        let split_params = WordsAndReals::new([n, d, split_len], T::pair(1.0, 0.0));
        let split = batch.bind(kernel, &[x.buffer(), &partial], Some(&split_params))?;
        let sum = SplitSum::new::<T>(gpu, (n, n), splits, scale, 0.0)?;
        let (total, sum_groups) = sum.bind(batch, &partial, g.buffer())?;
        let [gx, gy, _] = grid_1d(gpu, upper_tiles as u64)?;
        batch.launches(
            &kernel.label,
            &[(&split, [gx, gy, splits as u32]), (&total, sum_groups)],
        )
    }
}
