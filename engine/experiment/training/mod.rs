//! Training by full-batch gradient descent with per-epoch measurements
//! (MEASUREMENTS.md §5, §6, §8): losses and accuracies, ‖∇h‖, μ_grad, L_secant, the
//! empirical NTK's extreme eigenvalues and μ_ntk, L_ntk, the loss-prediction bounds and
//! ratios, the last hidden layer's Ĝ with the Eq. 13 bound, and Lemma 2's stability
//! bound. One run gives the rows of `epochs.csv` and one row of `runs.csv`.
//!
//! Row t describes θ_t (t = 0 is the init). The step θ_{t+1} = θ_t − η∇h(θ_t) is one
//! submission (forward, loss, backward, update); measurements read back only what they
//! report. `run` holds the loop, `epoch` one epoch's measurements, `rows` the tables.

mod epoch;
mod rows;
mod run;
mod sweep;
pub(crate) mod tensors;

use anyhow::Result;

use crate::experiment::sweep::SweepOps;
use crate::gpu::Gpu;
use crate::linalg::{LanczosOptions, Precision, Real};
use crate::measure::{ParamMeasure, SpectralOps};
use crate::nn::fcn::ForwardCache;
use crate::nn::ntk::{NtkKernels, NtkMethod, NtkSpectrum};
use crate::nn::step::TrainStep;
use crate::nn::{Fcn, NetworkPrecision};

pub use crate::nn::step::accuracy;
pub use rows::{
    epochs_header, run_row, runs_header, EpochRecord, Lemma2Cells, RunSummary, EPOCH_COLUMNS,
};
pub use run::train_run;

/// Number of logits (CIFAR-10 classes).
pub const CLASSES: usize = 10;

/// The kernels of the network passes and of their measurements in one precision.
pub struct NetworkKernels<T: Real> {
    pub(crate) step: TrainStep<T>,
    pub(crate) params: ParamMeasure<T>,
}

impl<T: Real> NetworkKernels<T> {
    fn new(gpu: &Gpu) -> Result<Self> {
        Ok(NetworkKernels {
            step: TrainStep::new(gpu)?,
            params: ParamMeasure::new(gpu)?,
        })
    }
}

/// The network kernels in the precision the sweep's networks run in.
pub enum Network {
    F32(NetworkKernels<f32>),
    F64(NetworkKernels<f64>),
}

/// The kernels a training run uses, built once per device.
pub struct TrainingOps {
    pub(crate) network: Network,
    pub(crate) ntk: NtkKernels,
    pub(crate) spectral: SpectralOps,
}

impl TrainingOps {
    /// `precision` (spectral) is resolved here once (auto: f64 where the device has
    /// it); `network` f64 is refused on an adapter without SHADER_F64.
    pub fn new(gpu: &Gpu, precision: Precision, network: NetworkPrecision) -> Result<Self> {
        network.check(gpu)?;
        Ok(TrainingOps {
            network: match network {
                NetworkPrecision::F32 => Network::F32(NetworkKernels::new(gpu)?),
                NetworkPrecision::F64 => Network::F64(NetworkKernels::new(gpu)?),
            },
            ntk: NtkKernels::new(gpu)?,
            spectral: SpectralOps::new(gpu, precision)?,
        })
    }

    /// The precision that runs (auto resolved).
    pub fn precision(&self) -> Precision {
        self.spectral.precision()
    }

    /// The precision the networks run in.
    pub fn network_precision(&self) -> NetworkPrecision {
        match self.network {
            Network::F32(_) => NetworkPrecision::F32,
            Network::F64(_) => NetworkPrecision::F64,
        }
    }

    /// The NTK's extreme eigenvalues at `fcn` / `cache`.
    pub(crate) fn ntk_spectrum<T: Real>(
        &self, gpu: &Gpu, net: &NetworkKernels<T>, fcn: &Fcn<T>, cache: &ForwardCache<T>,
        method: NtkMethod, options: &LanczosOptions,
    ) -> Result<NtkSpectrum> {
        let forward = &net.step.forward;
        self.spectral
            .ntk_spectrum(gpu, forward, &self.ntk, fcn, cache, method, options)
    }
}

impl SweepOps for TrainingOps {
    fn build(gpu: &Gpu, precision: Precision, network: NetworkPrecision) -> Result<Self> {
        TrainingOps::new(gpu, precision, network)
    }
    fn with_spectral(self, choose: impl FnOnce(SpectralOps) -> SpectralOps) -> Self {
        let spectral = choose(self.spectral);
        TrainingOps { spectral, ..self }
    }
}
