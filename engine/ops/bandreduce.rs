//! Reduction of symmetric matrices to band form, the first stage of the two-stage dense
//! eigensolver (shaders/bandreduce.wgsl): the panel QR and the band extraction. The
//! trailing-matrix products between panels are matmuls on views of the same buffers,
//! recorded by `linalg::two_stage`.

use std::sync::Arc;

use anyhow::{bail, Result};

use super::launch::{kernels, launch, Grid, Words};
use super::real::{check_u32_index, Real};
use super::shaders::{BANDREDUCE, BANDREDUCE_BCAST};
use crate::gpu::{Batch, Gpu, Kernel, Tensor};

/// The widest band (columns per panel) the panel kernel handles: its PANEL_COLS.
pub const MAX_BAND: usize = 32;

/// Loop iterations lavapipe lets one invocation make in all (see
/// `ops::matmul::MATMUL_K_SLICE`), less a margin.
const LOOP_ITERATIONS: usize = 60_000;

/// Rows the panel kernel handles for a band of width `b`, from the loop iterations a
/// SIMD group of its invocations runs, counted as lavapipe counts them (every loop's exit
/// pass included) for groups of up to 16 invocations (8 with lavapipe's default 256-bit
/// vectors, 16 with 512-bit ones). Loops take 8 rows per iteration (two vec4s), a
/// remainder of one vec4 after the loop. All invocations load and store their columns
/// together: two loops of m / 8 + 1. The loop over reflectors, b + 1; per reflector,
/// `dot_columns` and `apply_reflector`: two loops of m / 8 + 1. Each invocation of the
/// group forms its reflector once (b + 1 iterations writing R) and takes its column's
/// sum of squares once (m / 8 + 1); T's rows take b² / 2 + 2b. In all at most
/// m (2b + 18) / 8 + 2 + (b + 1) + 2b + 16 (b + 1) + 16 + b² / 2 + 2b, which lavapipe
/// caps. (An earlier count that left out a loop let a review find T wrong from m = 5555
/// with 16 lanes.)
pub const fn max_panel_rows(b: usize) -> usize {
    let fixed = 2 + (b + 1) + 2 * b + 16 * (b + 1) + 16 + b * b / 2 + 2 * b;
    8 * (LOOP_ITERATIONS - fixed) / (2 * b + 18)
}

/// The kernels of one precision, built once.
pub struct BandReduce<T: Real> {
    panel: Arc<Kernel>,
    /// `panel_private`, for panels of at most [`PRIVATE_ROWS`] rows, where chosen.
    short_panel: Option<Arc<Kernel>>,
    extract: Arc<Kernel>,
    _element: std::marker::PhantomData<T>,
}

/// The most rows a panel may have for `panel_private` (its PRIVATE_VEC4S * 4): taller
/// panels take `panel_shared`. At this height a SIMD group of 16 lanes makes at most
/// about 12,000 loop iterations (counted as [`max_panel_rows`] counts; `store_private`'s
/// 1,024 and the 16 reflectors its lanes form among them; fewer since the products' lane
/// loops are written out), below lavapipe's cap of 65,535. The private array is 8 KiB
/// per invocation in f64 (4 KiB in f32), zeroed at each launch.
pub const PRIVATE_ROWS: usize = 1024;

/// The kernel that reduces a panel: the same reflectors either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PanelKernel {
    /// `panel` (shaders/bandreduce.wgsl): every invocation reads all of v_j.
    Plain,
    /// `panel_shared` (shaders/bandreduce_bcast.wgsl): v_j read once per subgroup and
    /// shared by broadcasts. Needs subgroups.
    Shared,
    /// `panel_private` (shaders/bandreduce_bcast.wgsl): `panel_shared` with each
    /// invocation's column in its private memory, for panels of at most
    /// [`PRIVATE_ROWS`] rows (`panel_shared` takes taller ones; the same sums in the same
    /// order, so the same bits). For CPU adapters with subgroups: on a GPU, 8 KiB of
    /// private memory per invocation would spill.
    Private,
}

impl PanelKernel {
    pub const ALL: [PanelKernel; 3] = [
        PanelKernel::Plain,
        PanelKernel::Shared,
        PanelKernel::Private,
    ];

    /// `Private` on a CPU adapter with subgroups, where a load that differs between lanes
    /// is a loop over them (docs/PERFORMANCE.md); `Plain` elsewhere, where the others were
    /// not measured.
    pub fn for_device(gpu: &Gpu) -> PanelKernel {
        if PanelKernel::Private.available(gpu) {
            PanelKernel::Private
        } else {
            PanelKernel::Plain
        }
    }

    /// Whether the adapter can run this kernel.
    pub fn available(self, gpu: &Gpu) -> bool {
        match self {
            PanelKernel::Plain => true,
            PanelKernel::Shared => Self::shared_lanes(gpu).is_some(),
            PanelKernel::Private => Self::shared_lanes(gpu).is_some() && gpu.summary.is_cpu(),
        }
    }

    /// The lanes `panel_shared` shares v_j between (PANEL_SG): the adapter's smallest
    /// subgroup size, at most 8 (`panel_private` writes out the terms of eight lanes);
    /// `None` without subgroups, or where a subgroup may be wider than the kernel's
    /// workgroup (MAX_BAND invocations) and so not whole.
    fn shared_lanes(gpu: &Gpu) -> Option<u32> {
        let lanes = gpu.summary.subgroup_min_size.min(8);
        let subgroups = gpu.features().contains(wgpu::Features::SUBGROUP);
        let whole = gpu.summary.subgroup_max_size as usize <= MAX_BAND;
        (subgroups && whole && lanes >= 1).then_some(lanes)
    }
}

/// Device buffers for reducing `count` matrices of order `n` to semi-bandwidth `b`: the
/// shader's bindings, and the products between panels.
pub struct BandWork<T: Real> {
    pub count: usize,
    pub n: usize,
    pub b: usize,
    /// `[count, n, n]`: the matrices, reduced in place.
    pub work: Tensor<T>,
    /// `[n, 3b]`: [V | W | V] of the current panel, so that [W | V] and [V | W], the
    /// operands of the rank-2b update, are views of it with W in one place.
    pub vwv: Tensor<T>,
    /// `[n, b]`: V again, where the products read it (X = V T, and W −= ½ V M, which
    /// writes W in `vwv`: a buffer a launch writes must not be bound to it twice).
    pub v: Tensor<T>,
    /// `[b, b]`: T of the compact WY form Q = I - V T Vᵀ.
    pub tfac: Tensor<T>,
    /// `[count, n, b + 1]`: the lower bands, band[j][k] = B[j + k][j].
    pub band: Tensor<T>,
    /// `[n, b]`: X = V T.
    pub x: Tensor<T>,
    /// `[b, b]`: M = Xᵀ A22 X = Tᵀ Vᵀ A22 V T, for W −= ½ V M.
    pub tz: Tensor<T>,
    /// `[b, 4 ceil(n / 4)]`: the panel, transposed, while the panel kernel reduces it.
    pub scratch: Tensor<T>,
}

impl<T: Real> BandReduce<T> {
    /// The kernels, with the panel kernel [`PanelKernel::for_device`] picks.
    pub fn new(gpu: &Gpu) -> Result<Self> {
        Self::with_panel(gpu, PanelKernel::for_device(gpu))
    }

    /// The kernels with the panel kernel given (tests run each).
    pub fn with_panel(gpu: &Gpu, kernel: PanelKernel) -> Result<Self> {
        let name = &gpu.summary.name;
        match kernel {
            PanelKernel::Shared if !kernel.available(gpu) => bail!(
                "the shared panel kernel needs subgroup operations (SUBGROUP), which {name} \
                 lacks"
            ),
            PanelKernel::Private if !kernel.available(gpu) => bail!(
                "the private panel kernel is for CPU adapters with subgroup operations \
                 (SUBGROUP); {name} is not one"
            ),
            _ => {}
        }
        let shader = T::of(&BANDREDUCE);
        let [extract] = kernels(gpu, shader, ["extract_band"])?;
        let subgroup_kernel = |entry| {
            let lanes = PanelKernel::shared_lanes(gpu).unwrap_or(1);
            let overrides = [("PANEL_SG", lanes as f64)];
            gpu.kernel(T::of(&BANDREDUCE_BCAST), entry, &overrides)
        };
        let (panel, short_panel) = match kernel {
            PanelKernel::Plain => (gpu.kernel(shader, "panel", &[])?, None),
            PanelKernel::Shared => (subgroup_kernel("panel_shared")?, None),
            PanelKernel::Private => (
                subgroup_kernel("panel_shared")?,
                Some(subgroup_kernel("panel_private")?),
            ),
        };
        Ok(BandReduce {
            panel,
            short_panel,
            extract,
            _element: std::marker::PhantomData,
        })
    }

    /// Buffers for `count` matrices of order `n` and band `b` (1 ..= [`MAX_BAND`]).
    pub fn work(&self, gpu: &Gpu, count: usize, n: usize, b: usize) -> Result<BandWork<T>> {
        if b == 0 || b > MAX_BAND {
            bail!("band reduction: the band must be 1 to {MAX_BAND} wide, got {b}");
        }
        // The shaders index `work` and `band` in u32.
        let (count_w, n_w, b_w) = (count as u128, n as u128, b as u128);
        check_u32_index(
            &format!("band reduction of {count} matrices of order {n}"),
            (count_w * n_w * n_w).max(count_w * n_w * (b_w + 1)),
        )?;
        Ok(BandWork {
            count,
            n,
            b,
            work: Tensor::zeros(gpu, &[count, n, n])?,
            vwv: Tensor::zeros(gpu, &[n, 3 * b])?,
            v: Tensor::zeros(gpu, &[n, b])?,
            tfac: Tensor::zeros(gpu, &[b, b])?,
            band: Tensor::zeros(gpu, &[count, n, b + 1])?,
            x: Tensor::zeros(gpu, &[n, b])?,
            tz: Tensor::zeros(gpu, &[b, b])?,
            scratch: Tensor::zeros(gpu, &[b, n.div_ceil(4) * 4])?,
        })
    }

    /// Records the QR of matrix `mat`'s panel of columns `[col, col + b)` below the
    /// band: R in place, V into `v` and `vwv`, T into `tfac`.
    pub fn record_panel(
        &self, batch: &mut Batch, work: &BandWork<T>, mat: usize, col: usize,
    ) -> Result<()> {
        let rows = work.n.saturating_sub(col + work.b);
        check_matrix(work, mat)?;
        if rows < 2 {
            bail!(
                "band reduction: no panel at column {col} of matrix {mat} ({} matrices of \
                 order {}, band {})",
                work.count,
                work.n,
                work.b
            );
        }
        if rows > max_panel_rows(work.b) {
            bail!(
                "band reduction: a panel of {rows} rows is beyond what one workgroup may loop \
                 over ({} for band {}); orders beyond it need the one-stage reduction \
                 (DenseReduction::OneStage)",
                max_panel_rows(work.b),
                work.b
            );
        }
        let tensors = [&work.work, &work.vwv, &work.v, &work.tfac, &work.scratch];
        let buffers = tensors.map(|t| t.buffer());
        let params = Words::new([work.n, work.b, col, mat]);
        let kernel = match &self.short_panel {
            Some(short) if rows <= PRIVATE_ROWS => short,
            _ => &self.panel,
        };
        launch(batch, kernel, &buffers, &params, Grid::Groups(1))
    }

    /// Records the copy of matrix `mat`'s lower band into `work.band`.
    pub fn record_extract(&self, batch: &mut Batch, work: &BandWork<T>, mat: usize) -> Result<()> {
        check_matrix(work, mat)?;
        let params = Words::new([work.n, work.b, 0, mat]);
        let len = work.n * (work.b + 1);
        let buffers = [work.work.buffer(), work.band.buffer()];
        launch(batch, &self.extract, &buffers, &params, Grid::Elements(len))
    }
}

/// `mat` indexes one of `work`'s matrices.
fn check_matrix<T: Real>(work: &BandWork<T>, mat: usize) -> Result<()> {
    if mat >= work.count {
        bail!(
            "band reduction: matrix {mat} of a stack of {} (order {}, band {})",
            work.count,
            work.n,
            work.b
        );
    }
    Ok(())
}
