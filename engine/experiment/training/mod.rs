//! Training by full-batch gradient descent with per-epoch measurements
//! (MEASUREMENTS.md §5, §6, §8): losses and accuracies, ‖∇h‖, μ_grad, L_secant, the
//! empirical NTK's extreme eigenvalues and μ_ntk, L_ntk, the loss-prediction bounds and
//! ratios, the last hidden layer's Ĝ with the Eq. 13 bound, and Lemma 2's stability
//! bound. One run gives the rows of `epochs.csv` and one row of `runs.csv`.
//!
//! Row t describes θ_t (t = 0 is the init). An epoch is one submission: the step
//! θ_t = θ_{t−1} − η∇h(θ_{t−1}) held back from the epoch before (applied only once its
//! gradient was read and found finite), forward, loss, backward, the gradient's norm and
//! change, and at measured epochs the test pass, the NTK and Ĝ (explicit matrices and
//! their dense reductions) and the Lipschitz terms; then one readback of every loss,
//! logit and scalar, and one per dense spectrum. However deep the network, a measured
//! epoch costs the same few round trips (Lanczos solves, for orders too large for the
//! dense solver or asked for, add their own blocks). `run` holds the loop, `epoch` one
//! epoch, `measured` a measured epoch's columns, `rows` the tables.

mod epoch;
mod measured;
mod rows;
mod run;
mod sweep;
pub(crate) mod tensors;

use anyhow::Result;

use crate::experiment::sweep::SweepOps;
use crate::gpu::Gpu;
use crate::linalg::{Precision, Real};
use crate::measure::{ParamMeasure, SpectralOps};
use crate::nn::ntk::NtkKernels;
use crate::nn::step::TrainStep;
use crate::nn::{InNetworkPrecision, NetworkPrecision};

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
pub type Network = InNetworkPrecision<NetworkKernels<f32>, NetworkKernels<f64>>;

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
        Ok(TrainingOps {
            network: Network::build(gpu, network, NetworkKernels::new, NetworkKernels::new)?,
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
        self.network.precision()
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
