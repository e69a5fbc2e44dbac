//! The broadcast matmul's host side (shaders/matmul_bcast.wgsl): the adapter facts and
//! the operand alignment its override constants are built from. `ops::matmul` records it
//! like the other variants.

use anyhow::Result;

use super::matmul::{Layout, Symmetry};
use super::matview::{MatView, MatmulDims};
use super::real::Real;
use crate::gpu::Gpu;

/// What the broadcast kernel's overrides depend on besides the layout and symmetry:
/// A_VEC4 and B_VEC4 (shaders/matmul_bcast.wgsl).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct BroadcastShape {
    pub(super) a_vec4: bool,
    pub(super) b_vec4: bool,
}

impl BroadcastShape {
    /// The four-at-a-time reads `layout` and `symmetry` allow, operands aligned: A's only
    /// as stored (its vec4s run along a row), B's either way.
    pub(super) fn widest(layout: Layout, symmetry: Symmetry) -> Self {
        BroadcastShape {
            a_vec4: !layout.trans_a() && !symmetry.symmetric_a,
            b_vec4: true,
        }
    }

    /// The shape for a product's views: A and B read four at a time where their rows are
    /// aligned to four elements and the vec4s read lie in their buffers. Depth slices start
    /// at multiples of [`super::matmul::MATMUL_K_SLICE`], a multiple of 4.
    pub(super) fn of<T: Real>(
        layout: Layout, symmetry: Symmetry, [a, b]: [&MatView<T>; 2], dims: MatmulDims,
    ) -> Self {
        // `rows` rows of which the last reaches `reach` elements past its start.
        let fits = |v: &MatView<T>, rows: usize, reach: usize| {
            let padded = v.tensor.buffer().size() as usize / std::mem::size_of::<T>();
            v.offset.is_multiple_of(4)
                && v.stride.is_multiple_of(4)
                && (rows == 0 || v.offset + (rows - 1) * v.stride + reach <= padded)
        };
        let k4 = dims.k.next_multiple_of(4);
        let widest = Self::widest(layout, symmetry);
        BroadcastShape {
            a_vec4: widest.a_vec4 && fits(a, dims.m, k4),
            b_vec4: widest.b_vec4
                && if layout.trans_b() {
                    fits(b, dims.n, k4)
                } else {
                    fits(b, dims.k, dims.n.next_multiple_of(4))
                },
        }
    }
}

/// Whether the broadcast kernel reads op(A) and B four elements at a time (A_VEC4,
/// B_VEC4) for a product on these views: for tests.
pub fn broadcast_vec4_reads<T: Real>(
    layout: Layout, symmetry: Symmetry, operands: [&MatView<T>; 2], dims: MatmulDims,
) -> [bool; 2] {
    let shape = BroadcastShape::of(layout, symmetry, operands, dims);
    [shape.a_vec4, shape.b_vec4]
}

/// The broadcast kernel's workgroup in invocations, unless the adapter's subgroups may be
/// wider: 32 columns, the dense eigensolver's band. 64 invocations (256 columns) were no
/// faster on lavapipe for square products, and slower at m = n = 300.
const BROADCAST_WIDTH: u32 = 8;

/// The adapter facts the broadcast kernel is built with.
pub(super) struct Broadcast {
    /// Lanes every subgroup has: the adapter's smallest subgroup size, at most 16.
    subgroup: u32,
    /// Invocations per workgroup: [`BROADCAST_WIDTH`], or the adapter's largest subgroup
    /// size where that is larger, so that a workgroup is whole subgroups (a subgroup wider
    /// than its workgroup would leave lanes out, which the kernel reads through).
    width: u32,
}

impl Broadcast {
    pub(super) fn of(gpu: &Gpu) -> Result<Self> {
        let (min, max) = (gpu.summary.subgroup_min_size, gpu.summary.subgroup_max_size);
        let width = BROADCAST_WIDTH.max(max);
        // Its lanes 0..4 read a quarter of the 16 rows each at least.
        let subgroups = gpu.features().contains(wgpu::Features::SUBGROUP);
        if !subgroups || min < 4 || width > gpu.limits().max_compute_invocations_per_workgroup {
            anyhow::bail!(
                "the broadcast matmul needs subgroup operations (SUBGROUP) with subgroups of \
                 4 to {} lanes, which {} lacks: use the tiled or skinny variant",
                gpu.limits().max_compute_invocations_per_workgroup,
                gpu.summary.name
            );
        }
        Ok(Broadcast {
            subgroup: min.min(16),
            width,
        })
    }

    pub(super) fn overrides(
        &self, layout: Layout, symmetry: Symmetry, shape: BroadcastShape,
    ) -> Vec<(&'static str, f64)> {
        [
            layout.overrides().as_slice(),
            symmetry.overrides().as_slice(),
            &self.lane_overrides(),
            &[
                ("A_VEC4", shape.a_vec4 as u32 as f64),
                ("B_VEC4", shape.b_vec4 as u32 as f64),
            ],
        ]
        .concat()
    }

    /// BCAST_SG and BCAST_W, which shaders/gram_bcast.wgsl declares too.
    pub(super) fn lane_overrides(&self) -> [(&'static str, f64); 2] {
        [
            ("BCAST_SG", self.subgroup as f64),
            ("BCAST_W", self.width as f64),
        ]
    }

    /// Columns of an output tile: four per invocation.
    pub(super) fn tile_columns(&self) -> usize {
        4 * self.width as usize
    }
}
