//! Conditioning at initialisation (MEASUREMENTS.md §3, §4): for one grid point, the
//! spectrum and Gershgorin proxies of Ĝ^l = F^l F^lᵀ / w_l at every layer l = 0..D,
//! and the same for the infinite-width kernels Σ^l.

use std::path::Path;

use anyhow::{Context as _, Result};

use super::config::{Common, ConditioningConfig, ConditioningRun};
use super::sweep::{Outcome, PlannedResult, RunContext, SweepKind, SweepOps};
use super::training::tensors::write_npy_real;
use crate::analysis::figures;
use crate::data::Dataset;
use crate::gpu::{Batch, Gpu, Tensor};
use crate::io::npy::{write_npy_f32, write_npy_f64};
use crate::io::table::Table;
use crate::io::tables::{read_for_join, InfiniteRow, LayerRow, Row as _};
use crate::linalg::{spectrum_with_method, LanczosOptions, Precision, Real, SpectrumResult};
use crate::measure::{LayerSpectrum, SpectralOps};
use crate::nn::fcn::{check_renormalizable, init_weights_in, record_forward_cached};
use crate::nn::{forward, Fcn, FcnConfig, ForwardOps, InNetworkPrecision, NetworkPrecision};
use crate::theory::infinite_width::{for_each_infinite_width_kernel, InfiniteWidthConfig};

pub fn layers_header() -> Vec<&'static str> {
    LayerRow::COLUMNS.to_vec()
}

pub fn infinite_header() -> Vec<&'static str> {
    InfiniteRow::COLUMNS.to_vec()
}

/// A `$row` ([`LayerRow`] or [`InfiniteRow`]: both hold the grid point, the layer and
/// its spectrum) of layer `$layer` of `$run` on `$dataset` with spectrum `$spectrum`,
/// its other fields `$own`.
macro_rules! spectrum_row {
    ($row:ident { $($own:tt)* }, $run:expr, $dataset:expr, $layer:expr, $spectrum:expr) => {{
        let (run, s): (&ConditioningRun, &SpectrumResult) = ($run, $spectrum);
        $row {
            dataset: $dataset.to_string(),
            depth: run.depth,
            n: run.n,
            activation: run.activation.name().to_string(),
            renormalize: run.renormalize,
            seed: run.seed,
            layer: $layer,
            lambda_min: s.lambda_min(),
            lambda_min_bound: s.smallest[0].bound,
            lambda_max: s.lambda_max(),
            lambda_max_bound: s.largest[0].bound,
            kappa: s.kappa(),
            log10_kappa: s.kappa().log10(),
            converged: s.converged,
            $($own)*
        }
    }};
}

/// The network kernels in the precision the sweep's networks run in.
type NetworkForward = InNetworkPrecision<ForwardOps<f32>, ForwardOps<f64>>;

/// The kernels a conditioning run uses, built once per device.
pub struct ConditioningOps {
    forward: NetworkForward,
    spectral: SpectralOps,
}

impl ConditioningOps {
    /// The precision the networks run in.
    pub fn network_precision(&self) -> NetworkPrecision {
        self.forward.precision()
    }

    /// The precision that runs (auto resolved).
    pub fn precision(&self) -> Precision {
        self.spectral.precision()
    }
}

impl SweepOps for ConditioningOps {
    /// `precision` (spectral) is resolved here once; `network` f64 is refused on an
    /// adapter without SHADER_F64.
    fn build(gpu: &Gpu, precision: Precision, network: NetworkPrecision) -> Result<Self> {
        Ok(ConditioningOps {
            forward: NetworkForward::build(gpu, network, ForwardOps::new, ForwardOps::new)?,
            spectral: SpectralOps::new(gpu, precision)?,
        })
    }
    fn with_spectral(self, choose: impl FnOnce(SpectralOps) -> SpectralOps) -> Self {
        let spectral = choose(self.spectral);
        ConditioningOps { spectral, ..self }
    }
}

/// Whether one run's whole forward pass (inputs, pre-activations, activations of every
/// layer) and its Gram matrices can stay on the device at once: within four binding
/// limits, a bound that lets small GPUs and lavapipe fall back to layer by layer.
fn forward_cache_fits<T: Real>(gpu: &Gpu, run: &ConditioningRun) -> bool {
    let element = std::mem::size_of::<T>() as u64;
    let (n, w, depth) = (run.n as u64, run.width as u64, run.depth as u64);
    let bytes = element * (3 * depth * n * w + 2 * (depth + 1) * n * n);
    bytes <= 4 * gpu.max_binding_bytes()
}

/// Measures every layer of one run; returns its rows of `layers.csv`. With
/// `tensors_dir`, also writes the inputs, the weights and every Ĝ^l as .npy there.
pub fn measure_run(
    gpu: &Gpu, ops: &ConditioningOps, config: &ConditioningConfig, run: &ConditioningRun,
    dataset: &Dataset, tensors_dir: Option<&Path>,
) -> Result<Table> {
    let fcn_config = FcnConfig {
        input_dim: dataset.d,
        widths: vec![run.width; run.depth],
        outputs: 10,
        activation: run.activation,
        renormalize: run.renormalize,
        gain: config.common.gain,
        bias: false,
        seed: run.seed,
    };
    let measure = RunMeasure {
        gpu,
        spectral: &ops.spectral,
        run,
        dataset,
        tensors_dir,
    };
    match &ops.forward {
        NetworkForward::F32(f) => measure.every_layer(f, fcn_config),
        NetworkForward::F64(f) => measure.every_layer(f, fcn_config),
    }
}

/// What one run measures, whatever precision its network runs in.
struct RunMeasure<'a> {
    gpu: &'a Gpu,
    spectral: &'a SpectralOps,
    run: &'a ConditioningRun,
    dataset: &'a Dataset,
    tensors_dir: Option<&'a Path>,
}

impl RunMeasure<'_> {
    /// [`measure_run`] with a network in `T`.
    fn every_layer<T: Real>(
        &self, forward_ops: &ForwardOps<T>, fcn_config: FcnConfig,
    ) -> Result<Table> {
        let (gpu, run, dataset) = (self.gpu, self.run, self.dataset);
        fcn_config.check_fits::<T>(gpu)?;
        if let Some(dir) = self.tensors_dir {
            save_inputs_and_weights::<T>(dir, &fcn_config, run, dataset)?;
        }
        let fcn = Fcn::<T>::init(gpu, fcn_config)?;
        let x_host: Vec<T> = dataset
            .x_train
            .iter()
            .map(|&v| T::from_f64(v.into()))
            .collect();
        let x = Tensor::from_slice(gpu, &[run.n, dataset.d], &x_host)?;
        let mut rows = Vec::new();
        if forward_cache_fits::<T>(gpu, run) {
            // One submission for the forward pass, every Ĝ and (dense) every spectrum.
            let mut batch = Batch::new(gpu);
            let cache = record_forward_cached(&mut batch, forward_ops, &fcn, &x)?;
            let features: Vec<&Tensor<T>> = cache.inputs.iter().collect();
            let layers = self
                .spectral
                .layer_spectra(gpu, batch, &features, run.seed, || {
                    check_renormalizable(gpu, &cache)
                })?;
            for (l, (m, f)) in layers.iter().zip(&features).enumerate() {
                rows.push(self.row::<T>(l, f.shape()[1], m)?);
            }
        } else {
            // Layer by layer: the same measurement, one layer per submission.
            forward(gpu, forward_ops, &fcn, &x, |l, features| {
                let batch = Batch::new(gpu);
                let m =
                    self.spectral
                        .layer_spectra(gpu, batch, &[features], run.seed, || Ok(()))?;
                rows.push(self.row::<T>(l, features.shape()[1], &m[0])?);
                Ok(())
            })?;
        }
        LayerRow::table(&rows)
    }

    /// Layer `l`'s row from its Ĝ, spectrum and Gershgorin proxies (Ĝ written as .npy
    /// with `tensors_dir`).
    fn row<T: Real>(&self, l: usize, width: usize, layer: &LayerSpectrum) -> Result<LayerRow> {
        let (gpu, spectral, run) = (self.gpu, self.spectral, self.run);
        let (m, p) = (&layer.measurement, &layer.proxies);
        if let Some(dir) = self.tensors_dir {
            let gram = m.gram.to_f64_vec(gpu)?;
            write_npy_f64(&dir.join(format!("gram_{l}.npy")), &[run.n, run.n], &gram)?;
        }
        let s = &m.spectrum;
        Ok(spectrum_row!(
            LayerRow {
                run_id: run.id(),
                width: run.width,
                layer_width: width,
                lanczos_steps: s.iterations,
                rank_deficient: run.n > width,
                min_diag: p.min_diag,
                max_offdiag_rowsum: p.max_offdiag_rowsum,
                max_abs_offdiag: p.max_abs_offdiag,
                gershgorin_lower: p.gershgorin_lower,
                gershgorin_upper: p.gershgorin_upper,
                precision: spectral.precision().name().to_string(),
                method: s.method.to_string(),
                spectral_readbacks: s.readbacks.to_string(),
                network_precision: T::PRECISION.name().to_string(),
            },
            run,
            self.dataset.name,
            l,
            s
        ))
    }
}

/// Writes the inputs, the initial weights (in the network's precision) and the indices.
fn save_inputs_and_weights<T: Real>(
    dir: &Path, fcn_config: &FcnConfig, run: &ConditioningRun, dataset: &Dataset,
) -> Result<()> {
    crate::io::create_folder(dir)?;
    write_npy_f32(
        &dir.join("inputs.npy"),
        &[run.n, dataset.d],
        &dataset.x_train,
    )?;
    for (l, ((o, i), w)) in fcn_config
        .layer_shapes()
        .into_iter()
        .zip(init_weights_in::<T>(fcn_config))
        .enumerate()
    {
        write_npy_real(&dir.join(format!("weights_{}.npy", l + 1)), &[o, i], &w)?;
    }
    let indices = serde_json::json!({ "train_indices": dataset.train_indices });
    std::fs::write(
        dir.join("indices.json"),
        serde_json::to_string_pretty(&indices)?,
    )?;
    Ok(())
}

/// The infinite-width kernels Σ^0..Σ^D of one run's inputs and their spectra: rows of
/// `infinite_width.csv`. They do not depend on the width.
pub fn measure_infinite_width(
    gpu: &Gpu, ops: &ConditioningOps, config: &ConditioningConfig, run: &ConditioningRun,
    dataset: &Dataset,
) -> Result<Table> {
    let cfg = InfiniteWidthConfig {
        activation: run.activation,
        depth: run.depth,
        renormalize: run.renormalize,
        gain: config.common.gain,
    };
    let mut rows = Vec::new();
    for_each_infinite_width_kernel(&dataset.x_train, run.n, dataset.d, &cfg, |l, sigma| {
        let r = spectrum_with_method(
            gpu,
            run.n,
            sigma,
            ops.precision(),
            ops.spectral.method(),
            &LanczosOptions {
                seed: run.seed,
                tol_min: ops.spectral.tol_min(),
                ..Default::default()
            },
        )?;
        rows.push(spectrum_row!(InfiniteRow {}, run, dataset.name, l, &r));
        Ok(())
    })?;
    InfiniteRow::table(&rows)
}

/// The key of a run's infinite-width spectra (they do not depend on the width).
fn infinite_key(run: &ConditioningRun) -> String {
    format!(
        "d{}_n{}_{}_{}_s{}",
        run.depth,
        run.n,
        run.activation.name(),
        if run.renormalize { "renorm" } else { "plain" },
        run.seed
    )
}

/// What a conditioning run adds to `result.json`.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct ConditioningExtra {
    pub warnings: Vec<String>,
    /// The `infinite/<file>` this run's inputs' infinite-width spectra are in.
    #[serde(default)]
    pub infinite: Option<String>,
}

impl SweepKind for ConditioningConfig {
    type Run = ConditioningRun;
    type Ops = ConditioningOps;
    type Extra = ConditioningExtra;
    const TABLE: &'static str = "layers.csv";

    fn kind_name(&self) -> &'static str {
        self.kind.name()
    }
    fn common(&self) -> &Common {
        &self.common
    }
    fn cost(&self, run: &ConditioningRun) -> f64 {
        crate::experiment::cost::conditioning_flops(self, run)
    }

    fn runs(&self) -> Vec<ConditioningRun> {
        ConditioningConfig::runs(self)
    }
    fn run_id(run: &ConditioningRun) -> String {
        run.id()
    }
    fn table_header() -> Vec<&'static str> {
        layers_header()
    }
    fn data_request(&self, run: &ConditioningRun) -> (usize, usize, u64) {
        (run.n, 0, run.seed)
    }

    fn execute(
        &self, ctx: &RunContext<ConditioningOps>, run: &ConditioningRun, dataset: &Dataset,
    ) -> Result<Outcome<ConditioningExtra>> {
        let tensors = self.common.save_tensors.then(|| ctx.dir.join("tensors"));
        let table = measure_run(ctx.gpu, ctx.ops, self, run, dataset, tensors.as_deref())?;
        table.write(&ctx.dir.join(Self::TABLE))?;
        let infinite = if self.infinite_width {
            // Keyed by the input set and by every setting Σ^l depends on, so a file
            // computed under other settings is never reused.
            let settings = serde_json::json!({
                "common": self.settings(run, ctx.precision, ctx.data)["common"],
                "data": ctx.data,
                "precision": ctx.precision.name(),
            });
            let tag = &crate::io::fingerprint::fingerprint(&settings)[..10];
            let file = format!("{}_{tag}.csv", infinite_key(run));
            let key_path = ctx.out.join("infinite").join(&file);
            if ctx.force || !key_path.exists() {
                crate::io::create_folder(&ctx.out.join("infinite"))?;
                measure_infinite_width(ctx.gpu, ctx.ops, self, run, dataset)?.write(&key_path)?;
            }
            Some(file)
        } else {
            None
        };
        Ok(Outcome {
            status: "done".into(),
            diverged: None,
            extra: ConditioningExtra {
                warnings: dataset.warnings.clone(),
                infinite,
            },
        })
    }

    fn aggregate(
        &self, out: &Path, results: &[PlannedResult<'_, Self>], figures: bool,
    ) -> Result<()> {
        let done = || results.iter().filter(|r| r.record.status == "done");
        let mut layers = Table::new(&layers_header());
        for r in done() {
            layers.extend(read_for_join(
                &r.planned.dir.join(Self::TABLE),
                &layers.header,
            )?)?;
        }
        layers.write(&out.join("layers.csv"))?;
        let mut infinite = Table::new(&infinite_header());
        let mut files: Vec<&String> = done()
            .filter_map(|r| r.record.extra.infinite.as_ref())
            .collect();
        files.sort();
        files.dedup();
        for file in files {
            let p = out.join("infinite").join(file);
            if p.exists() {
                infinite.extend(read_for_join(&p, &infinite.header)?)?;
            }
        }
        infinite.write(&out.join("infinite_width.csv"))?;
        // Drawn even with no finished run: the drawing removes earlier figures first.
        if figures {
            figures::draw_conditioning(out).context("drawing the figures")?;
        }
        Ok(())
    }
}
