//! Two-stage reduction to tridiagonal form for the dense eigensolver (LAPACK sytrd_2stage,
//! MAGMA, ELPA): full → band of semi-bandwidth b on the GPU, then band → tridiagonal on
//! the host ([`super::band`]).
//!
//! Why two stages: a one-stage Householder reduction reads the whole trailing matrix
//! once per column (n³/3 elements, even blocked), which bounds it by memory bandwidth.
//! Here each panel of b columns is one QR (ops::bandreduce) and the trailing matrix's
//! lower triangle is read twice and written once per panel, by matmuls: about n³/(2b)
//! elements in all, and the arithmetic runs at the matmul kernels' rate. The band stage
//! costs O(n² b) on the host.
//!
//! Per panel of columns [c, c + b), with A22 the trailing matrix (order m = n − c − b)
//! and Q = I − V T Vᵀ the panel's reflectors:
//! Y = A22 V, W = Y T − ½ V (Tᵀ Vᵀ Y T), A22 ← A22 − W Vᵀ − V Wᵀ = Qᵀ A22 Q, computed
//! as X = V T, W = A22 X, M = Xᵀ W, W −= ½ V M and the rank-2b update: five matmuls on
//! views of the work buffers and the panel kernel per panel.
//! One readback per batch of matrices (the bands).

use anyhow::{bail, Result};

use super::band::band_to_tridiagonal;
use super::host_threads::map_in_parallel;
use super::Real;
use crate::gpu::{Batch, Gpu, Tensor};
use crate::ops::bandreduce::{max_panel_rows, BandReduce, BandWork, MAX_BAND};
use crate::ops::matmul::{MatView, Symmetry};
use crate::ops::{Layout, Matmul, MatmulVariant};

/// The band's semi-bandwidth: wider bands make the GPU stage's matmuls deeper (closer
/// to the kernel's peak) and the host stage proportionally longer.
pub const BAND: usize = MAX_BAND;

/// A22 is kept as its lower triangle: read as symmetric (A22 V), updated below the
/// diagonal only (the rank-2b update).
const SYMMETRIC: Symmetry = Symmetry {
    symmetric_a: true,
    lower_only: false,
};
const LOWER: Symmetry = Symmetry {
    symmetric_a: false,
    lower_only: true,
};

/// The order [`TwoStage::warm_up`] reduces: three panels, so that every kernel a
/// reduction of order up to 1,056 launches on a CPU adapter is launched (their overrides
/// do not depend on the order; taller first panels take `panel_shared` too, which this
/// leaves for the first solve that needs it).
const WARM_UP_ORDER: usize = 4 * BAND;

/// The largest order the two-stage reduction takes: its panel kernel loops over a
/// panel's rows in one workgroup, and lavapipe caps an invocation's loop iterations
/// ([`max_panel_rows`]).
pub const MAX_ORDER: usize = max_panel_rows(BAND);

/// Whether the two-stage reduction can take matrices of order `n`.
pub fn fits(n: usize) -> bool {
    n <= MAX_ORDER
}

/// The kernels of the GPU stage in one precision, built once.
pub struct TwoStage<T: Real> {
    band: BandReduce<T>,
    /// The rank-2b update of the trailing matrix (its lower tiles).
    update: Matmul<T>,
    /// The products with b columns (A22 V and the panel's small products): a 128 x 128
    /// tile would compute mostly padding there.
    products: Matmul<T>,
}

impl<T: Real> TwoStage<T> {
    /// Builds every kernel the reduction records (the symmetric and split products
    /// included), so that a timed solve compiles nothing. On a CPU adapter with subgroups
    /// every product runs on the broadcast kernel (2-5x the tiled and skinny kernels'
    /// rate on lavapipe; docs/PERFORMANCE.md).
    pub fn new(gpu: &Gpu) -> Result<Self> {
        let (update, products) = match MatmulVariant::for_device(gpu)? {
            MatmulVariant::Broadcast => (MatmulVariant::Broadcast, MatmulVariant::Broadcast),
            _ => (MatmulVariant::Tiled, MatmulVariant::Skinny),
        };
        let stage = TwoStage {
            band: BandReduce::new(gpu)?,
            update: Matmul::new(gpu, update)?,
            products: Matmul::new(gpu, products)?,
        };
        stage.update.prepare(gpu, Layout::NT, LOWER)?;
        for (layout, symmetry) in [
            (Layout::NN, SYMMETRIC),
            (Layout::NN, Symmetry::NONE),
            (Layout::TN, Symmetry::NONE),
        ] {
            stage.products.prepare(gpu, layout, symmetry)?;
        }
        if gpu.summary.is_cpu() {
            gpu.once(&format!("two-stage warm-up {}", T::NAME), || {
                stage.warm_up(gpu)
            })?;
        }
        Ok(stage)
    }

    /// Reduces a matrix of order [`WARM_UP_ORDER`], once per device and precision
    /// ([`Gpu::once`]). llvmpipe (lavapipe) compiles a
    /// pipeline's machine code at its first launch, not when it is created: 2–6 ms per
    /// kernel, which a solve would otherwise pay for each of its kernels the first time
    /// (docs/PERFORMANCE.md). A training run builds the solver once per measured epoch.
    fn warm_up(&self, gpu: &Gpu) -> Result<()> {
        let n = WARM_UP_ORDER;
        let identity: Vec<T> = (0..n * n)
            .map(|i| T::from_f64(if i % (n + 1) == 0 { 1.0 } else { 0.0 }))
            .collect();
        let a = Tensor::from_slice(gpu, &[n, n], &identity)?;
        let work = self.work(gpu, 1, n)?;
        let mut batch = Batch::new(gpu);
        self.record(&mut batch, &a, &work)?;
        batch.submit()?;
        Ok(())
    }

    /// Device buffers for `count` matrices of order `n` (at most [`MAX_ORDER`]).
    pub fn work(&self, gpu: &Gpu, count: usize, n: usize) -> Result<BandWork<T>> {
        if !fits(n) {
            bail!(
                "the two-stage reduction takes orders up to {MAX_ORDER} (its panel kernel \
                 loops over a panel's rows in one workgroup, which lavapipe caps), got {n}: \
                 use the one-stage reduction"
            );
        }
        self.band.work(gpu, count, n, BAND)
    }

    /// Records the reduction to band form of `a` (`[count, n, n]` or `[n, n]`, lower
    /// triangles read) into `work.band`.
    pub fn record(&self, batch: &mut Batch, a: &Tensor<T>, work: &BandWork<T>) -> Result<()> {
        let (count, n, b) = (work.count, work.n, work.b);
        if !(a.shape() == [count, n, n] || (count == 1 && a.shape() == [n, n])) {
            bail!(
                "two-stage reduction: {count} matrices of order {n} need a [{count}, {n}, {n}] \
                 stack (or [{n}, {n}] for one), got shape {:?}",
                a.shape()
            );
        }
        // Every kernel below reads the lower triangle only: a plain copy will do.
        batch.copy(a.buffer(), work.work.buffer(), a.bytes());
        for mat in 0..count {
            for col in (0..n).step_by(b).take_while(|&c| n >= c + b + 2) {
                self.band.record_panel(batch, work, mat, col)?;
                self.record_update(batch, work, mat, col)?;
            }
            self.band.record_extract(batch, work, mat)?;
        }
        Ok(())
    }

    /// A22 ← Qᵀ A22 Q for the panel at `col` of matrix `mat`, by matmuls on views.
    fn record_update(
        &self, batch: &mut Batch, work: &BandWork<T>, mat: usize, col: usize,
    ) -> Result<()> {
        let (n, b) = (work.n, work.b);
        let m = n - col - b;
        // `vwv` is [V | W | V], row stride 3b: W is its columns [b, 2b), and the update's
        // operands [W | V] and [V | W] are its columns [b, 3b) and [0, 2b).
        let vwv = |first_col, cols| MatView::block(&work.vwv, 0, 3 * b, (0, first_col), (m, cols));
        let w = vwv(b, b)?;
        let v = MatView::block(&work.v, 0, b, (0, 0), (m, b))?;
        let a22 = MatView::block(&work.work, mat * n * n, n, (col + b, col + b), (m, m))?;
        let x = MatView::block(&work.x, 0, b, (0, 0), (m, b))?;
        let t = MatView::whole(&work.tfac, "T")?;
        let tz = MatView::whole(&work.tz, "M")?;
        let (update, products) = (&self.update, &self.products);
        let (nn, tn) = ((Layout::NN, Symmetry::NONE), (Layout::TN, Symmetry::NONE));
        // X = V T; W = A22 X (= Y T); M = Xᵀ W (= Tᵀ Vᵀ Y T): three products where
        // Y = A22 V, W = Y T, Z = Vᵀ W and Tᵀ Z took four. V is read from `v`, not `vwv`,
        // where W is written.
        products.record_views(batch, nn, 1.0, v, t, 0.0, x)?;
        products.record_views(batch, (Layout::NN, SYMMETRIC), 1.0, a22, x, 0.0, w)?;
        products.record_views(batch, tn, 1.0, x, w, 0.0, tz)?;
        products.record_views(batch, nn, -0.5, v, tz, 1.0, w)?;
        update.record_views(
            batch,
            (Layout::NT, LOWER),
            -1.0,
            vwv(b, 2 * b)?,
            vwv(0, 2 * b)?,
            1.0,
            a22,
        )?;
        Ok(())
    }
}

/// Reads the bands of a recorded reduction back (one readback) and reduces each to its
/// tridiagonal (d, e) on the host, the matrices spread over the host's cores.
pub fn tridiagonals<T: Real>(gpu: &Gpu, work: &BandWork<T>) -> Result<Vec<(Vec<f64>, Vec<f64>)>> {
    let (n, b) = (work.n, work.b);
    let bands: Vec<f64> = work.band.to_vec(gpu)?.into_iter().map(T::to_f64).collect();
    let bands: Vec<&[f64]> = bands.chunks(n * (b + 1)).collect();
    map_in_parallel(&bands, |band| band_to_tridiagonal(band, n, b))
        .into_iter()
        .collect()
}
