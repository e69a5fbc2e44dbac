//! Conditioning at initialisation (MEASUREMENTS.md §3, §4): for one grid point, the
//! spectrum and Gershgorin proxies of Ĝ^l = F^l F^lᵀ / w_l at every layer l = 0..D,
//! and the same for the infinite-width kernels Σ^l.

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;

use super::config::{ConditioningConfig, ConditioningRun};
use crate::data::Dataset;
use crate::gpu::{Batch, Gpu, Tensor};
use crate::io::npy::{write_npy_f32, write_npy_f64};
use crate::io::table::Table;
use crate::linalg::{
    dense_spectrum, lanczos, DenseMatrix, LanczosOptions, Precision, Real, SpectrumResult,
};
use crate::nn::fcn::init_weights;
use crate::nn::{forward, Fcn, FcnConfig, ForwardOps};
use crate::ops::gram::Gram;
use crate::ops::symstats::{GershgorinProxies, SymStats};
use crate::ops::vector::VectorOps;
use crate::theory::infinite_width::{for_each_infinite_width_kernel, InfiniteWidthConfig};

/// Columns identifying a run, first in every row.
pub const RUN_COLUMNS: &[&str] = &[
    "run_id",
    "dataset",
    "width",
    "depth",
    "n",
    "activation",
    "renormalize",
    "seed",
];

/// Columns of one layer's measurement (after the run columns) in `layers.csv`.
pub const LAYER_COLUMNS: &[&str] = &[
    "layer",
    "layer_width",
    "lambda_min",
    "lambda_min_bound",
    "lambda_max",
    "lambda_max_bound",
    "kappa",
    "log10_kappa",
    "converged",
    "lanczos_steps",
    "rank_deficient",
    "min_diag",
    "max_offdiag_rowsum",
    "max_abs_offdiag",
    "gershgorin_lower",
    "gershgorin_upper",
    "precision",
];

/// Columns of `infinite_width.csv` (after the run columns, width excluded).
pub const INFINITE_COLUMNS: &[&str] = &[
    "layer",
    "lambda_min",
    "lambda_min_bound",
    "lambda_max",
    "lambda_max_bound",
    "kappa",
    "log10_kappa",
    "converged",
];

fn run_cells(run: &ConditioningRun, dataset: &str) -> Vec<String> {
    vec![
        run.id(),
        dataset.to_string(),
        run.width.to_string(),
        run.depth.to_string(),
        run.n.to_string(),
        run.activation.name().to_string(),
        run.renormalize.to_string(),
        run.seed.to_string(),
    ]
}

pub fn layers_header() -> Vec<&'static str> {
    RUN_COLUMNS.iter().chain(LAYER_COLUMNS).copied().collect()
}

pub fn infinite_header() -> Vec<&'static str> {
    RUN_COLUMNS
        .iter()
        .filter(|c| **c != "width" && **c != "run_id")
        .chain(INFINITE_COLUMNS)
        .copied()
        .collect()
}

fn spectrum_cells(r: &SpectrumResult) -> Vec<String> {
    vec![
        r.lambda_min().to_string(),
        r.smallest[0].bound.to_string(),
        r.lambda_max().to_string(),
        r.largest[0].bound.to_string(),
        r.kappa().to_string(),
        r.kappa().log10().to_string(),
        r.converged.to_string(),
    ]
}

/// The kernels every Gram-matrix measurement uses, in the resolved precision: the Gram
/// kernels, vector ops and symmetric-matrix statistics (f64 ones where the precision is
/// f64). Shared by conditioning and training runs.
pub struct SpectralOps {
    pub(crate) gram: Gram,
    pub(crate) precision: Precision,
    pub(crate) vectors_f32: Arc<VectorOps<f32>>,
    pub(crate) vectors_f64: Option<Arc<VectorOps<f64>>>,
    pub(crate) stats_f32: SymStats<f32>,
    pub(crate) stats_f64: Option<SymStats<f64>>,
}

impl SpectralOps {
    pub fn new(gpu: &Gpu, precision: Precision) -> Result<Self> {
        let precision = precision.resolve(gpu)?;
        let f64_ops = precision == Precision::F64;
        Ok(SpectralOps {
            gram: Gram::new(gpu)?,
            precision,
            vectors_f32: Arc::new(VectorOps::new(gpu)?),
            vectors_f64: if f64_ops {
                Some(Arc::new(VectorOps::new(gpu)?))
            } else {
                None
            },
            stats_f32: SymStats::new(gpu)?,
            stats_f64: if f64_ops {
                Some(SymStats::new(gpu)?)
            } else {
                None
            },
        })
    }

    /// The precision that runs (auto resolved).
    pub fn precision(&self) -> Precision {
        self.precision
    }
}

/// Ĝ = F Fᵀ / w of layer features F [n, w] in `T`, and its extreme eigenvalues
/// (Lanczos, default tolerances, start vector from `seed`). Returns Ĝ for further use.
pub(crate) fn normalized_gram_spectrum<T: Real>(
    gpu: &Gpu,
    gram: &Gram,
    vectors: &Arc<VectorOps<T>>,
    features: &Tensor,
    seed: u64,
) -> Result<(Tensor<T>, SpectrumResult)> {
    let (n, width) = features.dims2("layer features")?;
    let g = Tensor::<T>::zeros(gpu, &[n, n])?;
    let mut batch = Batch::new(gpu);
    gram.record(&mut batch, features, 1.0 / width as f64, &g)?;
    batch.submit()?;
    let op = DenseMatrix::with_ops(g, vectors.clone())?;
    let spectrum = lanczos(
        gpu,
        vectors.clone(),
        &op,
        &LanczosOptions {
            seed,
            ..Default::default()
        },
    )?;
    Ok((op.into_matrix(), spectrum))
}

/// The kernels a conditioning run uses, built once per device.
pub struct ConditioningOps {
    forward: ForwardOps,
    spectral: SpectralOps,
}

impl ConditioningOps {
    pub fn new(gpu: &Gpu, precision: Precision) -> Result<Self> {
        Ok(ConditioningOps {
            forward: ForwardOps::new(gpu)?,
            spectral: SpectralOps::new(gpu, precision)?,
        })
    }

    /// The precision that runs (auto resolved).
    pub fn precision(&self) -> Precision {
        self.spectral.precision
    }
}

struct LayerResult {
    spectrum: SpectrumResult,
    proxies: GershgorinProxies,
    gram: Option<Vec<f64>>,
}

fn measure_layer<T: Real>(
    gpu: &Gpu,
    ops: &ConditioningOps,
    vectors: &Arc<VectorOps<T>>,
    stats: &SymStats<T>,
    features: &Tensor,
    seed: u64,
    keep_gram: bool,
) -> Result<LayerResult> {
    let (g, spectrum) = normalized_gram_spectrum(gpu, &ops.spectral.gram, vectors, features, seed)?;
    let proxies = stats.gershgorin(gpu, &g)?;
    let gram = if keep_gram {
        Some(g.to_vec(gpu)?.into_iter().map(T::to_f64).collect())
    } else {
        None
    };
    Ok(LayerResult {
        spectrum,
        proxies,
        gram,
    })
}

/// Measures every layer of one run; returns its rows of `layers.csv`. With
/// `tensors_dir`, also writes the inputs, the weights and every Ĝ^l as .npy there.
pub fn measure_run(
    gpu: &Gpu,
    ops: &ConditioningOps,
    config: &ConditioningConfig,
    run: &ConditioningRun,
    dataset: &Dataset,
    tensors_dir: Option<&Path>,
) -> Result<Table> {
    let fcn_config = FcnConfig {
        input_dim: dataset.d,
        widths: vec![run.width; run.depth],
        outputs: 10,
        activation: run.activation,
        renormalize: run.renormalize,
        gain: config.gain,
        bias: false,
        seed: run.seed,
    };
    if let Some(dir) = tensors_dir {
        std::fs::create_dir_all(dir)?;
        write_npy_f32(
            &dir.join("inputs.npy"),
            &[run.n, dataset.d],
            &dataset.x_train,
        )?;
        for (l, ((o, i), w)) in fcn_config
            .layer_shapes()
            .into_iter()
            .zip(init_weights(&fcn_config))
            .enumerate()
        {
            write_npy_f32(&dir.join(format!("weights_{}.npy", l + 1)), &[o, i], &w)?;
        }
        let indices = serde_json::json!({ "train_indices": dataset.train_indices });
        std::fs::write(
            dir.join("indices.json"),
            serde_json::to_string_pretty(&indices)?,
        )?;
    }
    let fcn = Fcn::init(gpu, fcn_config)?;
    let x = Tensor::from_slice(gpu, &[run.n, dataset.d], &dataset.x_train)?;
    let mut table = Table::new(&layers_header());
    let spectral = &ops.spectral;
    let precision = spectral.precision;
    forward(gpu, &ops.forward, &fcn, &x, |l, features| {
        let width = features.shape()[1];
        let keep = tensors_dir.is_some();
        let r = match (&spectral.vectors_f64, &spectral.stats_f64) {
            (Some(v), Some(s)) => measure_layer::<f64>(gpu, ops, v, s, features, run.seed, keep)?,
            _ => measure_layer::<f32>(
                gpu,
                ops,
                &spectral.vectors_f32,
                &spectral.stats_f32,
                features,
                run.seed,
                keep,
            )?,
        };
        if let (Some(dir), Some(g)) = (tensors_dir, &r.gram) {
            write_npy_f64(&dir.join(format!("gram_{l}.npy")), &[run.n, run.n], g)?;
        }
        let s = &r.spectrum;
        let p = &r.proxies;
        let mut row = run_cells(run, &dataset.name);
        row.extend([l.to_string(), width.to_string()]);
        row.extend(spectrum_cells(s));
        row.extend([
            s.iterations.to_string(),
            (run.n > width).to_string(),
            p.min_diag.to_string(),
            p.max_offdiag_rowsum.to_string(),
            p.max_abs_offdiag.to_string(),
            p.gershgorin_lower.to_string(),
            p.gershgorin_upper.to_string(),
            precision.name().to_string(),
        ]);
        table.push(row);
        Ok(())
    })?;
    Ok(table)
}

/// The infinite-width kernels Σ^0..Σ^D of one run's inputs and their spectra: rows of
/// `infinite_width.csv`. They do not depend on the width.
pub fn measure_infinite_width(
    gpu: &Gpu,
    ops: &ConditioningOps,
    config: &ConditioningConfig,
    run: &ConditioningRun,
    dataset: &Dataset,
) -> Result<Table> {
    let cfg = InfiniteWidthConfig {
        activation: run.activation,
        depth: run.depth,
        renormalize: run.renormalize,
        gain: config.gain,
    };
    let mut table = Table::new(&infinite_header());
    for_each_infinite_width_kernel(&dataset.x_train, run.n, dataset.d, &cfg, |l, sigma| {
        let r = dense_spectrum(
            gpu,
            run.n,
            sigma,
            ops.precision(),
            &LanczosOptions {
                seed: run.seed,
                ..Default::default()
            },
        )?;
        let mut row: Vec<String> = run_cells(run, &dataset.name)
            .into_iter()
            .zip(RUN_COLUMNS)
            .filter(|(_, c)| **c != "width" && **c != "run_id")
            .map(|(v, _)| v)
            .collect();
        row.push(l.to_string());
        row.extend(spectrum_cells(&r));
        table.push(row);
        Ok(())
    })?;
    Ok(table)
}
