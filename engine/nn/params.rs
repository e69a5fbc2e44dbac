//! An FCN's architecture, parameters and their init (MEASUREMENTS.md §2); the passes
//! over them are in [`super::fcn`].

use anyhow::{bail, Result};

use super::activation::Activation;
pub use super::init::{init_weights, init_weights_in};
use crate::gpu::{Gpu, Tensor};
use crate::linalg::Real;

/// Architecture and init of an FCN.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FcnConfig {
    pub input_dim: usize,
    /// Hidden widths w_1 .. w_D.
    pub widths: Vec<usize>,
    /// Number of logits k.
    pub outputs: usize,
    pub activation: Activation,
    pub renormalize: bool,
    /// Init gain g of the hidden layers (W entries ~ N(0, g / fan_in)); `None` for the
    /// variance-preserving default of the activation (2 for raw relu, else 1).
    pub gain: Option<f64>,
    /// Every layer (the output layer too) adds a bias b_l, initialised to 0.
    pub bias: bool,
    pub seed: u64,
}

impl FcnConfig {
    pub fn depth(&self) -> usize {
        self.widths.len()
    }

    pub fn hidden_gain(&self) -> f64 {
        self.gain.unwrap_or_else(|| self.activation.init_gain())
    }

    /// (fan_out, fan_in) of every layer, the output layer last.
    pub fn layer_shapes(&self) -> Vec<(usize, usize)> {
        let mut shapes = Vec::with_capacity(self.widths.len() + 1);
        let mut fan_in = self.input_dim;
        for &w in self.widths.iter().chain(std::iter::once(&self.outputs)) {
            shapes.push((w, fan_in));
            fan_in = w;
        }
        shapes
    }

    /// Refuses, before anything is allocated, a network whose weights cannot exist on
    /// this adapter or this host: a layer's weight matrix past the adapter's buffer
    /// limits, all weights past the host's available memory, or an absurd depth. `T` is
    /// the network's precision.
    pub fn check_fits<T: Real>(&self, gpu: &Gpu) -> Result<()> {
        if self.widths.len() > MAX_DEPTH {
            bail!(
                "depth {} is beyond what wideprobe runs (at most {MAX_DEPTH} layers, each with \
                 its own buffers): use a smaller depth",
                self.widths.len()
            );
        }
        let limit = gpu
            .limits()
            .max_storage_buffer_binding_size
            .min(gpu.limits().max_buffer_size);
        let mut host_total: u64 = 0;
        for (l, &(fan_out, fan_in)) in self.layer_shapes().iter().enumerate() {
            let bytes = (fan_out as u64)
                .checked_mul(fan_in as u64)
                .and_then(|e| e.checked_mul(std::mem::size_of::<T>() as u64))
                .unwrap_or(u64::MAX);
            if bytes > limit {
                bail!(
                    "layer {} needs a {fan_out} x {fan_in} weight matrix ({bytes} bytes), over the \
                     adapter's buffer limit of {limit} bytes ({}): use a smaller width, or an \
                     adapter with larger limits",
                    l + 1,
                    gpu.summary.name
                );
            }
            host_total = host_total.saturating_add(bytes);
        }
        if let Some(available) = available_host_bytes() {
            if host_total > available {
                bail!(
                    "the weights need {host_total} bytes of host memory to initialise, more than \
                     the {available} bytes available: use a smaller width or depth"
                );
            }
        }
        Ok(())
    }

    /// Number of parameters P.
    pub fn parameters(&self) -> usize {
        self.layer_shapes()
            .iter()
            .map(|(o, i)| o * i + if self.bias { *o } else { 0 })
            .sum()
    }
}

/// An FCN's parameters on the GPU (hidden layers, then the output layer), in f32 or f64.
pub struct Fcn<T: Real = f32> {
    pub config: FcnConfig,
    pub params: ParamTensors<T>,
}

/// One tensor per weight matrix and (with bias) per bias vector, in layer order: the
/// parameters of a network, their gradients, or a tangent of them.
pub struct ParamTensors<T: Real = f32> {
    pub weights: Vec<Tensor<T>>,
    /// Empty without bias.
    pub biases: Vec<Tensor<T>>,
}

impl<T: Real> ParamTensors<T> {
    /// Zeros shaped like the parameters of `config`.
    pub fn zeros(gpu: &Gpu, config: &FcnConfig) -> Result<Self> {
        let shapes = config.layer_shapes();
        Ok(ParamTensors {
            weights: shapes
                .iter()
                .map(|&(o, i)| Tensor::zeros(gpu, &[o, i]))
                .collect::<Result<_>>()?,
            biases: if config.bias {
                shapes
                    .iter()
                    .map(|&(o, _)| Tensor::zeros(gpu, &[o]))
                    .collect::<Result<_>>()?
            } else {
                Vec::new()
            },
        })
    }

    /// Every tensor: the weights, then the biases.
    pub fn tensors(&self) -> impl Iterator<Item = &Tensor<T>> {
        self.weights.iter().chain(&self.biases)
    }

    pub fn bias(&self, layer: usize) -> Option<&Tensor<T>> {
        self.biases.get(layer)
    }
}

/// The deepest network wideprobe builds (the paper's is 30 layers deep).
pub const MAX_DEPTH: usize = 10_000;

/// Bytes the system can give a new allocation (`MemAvailable`); `None` off Linux.
pub fn available_host_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

impl<T: Real> Fcn<T> {
    pub fn init(gpu: &Gpu, config: FcnConfig) -> Result<Fcn<T>> {
        if config.input_dim == 0 || config.outputs == 0 || config.widths.contains(&0) {
            bail!(
                "an FCN needs positive sizes: input {}, widths {:?}, outputs {}",
                config.input_dim,
                config.widths,
                config.outputs
            );
        }
        config.check_fits::<T>(gpu)?;
        let host = init_weights_in::<T>(&config);
        let params = ParamTensors::zeros(gpu, &config)?;
        for (tensor, w) in params.weights.iter().zip(&host) {
            tensor.write(gpu, w)?;
        }
        Ok(Fcn { config, params })
    }

    pub fn weights(&self) -> &[Tensor<T>] {
        &self.params.weights
    }

    /// The weights and biases on the host, in the order of [`ParamTensors::tensors`].
    pub fn download(&self, gpu: &Gpu) -> Result<Vec<Vec<T>>> {
        self.params.tensors().map(|t| t.to_vec(gpu)).collect()
    }
}
