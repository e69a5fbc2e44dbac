//! Householder tridiagonalisation of a batch of symmetric matrices
//! (shaders/tridiagonalize.wgsl); the dense eigensolver's GPU half. Two ways to run it:
//! one workgroup per matrix ([`Reduction::Workgroup`]), or the wide reduction
//! ([`Reduction::Wide`]) that spreads each column's trailing-matrix work over many
//! workgroups, two launches per column recorded in one pass.

use std::sync::Arc;

use anyhow::{bail, Result};

use super::launch::kernels;
use super::real::Real;
use super::shaders::TRIDIAGONALIZE;
use crate::gpu::{grid_1d, groups_for, Batch, Gpu, GpuError, Kernel, Tensor};

/// Params of shaders/tridiagonalize.wgsl (16 bytes, the same in both precisions).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct TridiagonalizeParams {
    n: u32,
    count: u32,
    k_begin: u32,
    k_end: u32,
}

/// Most trailing-matrix element updates (symmetric product plus rank-2 update, per
/// matrix) one launch may do: lavapipe left launches unfinished past about 1e7
/// (2·Σm² over the columns reduced), so a fifth of that.
const WORK_PER_LAUNCH: usize = 2_000_000;

/// Column ranges [begin, end) of bounded work covering columns 0 .. n-1 (at least one
/// range, so that n = 1 still copies and writes its diagonal).
pub fn column_ranges(n: usize) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let (mut begin, mut work) = (0, 0);
    for k in 0..n.saturating_sub(1) {
        let m = n - k - 1;
        work += 2 * m * m + 4 * m;
        if work >= WORK_PER_LAUNCH {
            ranges.push((begin, k + 1));
            (begin, work) = (k + 1, 0);
        }
    }
    if begin < n.saturating_sub(1) || ranges.is_empty() {
        ranges.push((begin, n.saturating_sub(1)));
    }
    ranges
}

/// How the reduction spreads over the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    /// One workgroup per matrix: many small matrices in one launch, few launches.
    Workgroup,
    /// Each column's trailing-matrix update over many workgroups (`update`), one
    /// workgroup forming the reflector (`reflect`): 2n launches per stack of matrices,
    /// every core busy on large ones.
    Wide,
}

/// Orders from which the wide reduction is used: below it a matrix's column work is
/// too small to spread, and one workgroup per matrix needs fewer launches.
pub const WIDE_FROM_ORDER: usize = 128;

impl Reduction {
    /// The reduction for matrices of order `n`.
    pub fn for_order(n: usize) -> Reduction {
        if n >= WIDE_FROM_ORDER {
            Reduction::Wide
        } else {
            Reduction::Workgroup
        }
    }
}

/// The wide reduction's shape: the `override` constants of shaders/tridiagonalize.wgsl,
/// read from the shader so that host and device cannot disagree.
#[derive(Clone, Copy, Debug)]
struct WideShape {
    /// Columns one `update` workgroup covers.
    cols: usize,
    /// Least rows per chunk of the trailing matrix.
    chunk_rows: usize,
    /// Most chunks (partial sums per element).
    chunks: usize,
}

impl WideShape {
    fn of(update: &Kernel) -> Result<Self> {
        let read = |name| Ok::<_, anyhow::Error>(update.override_value(name)? as usize);
        let shape = WideShape {
            cols: read("COLS")?,
            chunk_rows: read("CHUNK_ROWS")?,
            chunks: read("CHUNKS")?,
        };
        let group = update.workgroup_size[0] as usize;
        if shape.cols == 0
            || !group.is_multiple_of(shape.cols)
            || shape.chunk_rows == 0
            || shape.chunks == 0
        {
            bail!(
                "shaders/tridiagonalize.wgsl: COLS must divide the workgroup size {group} and \
                 CHUNK_ROWS, CHUNKS be positive, got {shape:?}"
            );
        }
        Ok(shape)
    }

    /// Row chunks of a trailing matrix of order m (the shader's `chunk_count`).
    fn chunk_count(&self, m: usize) -> usize {
        m.div_ceil(self.chunk_rows).clamp(1, self.chunks)
    }
}

/// The reduction kernels of one precision, built once.
pub struct Tridiagonalize<T: Real> {
    kernel: Arc<Kernel>,
    mirror: Arc<Kernel>,
    reflect: Arc<Kernel>,
    update: Arc<Kernel>,
    shape: WideShape,
    _element: std::marker::PhantomData<T>,
}

/// Device buffers one reduction of `count` matrices of order `n` needs.
pub struct TridiagonalWork<T: Real> {
    pub count: usize,
    pub n: usize,
    /// `[count, n, n]`: the copy that is reduced in place.
    work: Tensor<T>,
    /// `[count, 2n]`: d (n), e (n - 1), then a 0, per matrix; what the host reads back.
    pub tri: Tensor<T>,
    /// `[count, 4n]`: two columns' reflectors and symmetric update vectors (one workgroup
    /// per matrix; `[count, 1]` for the wide reduction, which keeps them in `vecs`).
    scratch: Tensor<T>,
    /// The wide reduction's state, when it is the one used.
    wide: Option<WideWork<T>>,
}

/// Device buffers of the wide reduction (shaders/tridiagonalize.wgsl, bindings 5-8).
struct WideWork<T: Real> {
    /// `[count, 3n]`: v of even columns, v of odd columns, w.
    vecs: Tensor<T>,
    /// `[count, CHUNKS n]`: partial sums of A22 v per chunk of rows.
    psum: Tensor<T>,
    /// `[count, 2]`: tau of even and odd columns.
    taus: Tensor<T>,
    /// `[count]`: the next column to reduce, advanced on the device.
    step: Tensor<u32>,
}

impl<T: Real> Tridiagonalize<T> {
    /// Builds the kernel; for f64 fails naming SHADER_F64 when the adapter lacks it.
    pub fn new(gpu: &Gpu) -> Result<Self> {
        let entries = ["tridiagonalize", "mirror", "reflect", "update"];
        let [kernel, mirror, reflect, update] = kernels(gpu, T::of(&TRIDIAGONALIZE), entries)?;
        Ok(Tridiagonalize {
            kernel,
            mirror,
            reflect,
            shape: WideShape::of(&update)?,
            update,
            _element: std::marker::PhantomData,
        })
    }

    /// Device buffers for reducing `count` matrices of order `n` by `reduction`.
    pub fn work(
        &self, gpu: &Gpu, count: usize, n: usize, reduction: Reduction,
    ) -> Result<TridiagonalWork<T>> {
        let scratch_len = match reduction {
            Reduction::Workgroup => 4 * n,
            Reduction::Wide => 1,
        };
        let wide = match reduction {
            Reduction::Workgroup => None,
            Reduction::Wide => Some(WideWork {
                vecs: Tensor::zeros(gpu, &[count, 3 * n])?,
                psum: Tensor::zeros(gpu, &[count, self.shape.chunks * n])?,
                taus: Tensor::zeros(gpu, &[count, 2])?,
                step: Tensor::zeros(gpu, &[count])?,
            }),
        };
        Ok(TridiagonalWork {
            count,
            n,
            work: Tensor::zeros(gpu, &[count, n, n])?,
            tri: Tensor::zeros(gpu, &[count, 2 * n])?,
            scratch: Tensor::zeros(gpu, &[count, scratch_len])?,
            wide,
        })
    }

    /// Records the reduction of the `work.count` symmetric matrices `a`
    /// (`[count, n, n]` or, for one matrix, `[n, n]`; lower triangle read) into
    /// `work.tri`.
    pub fn record(
        &self, batch: &mut Batch, a: &Tensor<T>, work: &TridiagonalWork<T>,
    ) -> Result<()> {
        let (count, n) = (work.count, work.n);
        if a.len() != count * n * n || a.shape().last() != Some(&n) {
            bail!(GpuError::Shape(format!(
                "tridiagonalize: matrices of shape {:?} do not match {count} matrices of order {n}",
                a.shape()
            )));
        }
        if a.len() > u32::MAX as usize {
            bail!(
                "tridiagonalize: {count} matrices of order {n} exceed 32-bit indexing; \
                 reduce them in smaller batches"
            );
        }
        if let Some(wide) = &work.wide {
            return self.record_wide(batch, a, work, wide);
        }
        let buffers = [
            a.buffer(),
            work.work.buffer(),
            work.tri.buffer(),
            work.scratch.buffer(),
        ];
        let groups = grid_1d(batch.gpu(), count as u64)?;
        for (begin, end) in column_ranges(n) {
            let params = TridiagonalizeParams {
                n: n as u32,
                count: count as u32,
                k_begin: begin as u32,
                k_end: end as u32,
            };
            batch.dispatch(&self.kernel, &buffers, Some(&params), groups)?;
        }
        Ok(())
    }

    /// The wide reduction: mirror, then reflect and update per column, all in one
    /// pass with one bind group per kernel (the column index advances on the device).
    fn record_wide(
        &self, batch: &mut Batch, a: &Tensor<T>, work: &TridiagonalWork<T>, wide: &WideWork<T>,
    ) -> Result<()> {
        let (count, n) = (work.count, work.n);
        let limit = batch.gpu().limits().max_compute_workgroups_per_dimension as usize;
        if count > limit {
            bail!(
                "tridiagonalize: {count} matrices in one stack exceed the adapter's {limit} \
                 workgroups per dimension; reduce them in smaller stacks"
            );
        }
        let params = TridiagonalizeParams {
            n: n as u32,
            count: count as u32,
            k_begin: 0,
            k_end: 0,
        };
        let mirror = batch.bind(
            &self.mirror,
            &[a.buffer(), work.work.buffer()],
            Some(&params),
        )?;
        let state = [
            work.work.buffer(),
            work.tri.buffer(),
            wide.vecs.buffer(),
            wide.psum.buffer(),
            wide.taus.buffer(),
            wide.step.buffer(),
        ];
        let reflect = batch.bind(&self.reflect, &state, Some(&params))?;
        let update = batch.bind(
            &self.update,
            &[state[0], state[2], state[3], state[5]],
            Some(&params),
        )?;
        let mut launches = vec![(
            &mirror,
            grid_1d(batch.gpu(), groups_for(count * n * n, 256))?,
        )];
        let reflect_groups = grid_1d(batch.gpu(), count as u64)?;
        for k in 0..n {
            launches.push((&reflect, reflect_groups));
            if k + 1 < n {
                let m = n - k - 1;
                let cols = m.div_ceil(self.shape.cols) as u32;
                let chunks = self.shape.chunk_count(m) as u32;
                launches.push((&update, [cols, chunks, count as u32]));
            }
        }
        batch.launches("tridiagonalize (wide)", &launches)
    }
}
