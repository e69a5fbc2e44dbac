//! `C = alpha * op(A) * op(B) + beta * C` in f32 or f64 (shaders/matmul.wgsl).

use std::marker::PhantomData;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::Result;

use super::launch::{triangle_tiles, KernelsBy, Scratch};
pub use super::matmul_bcast::broadcast_vec4_reads;
use super::matmul_bcast::{Broadcast, BroadcastShape};
use super::matview::check_views;
pub use super::matview::{matmul_dims, MatView, MatmulDims};
use super::parse_name;
use super::real::{check_u32_index, Real, RealPair};
use super::shaders::{Family, MATMUL, MATMUL_BCAST};
use crate::gpu::adapter::{device_choice, env_value};
use crate::gpu::{grid_1d, groups_for, Batch, Bound, Gpu, Kernel, Tensor};

/// Which kernel computes the product. Both compute the same function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatmulVariant {
    /// One output per invocation: the reference the others are checked against.
    Naive,
    /// 128x128 workgroup tiles staged in shared memory, 8x8 outputs per invocation.
    Tiled,
    /// 128x32 tiles, 4x4 outputs per invocation: for products with few columns, where
    /// most of a 128x128 tile would be padding.
    Skinny,
    /// 16-row tiles, 4 columns per invocation, op(A) shared between lanes by subgroup
    /// broadcasts and no workgroup memory: for CPU drivers, where loads that differ
    /// between lanes cost a loop over the lanes (shaders/matmul_bcast.wgsl). Needs the
    /// adapter's SUBGROUP feature.
    Broadcast,
}

impl MatmulVariant {
    pub const ALL: [MatmulVariant; 4] = [
        MatmulVariant::Naive,
        MatmulVariant::Tiled,
        MatmulVariant::Skinny,
        MatmulVariant::Broadcast,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MatmulVariant::Naive => "naive",
            MatmulVariant::Tiled => "tiled",
            MatmulVariant::Skinny => "skinny",
            MatmulVariant::Broadcast => "broadcast",
        }
    }

    /// The variant for general products on this adapter (the network's passes, the
    /// two-stage reduction's): `Broadcast` on a CPU adapter with subgroups (lavapipe's
    /// Vulkan driver), where it ran a network's products 1.5-12x faster than `Tiled`
    /// (NN, NT and TN in f32, NT in f64; docs/PERFORMANCE.md); `Tiled` elsewhere (on a
    /// GPU each of its loads is cheap and shared by 64 outputs). [`MATMUL_VARIABLE`]
    /// overrides the choice, for benchmarks; `broadcast` on an adapter without
    /// subgroups is an error.
    pub fn for_device(gpu: &Gpu) -> Result<MatmulVariant> {
        let cpu_with_subgroups = gpu.summary.is_cpu() && MatmulVariant::Broadcast.available(gpu);
        let chosen = Self::chosen(env_value(MATMUL_VARIABLE).as_deref(), cpu_with_subgroups)?;
        if !chosen.available(gpu) {
            anyhow::bail!(
                "{MATMUL_VARIABLE}=broadcast: {} lacks the subgroup operations the broadcast \
                 matmul needs (SUBGROUP, subgroups of at least 4 lanes): use tiled or auto",
                gpu.summary.name
            );
        }
        Ok(chosen)
    }

    /// The variant [`MATMUL_VARIABLE`]'s value `choice` (unset: `None`) asks for, where
    /// the default is `Broadcast` or `Tiled`.
    fn chosen(choice: Option<&str>, broadcast_by_default: bool) -> Result<MatmulVariant> {
        let named = [
            ("tiled", MatmulVariant::Tiled),
            ("broadcast", MatmulVariant::Broadcast),
        ];
        let defaults = (MatmulVariant::Broadcast, MatmulVariant::Tiled);
        device_choice(
            MATMUL_VARIABLE,
            choice,
            broadcast_by_default,
            defaults,
            &named,
        )
    }

    /// Whether the adapter can run this variant (the broadcast one needs subgroups).
    pub fn available(self, gpu: &Gpu) -> bool {
        self != MatmulVariant::Broadcast || Broadcast::of(gpu).is_ok()
    }

    /// The shader family of its entry points.
    fn family(self) -> &'static Family {
        match self {
            MatmulVariant::Broadcast => &MATMUL_BCAST,
            _ => &MATMUL,
        }
    }

    fn entry(self) -> &'static str {
        match self {
            MatmulVariant::Naive => "matmul_naive",
            MatmulVariant::Tiled => "matmul_tiled",
            MatmulVariant::Skinny => "matmul_skinny",
            MatmulVariant::Broadcast => "matmul_bcast",
        }
    }

    /// The entry that writes one split of the depth into partial sums (split-k), for the
    /// variants that split.
    fn split_entry(self) -> Option<&'static str> {
        match self {
            MatmulVariant::Naive | MatmulVariant::Broadcast => None,
            MatmulVariant::Tiled => Some("matmul_split"),
            MatmulVariant::Skinny => Some("matmul_skinny_split"),
        }
    }

    /// Output tile of one workgroup, (rows, columns), as the shader declares it: the
    /// naive kernel's workgroup size, the tiled and skinny kernels' TILED_M / TILED_N
    /// and SKINNY_M / SKINNY_N overrides.
    fn tile(self, kernel: &Kernel) -> Result<(u32, u32)> {
        Ok(match self {
            MatmulVariant::Naive => (kernel.workgroup_size[1], kernel.workgroup_size[0]),
            MatmulVariant::Tiled => (
                kernel.override_value("TILED_M")? as u32,
                kernel.override_value("TILED_N")? as u32,
            ),
            MatmulVariant::Skinny => (
                kernel.override_value("SKINNY_M")? as u32,
                kernel.override_value("SKINNY_N")? as u32,
            ),
            MatmulVariant::Broadcast => (
                kernel.override_value("BCAST_M")? as u32,
                4 * kernel.override_value("BCAST_W")? as u32,
            ),
        })
    }
}

impl FromStr for MatmulVariant {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        parse_name("matmul variant", s, &Self::ALL, Self::name)
    }
}

/// The environment variable that chooses [`MatmulVariant::for_device`]'s variant (and so
/// the Gram kernel's, `crate::ops::gram::Gram::new`): `tiled`, `broadcast` or `auto`
/// (the default).
pub const MATMUL_VARIABLE: &str = "WIDEPROBE_MATMUL";

/// Storage layouts of the operands: `N` as stored, `T` transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// A * B
    NN,
    /// A * B^T
    NT,
    /// A^T * B
    TN,
    /// A^T * B^T
    TT,
}

impl Layout {
    pub const ALL: [Layout; 4] = [Layout::NN, Layout::NT, Layout::TN, Layout::TT];

    pub fn name(self) -> &'static str {
        match self {
            Layout::NN => "nn",
            Layout::NT => "nt",
            Layout::TN => "tn",
            Layout::TT => "tt",
        }
    }

    pub fn trans_a(self) -> bool {
        matches!(self, Layout::TN | Layout::TT)
    }

    pub fn trans_b(self) -> bool {
        matches!(self, Layout::NT | Layout::TT)
    }

    /// The layout of op(A) and op(B) as their transposes or not.
    fn of(trans_a: bool, trans_b: bool) -> Layout {
        match (trans_a, trans_b) {
            (false, false) => Layout::NN,
            (false, true) => Layout::NT,
            (true, false) => Layout::TN,
            (true, true) => Layout::TT,
        }
    }

    /// The layout of the transposed product: Cᵀ = op(B)ᵀ op(A)ᵀ, B taking A's place.
    fn transposed(self) -> Layout {
        Layout::of(!self.trans_b(), !self.trans_a())
    }

    /// The shader's override constants for this layout (TRANS_A, TRANS_B).
    pub(super) fn overrides(self) -> [(&'static str, f64); 2] {
        [
            ("TRANS_A", self.trans_a() as u32 as f64),
            ("TRANS_B", self.trans_b() as u32 as f64),
        ]
    }
}

/// What a product may assume of A and leave out of C, for symmetric updates (the dense
/// eigensolver's trailing matrix, kept as its lower triangle).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Symmetry {
    /// A is square and symmetric: only its lower triangle is read.
    pub symmetric_a: bool,
    /// Only C's lower triangle must be written: the tiled kernel skips tiles strictly
    /// above the diagonal, the broadcast kernel launches none for them (others may still
    /// write there).
    pub lower_only: bool,
}

impl Symmetry {
    pub const NONE: Symmetry = Symmetry {
        symmetric_a: false,
        lower_only: false,
    };

    pub(super) fn overrides(self) -> [(&'static str, f64); 2] {
        [
            ("SYMMETRIC_A", self.symmetric_a as u32 as f64),
            ("LOWER_ONLY", self.lower_only as u32 as f64),
        ]
    }
}

impl FromStr for Layout {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        parse_name("layout", s, &Self::ALL, Self::name)
    }
}

/// Params of shaders/matmul.wgsl: sizes, the operands' views, then alpha and beta at
/// byte 64.
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct Params {
    m: u32,
    n: u32,
    k: u32,
    k_begin: u32,
    k_end: u32,
    split_len: u32,
    splits: u32,
    /// (offset, stride) of A, B and C.
    views: [[u32; 2]; 3],
    _pad: [u32; 3],
    alpha_beta: RealPair,
}

const _: () = assert!(std::mem::offset_of!(Params, alpha_beta) == 64);

/// The inner indices one launch sums at most; a deeper product is several launches, the
/// later ones accumulating into C with beta = 1.
///
/// llvmpipe / lavapipe (Mesa's software Vulkan driver, the one CI runs on) ends every
/// loop of a shader invocation after 65,535 iterations in all, shared between its loops
/// (`LP_MAX_TGSI_LOOP_ITERATIONS` in gallivm), silently: from k = 65,535 on the naive
/// kernel summed only the first 65,535 products and the tiled one left outputs unwritten
/// (issue 13 row 7). 4096 keeps the naive loop (4096 iterations) and the tiled one (256
/// steps of 16, under 100 loop iterations each even if no inner loop is unrolled) far
/// below that on every driver, and costs one extra read and write of C per 4096 of depth.
pub const MATMUL_K_SLICE: usize = 4096;

/// Output tiles below which the tiled variant splits a product's depth over more
/// workgroups (split-k): a device runs dozens to hundreds of workgroups at once, and a
/// skinny output (96 x 384: 3 tiles) would leave all but a few of them idle while each
/// sums the whole depth.
pub const SPLIT_TARGET_GROUPS: usize = 128;

/// Products with at most this many rows, and more columns than rows, run on the tiled
/// variant as their transpose on the skinny tile, C stored transposed: Cᵀ = op(B)ᵀ op(A)ᵀ
/// puts the many columns on the skinny tile's 128 rows and the few rows on its 32
/// columns, where a 128 x 128 tile would be mostly padding (a network's layers with 32
/// examples; docs/PERFORMANCE.md).
pub const SHORT_ROWS: usize = 32;

/// Least depth one split sums: shallower splits cost more in partial sums written and
/// read back than they gain.
pub const SPLIT_MIN_DEPTH: usize = 256;

/// Depth per split and number of splits for `tiles` output tiles summing `depth` inner
/// indices: (depth, 1) when the product fills the device or is too shallow to split.
/// The depth per split is a multiple of 16 (whole staged slices in either precision) and
/// every split sums at least one index.
pub fn split_depth(tiles: usize, depth: usize) -> (usize, usize) {
    let wanted = SPLIT_TARGET_GROUPS
        .div_ceil(tiles.max(1))
        .min(depth / SPLIT_MIN_DEPTH);
    if wanted <= 1 {
        return (depth, 1);
    }
    let len = depth.div_ceil(wanted).next_multiple_of(16);
    (len, depth.div_ceil(len))
}

/// One product as the kernels will run it: the variant and kernel, their override
/// constants (for the split kernels), the views of A, B and C, and the dimensions.
struct Plan<'k> {
    variant: MatmulVariant,
    kernel: &'k Kernel,
    overrides: &'k [(&'static str, f64)],
    /// C is written transposed (TRANS_C in `overrides`): the split sum must write it so.
    transposed: bool,
    /// Only C's lower tiles are computed (LOWER_ONLY in `overrides`).
    lower_only: bool,
    views: [[u32; 2]; 3],
    dims: MatmulDims,
}

/// The matmul kernels of one variant in one precision, for every layout.
pub struct Matmul<T: Real> {
    variant: MatmulVariant,
    /// Every layout's kernel without symmetry, for the variants whose overrides depend on
    /// nothing else.
    kernels: Option<KernelsBy<Layout>>,
    /// The split products' partial sums, `[splits, m, n]`.
    partial: Scratch<T>,
    _real: PhantomData<T>,
}

impl<T: Real> Matmul<T> {
    /// Builds the kernels; for f64, an error naming SHADER_F64 where the adapter lacks it.
    pub fn new(gpu: &Gpu, variant: MatmulVariant) -> Result<Self> {
        // The broadcast kernel's overrides depend on the operands' views: it is built
        // per product (and cached).
        let kernels = if variant == MatmulVariant::Broadcast {
            Broadcast::of(gpu)?;
            // Said now (SHADER_F64 for f64), as the other variants say it by building
            // their kernels.
            gpu.require_features(T::of(&MATMUL_BCAST))?;
            None
        } else {
            Some(KernelsBy::new(Layout::ALL, |layout| {
                gpu.kernel(T::of(&MATMUL), variant.entry(), &layout.overrides())
            })?)
        };
        Ok(Matmul {
            variant,
            kernels,
            partial: Scratch::default(),
            _real: PhantomData,
        })
    }

    pub fn variant(&self) -> MatmulVariant {
        self.variant
    }

    /// Builds now (into the device's pipeline cache) the kernels a product with `layout`
    /// and `symmetry` will need, split or not, so that recording it later compiles
    /// nothing: for solvers that time their solves apart from their setup.
    /// The broadcast variant's kernel is built for operands as aligned as `layout` and
    /// `symmetry` allow (A and B read four at a time); a product whose views are not
    /// builds its kernel when recorded.
    pub fn prepare(&self, gpu: &Gpu, layout: Layout, symmetry: Symmetry) -> Result<()> {
        if self.variant == MatmulVariant::Broadcast {
            let shape = BroadcastShape::widest(layout, symmetry);
            let overrides = Broadcast::of(gpu)?.overrides(layout, symmetry, shape);
            gpu.kernel(T::of(&MATMUL_BCAST), self.variant.entry(), &overrides)?;
            return Ok(());
        }
        let overrides = Self::overrides(layout, symmetry);
        gpu.kernel(T::of(&MATMUL), self.variant.entry(), &overrides)?;
        if let Some(split) = self.variant.split_entry() {
            gpu.kernel(T::of(&MATMUL), split, &overrides)?;
            SplitSum::kernel::<T>(gpu, false)?;
        }
        if self.variant == MatmulVariant::Tiled && symmetry == Symmetry::NONE {
            // Short products run transposed on the skinny kernels (SHORT_ROWS).
            let short = Self::transposed_overrides(layout);
            let skinny = MatmulVariant::Skinny;
            gpu.kernel(T::of(&MATMUL), skinny.entry(), &short)?;
            if let Some(split) = skinny.split_entry() {
                gpu.kernel(T::of(&MATMUL), split, &short)?;
            }
            SplitSum::kernel::<T>(gpu, true)?;
        }
        Ok(())
    }

    /// The override constants of a short product's transpose (see [`SHORT_ROWS`]).
    fn transposed_overrides(layout: Layout) -> Vec<(&'static str, f64)> {
        [
            layout.transposed().overrides().to_vec(),
            vec![("TRANS_C", 1.0)],
        ]
        .concat()
    }

    /// The override constants of a product; without symmetry, the ones (and pipeline
    /// keys) every other product uses.
    fn overrides(layout: Layout, symmetry: Symmetry) -> Vec<(&'static str, f64)> {
        match symmetry {
            Symmetry::NONE => layout.overrides().to_vec(),
            _ => [layout.overrides(), symmetry.overrides()].concat(),
        }
    }

    /// Records `C = alpha * op(A) * op(B) + beta * C`, alpha and beta rounded to `T`.
    /// With `beta == 0` C is only written.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self, batch: &mut Batch, layout: Layout, alpha: f64, a: &Tensor<T>, b: &Tensor<T>,
        beta: f64, c: &Tensor<T>,
    ) -> Result<MatmulDims> {
        let (a, b, c) = (
            MatView::whole(a, "A")?,
            MatView::whole(b, "B")?,
            MatView::whole(c, "C")?,
        );
        self.record_views(batch, (layout, Symmetry::NONE), alpha, a, b, beta, c)
    }

    /// [`Matmul::record`] on views: blocks of larger matrices, read and written in
    /// place, with what `symmetry` lets the kernels assume. C must not share a buffer
    /// with A or B.
    #[allow(clippy::too_many_arguments)]
    pub fn record_views(
        &self, batch: &mut Batch, (layout, symmetry): (Layout, Symmetry), alpha: f64,
        a: MatView<T>, b: MatView<T>, beta: f64, c: MatView<T>,
    ) -> Result<MatmulDims> {
        let dims = check_views(layout, symmetry, [&a, &b, &c])?;
        let short = self.variant == MatmulVariant::Tiled
            && symmetry == Symmetry::NONE
            && dims.m <= SHORT_ROWS
            && dims.n > dims.m;
        if short {
            return self.record_transposed(batch, layout, alpha, [a, b, c], beta, dims);
        }
        let overrides = match self.variant {
            MatmulVariant::Broadcast => Broadcast::of(batch.gpu())?.overrides(
                layout,
                symmetry,
                BroadcastShape::of(layout, symmetry, [&a, &b], dims),
            ),
            _ => Self::overrides(layout, symmetry),
        };
        let views = [a.offset_stride(), b.offset_stride(), c.offset_stride()];
        let (a, b, c) = (a.tensor, b.tensor, c.tensor);
        let built;
        let kernel = match &self.kernels {
            Some(kernels) if symmetry == Symmetry::NONE => kernels.get(layout),
            _ => {
                built = batch.gpu().kernel(
                    T::of(self.variant.family()),
                    self.variant.entry(),
                    &overrides,
                )?;
                &built
            }
        };
        let plan = Plan {
            variant: self.variant,
            kernel,
            overrides: &overrides,
            transposed: false,
            lower_only: symmetry.lower_only,
            views,
            dims,
        };
        self.record_plan(batch, &plan, (a, b, c), alpha, beta)?;
        Ok(dims)
    }

    /// A short product (see [`SHORT_ROWS`]) as its transpose on the skinny tile: op(B)ᵀ
    /// in A's place, op(A)ᵀ in B's, C written transposed, so C is what it would be.
    fn record_transposed(
        &self, batch: &mut Batch, layout: Layout, alpha: f64, [a, b, c]: [MatView<T>; 3],
        beta: f64, dims: MatmulDims,
    ) -> Result<MatmulDims> {
        let overrides = Self::transposed_overrides(layout);
        let variant = MatmulVariant::Skinny;
        let kernel = batch
            .gpu()
            .kernel(T::of(&MATMUL), variant.entry(), &overrides)?;
        let plan = Plan {
            variant,
            kernel: &kernel,
            overrides: &overrides,
            transposed: true,
            lower_only: false,
            views: [b.offset_stride(), a.offset_stride(), c.offset_stride()],
            dims: MatmulDims {
                m: dims.n,
                n: dims.m,
                k: dims.k,
            },
        };
        self.record_plan(batch, &plan, (b.tensor, a.tensor, c.tensor), alpha, beta)?;
        Ok(dims)
    }

    /// Records a planned product in depth slices of [`MATMUL_K_SLICE`], each split over
    /// its depth where the output has few tiles.
    fn record_plan(
        &self, batch: &mut Batch, plan: &Plan, (a, b, c): (&Tensor<T>, &Tensor<T>, &Tensor<T>),
        alpha: f64, beta: f64,
    ) -> Result<()> {
        let (dims, kernel, views) = (plan.dims, plan.kernel, plan.views);
        let (tile_m, tile_n) = plan.variant.tile(kernel)?;
        let groups = [
            (dims.n as u32).div_ceil(tile_n),
            (dims.m as u32).div_ceil(tile_m),
            1,
        ];
        let tiles = groups[0] as usize * groups[1] as usize;
        // The broadcast kernel's lower-only launches have one workgroup per lower tile
        // (shaders/common.wgsl triangle_tile).
        let lower_broadcast = plan.variant == MatmulVariant::Broadcast && plan.lower_only;
        let broadcast_groups = match lower_broadcast {
            true => grid_1d(
                batch.gpu(),
                triangle_tiles([dims.m, dims.n], [tile_m, tile_n], true),
            )?,
            false => groups,
        };
        // At least one launch, so that k = 0 still gives C = beta C.
        let mut k_begin = 0;
        loop {
            let k_end = (k_begin + MATMUL_K_SLICE).min(dims.k);
            let (split_len, splits) = match plan.variant.split_entry() {
                Some(_) => split_depth(tiles, k_end - k_begin),
                None => (k_end - k_begin, 1),
            };
            let params = Params {
                m: dims.m as u32,
                n: dims.n as u32,
                k: dims.k as u32,
                k_begin: k_begin as u32,
                k_end: k_end as u32,
                split_len: split_len as u32,
                splits: splits as u32,
                views,
                alpha_beta: T::pair(alpha, if k_begin == 0 { beta } else { 1.0 }),
                ..Default::default()
            };
            if splits > 1 {
                self.record_split(batch, plan, (a, b, c), &params, [groups[0], groups[1]])?;
            } else if plan.variant == MatmulVariant::Broadcast {
                // Its vec4 views of A and B are the same buffers again.
                let buffers = [a.buffer(), b.buffer(), c.buffer(), a.buffer(), b.buffer()];
                batch.dispatch(kernel, &buffers, Some(&params), broadcast_groups)?;
            } else {
                batch.dispatch(
                    kernel,
                    &[a.buffer(), b.buffer(), c.buffer()],
                    Some(&params),
                    groups,
                )?;
            }
            if k_end == dims.k {
                break;
            }
            k_begin = k_end;
        }
        Ok(())
    }

    /// One depth slice as `params.splits` partial products (matmul_split over a z grid of
    /// splits), then their sum into C (matmul_split_sum).
    fn record_split(
        &self, batch: &mut Batch, plan: &Plan, (a, b, c): (&Tensor<T>, &Tensor<T>, &Tensor<T>),
        params: &Params, tiles: [u32; 2],
    ) -> Result<()> {
        let (m, n, splits) = (params.m as usize, params.n as usize, params.splits as usize);
        let len = splits * m * n;
        check_u32_index(
            &format!("matmul split into {splits} partial {m}x{n} products"),
            len as u128,
        )?;
        let gpu = batch.gpu();
        let Some(entry) = plan.variant.split_entry() else {
            anyhow::bail!("matmul: the {} variant does not split", plan.variant.name());
        };
        let split = gpu.kernel(T::of(&MATMUL), entry, plan.overrides)?;
        let partial = self.partial.at_least(gpu, len)?;
        let split_bound = batch.bind(&split, &[a.buffer(), b.buffer(), &partial], Some(params))?;
        let sum = SplitSum::with_params::<T>(gpu, *params, plan.transposed)?;
        let (sum_bound, sum_groups) = sum.bind(batch, &partial, c.buffer())?;
        // One pass, so that a timed batch times the product as one launch.
        batch.launches(
            &split.label,
            &[
                (&split_bound, [tiles[0], tiles[1], splits as u32]),
                (&sum_bound, sum_groups),
            ],
        )
    }
}

/// The second half of a product split over its depth, for matmul and gram alike:
/// C = alpha · (partial[0] + … + partial[splits − 1]) + beta · C, the splits added in
/// order (matmul_split_sum in shaders/matmul.wgsl), C unread when beta = 0.
pub(super) struct SplitSum {
    kernel: Arc<Kernel>,
    params: Params,
}

impl SplitSum {
    /// The sum of `splits` partial m x n results into C.
    pub(super) fn new<T: Real>(
        gpu: &Gpu, (m, n): (usize, usize), splits: usize, alpha: f64, beta: f64,
    ) -> Result<Self> {
        let params = Params {
            m: m as u32,
            n: n as u32,
            splits: splits as u32,
            // C is a whole m x n matrix.
            views: [[0, 0], [0, 0], [0, n as u32]],
            alpha_beta: T::pair(alpha, beta),
            ..Default::default()
        };
        Self::with_params::<T>(gpu, params, false)
    }

    /// `transposed`: C is written transposed (TRANS_C), as a short product's is.
    fn with_params<T: Real>(gpu: &Gpu, params: Params, transposed: bool) -> Result<Self> {
        Ok(SplitSum {
            kernel: Self::kernel::<T>(gpu, transposed)?,
            params,
        })
    }

    /// The sum's kernel, writing C transposed or not (built once, then cached).
    fn kernel<T: Real>(gpu: &Gpu, transposed: bool) -> Result<Arc<Kernel>> {
        let overrides: &[(&str, f64)] = if transposed { &[("TRANS_C", 1.0)] } else { &[] };
        gpu.kernel(T::of(&MATMUL), "matmul_split_sum", overrides)
    }

    /// The sum bound to its buffers, and its grid, for a caller's pass.
    pub(super) fn bind(
        &self, batch: &mut Batch, partial: &wgpu::Buffer, c: &wgpu::Buffer,
    ) -> Result<(Bound<'_>, [u32; 3])> {
        let len = self.params.m as usize * self.params.n as usize;
        let groups = grid_1d(batch.gpu(), groups_for(len, self.kernel.workgroup_size[0]))?;
        Ok((
            batch.bind(&self.kernel, &[c, partial], Some(&self.params))?,
            groups,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_error_names;

    #[test]
    fn variant_defaults_by_adapter_and_names_bad_values() {
        use MatmulVariant::{Broadcast, Tiled};
        // (WIDEPROBE_MATMUL's value, whether the adapter defaults to Broadcast, the variant)
        let cases = [
            (None, true, Broadcast),
            (Some(""), true, Broadcast),
            (Some("auto"), true, Broadcast),
            (None, false, Tiled),
            (Some("auto"), false, Tiled),
            (Some("tiled"), true, Tiled),
            (Some("broadcast"), false, Broadcast),
        ];
        for (choice, broadcast_by_default, want) in cases {
            let got = MatmulVariant::chosen(choice, broadcast_by_default).unwrap();
            assert_eq!(
                got, want,
                "{choice:?}, broadcast by default: {broadcast_by_default}"
            );
        }
        assert_error_names(
            MatmulVariant::chosen(Some("skinny"), true),
            &["WIDEPROBE_MATMUL=skinny", "tiled", "broadcast", "auto"],
        );
    }
}
