//! The empirical NTK K = J Jᵀ (MEASUREMENTS.md §6), J = ∂ vec(f) / ∂θ of shape
//! [n k, P], row p = i·k + c the gradient of logit c of example i. Two ways that must
//! agree:
//!
//! - [`ntk_explicit`]: the layerwise form K = Σ_l (A_l A_lᵀ (+1) ⊗ 1_{k×k}) ⊙ (Δ_l Δ_lᵀ),
//!   with Δ_l (n k rows) the backward of all n·k one-hot output cotangents at once
//!   (Novak et al. 2022). The Jacobian is never formed: memory O((nk)² + nk·width).
//! - [`NtkOperator`]: K v = J (Jᵀ v), one VJP (the backward pass) and one forward-mode
//!   JVP per product, as a symmetric operator for the Lanczos solver, for sizes where
//!   the (nk)² matrix does not fit.

use std::any::Any;
use std::sync::Arc;

use anyhow::{bail, Result};

use super::fcn::{
    record_backward, record_hidden_backward, record_input_gradient, record_jvp, Fcn, ForwardCache,
    ForwardOps, LayerCache,
};
use crate::gpu::{Batch, Gpu, Tensor};
use crate::linalg::{
    lanczos, matrix_spectrum, DenseEigensolver, DenseMatrix, LanczosOptions, PendingSpectra,
    Precision, Real, SpectrumMethod, SpectrumResult, SymmetricOperator,
};
use crate::ops::gram::Gram;
use crate::ops::ntk::NtkOps;
use crate::ops::vector::VectorOps;

/// Kernels the NTK needs beyond the network passes.
pub struct NtkKernels {
    gram: Gram,
    ntk: NtkOps,
}

impl NtkKernels {
    pub fn new(gpu: &Gpu) -> Result<Self> {
        Ok(NtkKernels {
            gram: Gram::new(gpu)?,
            ntk: NtkOps::new(gpu)?,
        })
    }
}

/// The kernel being assembled, the scratch every layer shares (each layer's Gram
/// matrices overwrite the last's) and the temporaries that must live until the batch
/// has run.
struct Assembly<T: Real> {
    kernel: Tensor<T>,
    ga: Tensor<T>,
    dd: Tensor<T>,
    keep: Vec<wgpu::Buffer>,
}

/// Records K += (A Aᵀ (+1) ⊗ 1) ⊙ (Δ Δᵀ) for one layer with input A [n, fan_in] and
/// Δ [n k, fan_out] of a network in `N`.
fn accumulate_layer<N: Real, T: Real>(
    batch: &mut Batch, kernels: &NtkKernels, input: &Tensor<N>, delta: &Tensor<N>, k: usize,
    bias: bool, scratch: &Assembly<T>,
) -> Result<()> {
    let Assembly { kernel, ga, dd, .. } = scratch;
    kernels.gram.record(batch, input, 1.0, ga)?;
    kernels.gram.record(batch, delta, 1.0, dd)?;
    let offset = if bias { 1.0 } else { 0.0 };
    kernels.ntk.accumulate(batch, ga, dd, k, offset, kernel)
}

/// A hidden layer's cache with every row repeated k times (row i·k + c = example i).
fn repeat_layer<N: Real>(
    batch: &mut Batch, kernels: &NtkKernels, layer: &LayerCache<N>, k: usize,
) -> Result<LayerCache<N>> {
    let gpu = batch.gpu();
    let (n, width) = layer.z.dims2("a layer's pre-activation")?;
    let repeat = |batch: &mut Batch, x: &Tensor<N>| -> Result<Tensor<N>> {
        let cols = x.len() / n;
        let out = Tensor::<N>::zeros(gpu, &[n * k, cols])?;
        kernels
            .ntk
            .repeat_rows(batch, &x.view(&[n, cols])?, k, &out)?;
        Ok(out)
    };
    let z = repeat(batch, &layer.z)?;
    let phi = repeat(batch, &layer.phi)?;
    let norms = match &layer.norms {
        Some(norms) => Some(repeat(batch, norms)?.view(&[n * k])?),
        None => None,
    };
    debug_assert_eq!(z.shape(), [n * k, width]);
    Ok(LayerCache { z, phi, norms })
}

/// The explicit empirical NTK [n k, n k] at the parameters `fcn` and the forward pass
/// `cache` (of the same inputs) of a network in `N`, assembled on the GPU in `T` (f64
/// for an f64 network): one submission.
pub fn ntk_explicit<N: Real, T: Real>(
    gpu: &Gpu, ops: &ForwardOps<N>, kernels: &NtkKernels, fcn: &Fcn<N>, cache: &ForwardCache<N>,
) -> Result<Tensor<T>> {
    let mut batch = Batch::new(gpu);
    let (kernel, _temporaries) = record_ntk_explicit(&mut batch, ops, kernels, fcn, cache)?;
    batch.submit()?;
    Ok(kernel)
}

/// Records the assembly of [`ntk_explicit`] into `batch`. Returns the kernel and the
/// temporaries, which must live until the batch has been submitted: the layers' Δ in
/// `N` (O(depth · n k · width)); the Gram scratch of order n and n k is shared.
fn record_ntk_explicit<N: Real, T: Real>(
    batch: &mut Batch, ops: &ForwardOps<N>, kernels: &NtkKernels, fcn: &Fcn<N>,
    cache: &ForwardCache<N>,
) -> Result<(Tensor<T>, Vec<wgpu::Buffer>)> {
    let gpu = batch.gpu();
    let cfg = &fcn.config;
    let depth = cfg.depth();
    let (n, k) = cache.logits.dims2("logits")?;
    let order = n * k;
    let mut scratch = Assembly {
        kernel: Tensor::<T>::zeros(gpu, &[order, order])?,
        ga: Tensor::<T>::zeros(gpu, &[n, n])?,
        dd: Tensor::<T>::zeros(gpu, &[order, order])?,
        keep: Vec::new(),
    };
    // Output layer: Δ row (i, c) is the one-hot e_c.
    let one_hot: Vec<N> = (0..order)
        .flat_map(|p| (0..k).map(move |c| N::from_f64(if p % k == c { 1.0 } else { 0.0 })))
        .collect();
    let delta_out = Tensor::from_slice(gpu, &[order, k], &one_hot)?;
    let last = &cache.inputs[depth];
    accumulate_layer(batch, kernels, last, &delta_out, k, cfg.bias, &scratch)?;
    if depth > 0 {
        // Gradient at a^D of every logit: row (i, c) is W_out[c, :].
        let mut d_out = Tensor::<N>::zeros(gpu, &[order, cfg.widths[depth - 1]])?;
        record_input_gradient(batch, ops, &fcn.params.weights[depth], &delta_out, &d_out)?;
        for l in (0..depth).rev() {
            let repeated = repeat_layer(batch, kernels, &cache.layers[l], k)?;
            let d_z = record_hidden_backward(batch, ops, cfg, &repeated, &d_out)?;
            let input = &cache.inputs[l];
            accumulate_layer(batch, kernels, input, &d_z, k, cfg.bias, &scratch)?;
            scratch.keep.extend(
                [
                    Some(&repeated.z),
                    Some(&repeated.phi),
                    repeated.norms.as_ref(),
                ]
                .into_iter()
                .flatten()
                .chain([&d_z, &d_out])
                .map(|t| t.buffer().clone()),
            );
            if l > 0 {
                // Only d_a: the weight and bias gradients of the n k cotangents are not needed.
                let next = Tensor::<N>::zeros(gpu, &[order, input.shape()[1]])?;
                record_input_gradient(batch, ops, &fcn.params.weights[l], &d_z, &next)?;
                d_out = next;
            }
        }
    }
    let Assembly {
        kernel,
        ga,
        dd,
        mut keep,
    } = scratch;
    keep.extend([ga.buffer(), dd.buffer(), delta_out.buffer()].map(Clone::clone));
    Ok((kernel, keep))
}

/// K v = J (Jᵀ v) through the backward pass and the JVP, on vectors of length n k in
/// the network's precision (v viewed as [n, k]).
pub struct NtkOperator<'a, N: Real = f32> {
    pub ops: &'a ForwardOps<N>,
    pub fcn: &'a Fcn<N>,
    pub cache: &'a ForwardCache<N>,
}

impl<N: Real> SymmetricOperator<N> for NtkOperator<'_, N> {
    fn order(&self) -> usize {
        self.cache.logits.len()
    }

    fn apply(&self, batch: &mut Batch, x: &Tensor<N>, y: &Tensor<N>) -> Result<()> {
        let v = x.view(self.cache.logits.shape())?;
        let grads = record_backward(batch, self.ops, self.fcn, self.cache, &v)?;
        let kv = record_jvp(batch, self.ops, self.fcn, self.cache, &grads)?;
        batch.copy(kv.buffer(), y.buffer(), kv.bytes());
        Ok(())
    }

    fn describe(&self) -> String {
        let (n, k) = (self.cache.logits.shape()[0], self.cache.logits.shape()[1]);
        format!(
            "matrix-free NTK J Jᵀ of {n} examples x {k} logits ({})",
            N::PRECISION.name()
        )
    }
}

/// How the NTK's spectrum is computed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NtkMethod {
    /// Explicit where the (nk)² matrix fits the adapter's binding limit, else matrix-free.
    #[default]
    Auto,
    Explicit,
    MatrixFree,
}

impl NtkMethod {
    pub fn name(self) -> &'static str {
        match self {
            NtkMethod::Auto => "auto",
            NtkMethod::Explicit => "explicit",
            NtkMethod::MatrixFree => "matrix_free",
        }
    }
}

/// The NTK spectrum and how it was computed.
pub struct NtkSpectrum {
    pub spectrum: SpectrumResult,
    /// explicit or matrix_free.
    pub method: NtkMethod,
    pub precision: Precision,
}

/// The solvers of an NTK spectrum: the vector kernels of each precision, the resolved
/// precision of spectral solves, how a stored (explicit) matrix is solved and the
/// solvers' options.
#[derive(Clone, Copy)]
pub struct NtkSolvers<'a> {
    pub vectors_f32: &'a Arc<VectorOps<f32>>,
    pub vectors_f64: Option<&'a Arc<VectorOps<f64>>>,
    pub precision: Precision,
    pub stored: SpectrumMethod,
    pub options: &'a LanczosOptions,
}

/// An NTK spectrum recorded into a caller's batch ([`record_ntk_spectrum`]): the
/// explicit matrix and, by the dense method, its reduction; nothing for the
/// matrix-free route, whose Lanczos solve submits its own blocks.
pub struct PendingNtk {
    method: NtkMethod,
    work: NtkWork,
}

enum NtkWork {
    MatrixFree,
    F32(PendingKernel<f32>),
    F64(PendingKernel<f64>),
}

struct PendingKernel<T: Real> {
    kernel: Tensor<T>,
    dense: Option<(DenseEigensolver<T>, PendingSpectra<T>)>,
    _temporaries: Vec<wgpu::Buffer>,
}

/// Extreme eigenvalues of the empirical NTK at `fcn` / `cache`; the explicit matrix's
/// by `stored` (dense or Lanczos, [`SpectrumMethod::resolve`]), the matrix-free
/// operator's by Lanczos. `precision` is the resolved precision of spectral solves: for an f32 network, f64 applies to the explicit
/// route and the matrix-free route runs the network passes, hence the products, in f32;
/// an f64 network computes both routes in f64 (and needs `vectors_f64`).
#[allow(clippy::too_many_arguments)]
pub fn ntk_spectrum<N: Real>(
    gpu: &Gpu, ops: &ForwardOps<N>, kernels: &NtkKernels, vectors_f32: &Arc<VectorOps<f32>>,
    vectors_f64: Option<&Arc<VectorOps<f64>>>, fcn: &Fcn<N>, cache: &ForwardCache<N>,
    method: NtkMethod, (precision, stored): (Precision, SpectrumMethod), options: &LanczosOptions,
) -> Result<NtkSpectrum> {
    let solvers = NtkSolvers {
        vectors_f32,
        vectors_f64,
        precision,
        stored,
        options,
    };
    let mut batch = Batch::new(gpu);
    let pending = record_ntk_spectrum(&mut batch, ops, kernels, fcn, cache, method, solvers)?;
    batch.submit()?;
    finish_ntk_spectrum(gpu, pending, ops, fcn, cache, solvers)
}

/// Records the work of [`ntk_spectrum`] that needs no readback into `batch`: the
/// explicit matrix's assembly and, where it is solved densely, its reduction.
/// [`finish_ntk_spectrum`] reads it back after the batch is submitted.
pub fn record_ntk_spectrum<N: Real>(
    batch: &mut Batch, ops: &ForwardOps<N>, kernels: &NtkKernels, fcn: &Fcn<N>,
    cache: &ForwardCache<N>, method: NtkMethod, solvers: NtkSolvers,
) -> Result<PendingNtk> {
    let gpu = batch.gpu();
    let f64_kernel = solvers.precision == Precision::F64 || N::NEEDS_F64;
    let method = resolve_method(gpu, cache.logits.len(), method, f64_kernel)?;
    let work = if method == NtkMethod::MatrixFree {
        NtkWork::MatrixFree
    } else if f64_kernel && solvers.vectors_f64.is_some() {
        NtkWork::F64(record_kernel(batch, ops, kernels, fcn, cache, solvers)?)
    } else {
        NtkWork::F32(record_kernel(batch, ops, kernels, fcn, cache, solvers)?)
    };
    Ok(PendingNtk { method, work })
}

/// The explicit kernel in `T` and, when `stored` resolves to dense, its reduction.
fn record_kernel<N: Real, T: Real>(
    batch: &mut Batch, ops: &ForwardOps<N>, kernels: &NtkKernels, fcn: &Fcn<N>,
    cache: &ForwardCache<N>, solvers: NtkSolvers,
) -> Result<PendingKernel<T>> {
    let (kernel, temporaries) = record_ntk_explicit::<N, T>(batch, ops, kernels, fcn, cache)?;
    let dense = DenseEigensolver::record_if_dense(batch, &kernel, solvers.stored, solvers.options)?;
    Ok(PendingKernel {
        kernel,
        dense,
        _temporaries: temporaries,
    })
}

/// The spectrum of a [`record_ntk_spectrum`] whose batch has been submitted: the dense
/// reduction's tridiagonal read back, or a Lanczos solve (own submissions).
pub fn finish_ntk_spectrum<N: Real>(
    gpu: &Gpu, pending: PendingNtk, ops: &ForwardOps<N>, fcn: &Fcn<N>, cache: &ForwardCache<N>,
    solvers: NtkSolvers,
) -> Result<NtkSpectrum> {
    let (method, options) = (pending.method, solvers.options);
    let (spectrum, precision) = match pending.work {
        NtkWork::MatrixFree => {
            let op = NtkOperator { ops, fcn, cache };
            let vectors = network_vectors::<N>(solvers.vectors_f32, solvers.vectors_f64)?;
            (lanczos(gpu, vectors.clone(), &op, options)?, N::PRECISION)
        }
        NtkWork::F64(p) => {
            let v64 = solvers
                .vectors_f64
                .expect("recorded in f64 only with the f64 kernels");
            (
                finish_kernel(gpu, p, v64, solvers.stored, options)?,
                Precision::F64,
            )
        }
        NtkWork::F32(p) => {
            let v32 = solvers.vectors_f32;
            (
                finish_kernel(gpu, p, v32, solvers.stored, options)?,
                Precision::F32,
            )
        }
    };
    Ok(NtkSpectrum {
        spectrum,
        method,
        precision,
    })
}

fn finish_kernel<T: Real>(
    gpu: &Gpu, pending: PendingKernel<T>, vectors: &Arc<VectorOps<T>>, stored: SpectrumMethod,
    options: &LanczosOptions,
) -> Result<SpectrumResult> {
    match pending.dense {
        Some((solver, reduction)) => Ok(solver.finish(gpu, reduction, options.k, 1)?.remove(0)),
        None => {
            let op = DenseMatrix::with_ops(pending.kernel, vectors.clone())?;
            matrix_spectrum(gpu, vectors.clone(), &op, stored, options)
        }
    }
}

/// Explicit or matrix-free: auto takes the explicit route where the (nk)² matrix (f64
/// when `f64_kernel`) fits the adapter's binding limit.
fn resolve_method(
    gpu: &Gpu, order: usize, method: NtkMethod, f64_kernel: bool,
) -> Result<NtkMethod> {
    let element = if f64_kernel { 8 } else { 4 };
    let bytes = (order as u64) * (order as u64) * element;
    let fits = bytes <= gpu.limits().max_storage_buffer_binding_size;
    Ok(match method {
        NtkMethod::Auto if fits => NtkMethod::Explicit,
        NtkMethod::Auto => NtkMethod::MatrixFree,
        NtkMethod::Explicit if !fits => bail!(
            "the explicit NTK of {order} x {order} ({} MiB in {}) exceeds {}'s storage binding \
             limit of {} MiB: use ntk: auto or ntk: matrix_free (K v through one backward and \
             one forward-mode pass), or fewer examples",
            bytes >> 20,
            if element == 8 { "f64" } else { "f32" },
            gpu.summary.name,
            gpu.limits().max_storage_buffer_binding_size >> 20
        ),
        m => m,
    })
}

/// The vector kernels in the network's precision `N` (f32 or f64, the only two).
fn network_vectors<'a, N: Real>(
    vectors_f32: &'a Arc<VectorOps<f32>>, vectors_f64: Option<&'a Arc<VectorOps<f64>>>,
) -> Result<&'a Arc<VectorOps<N>>> {
    let any: &dyn Any = if N::NEEDS_F64 {
        match vectors_f64 {
            Some(v) => v,
            None => bail!("the NTK of an f64 network needs the f64 spectral kernels"),
        }
    } else {
        vectors_f32
    };
    Ok(any
        .downcast_ref::<Arc<VectorOps<N>>>()
        .expect("a network is f32 or f64"))
}
