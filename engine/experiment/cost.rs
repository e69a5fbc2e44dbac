//! Estimated floating-point work of one run, for the progress ETA and the warning before
//! a long sweep on a software adapter. Leading terms only: the dense products of the
//! network, the Gram and NTK matrices, and a dense eigensolver (~4 m³ for order m,
//! Householder tridiagonalisation); constants are rough and only ratios between runs
//! matter for the ETA.

use super::config::{ConditioningConfig, ConditioningRun, TrainingConfig, TrainingRun};
use crate::data::D;

/// Outputs (classes) of every network.
const K: f64 = 10.0;

/// A dense eigensolver of order m.
fn eigen(m: f64) -> f64 {
    4.0 * m * m * m
}

/// Conditioning at init: per layer the forward product, the Gram matrix and its
/// spectrum.
pub fn conditioning_flops(_config: &ConditioningConfig, run: &ConditioningRun) -> f64 {
    let (n, w, depth) = (run.n as f64, run.width as f64, run.depth as f64);
    let first = 2.0 * n * D as f64 * w;
    let per_layer = 2.0 * n * w * w + 2.0 * n * n * w + eigen(n);
    first + depth * per_layer
}

/// Training: per epoch the forward and backward passes (≈ 3 forwards), and at measured
/// epochs the NTK (n·k × n·k, one product per layer) with its spectrum and the last
/// hidden Gram matrix with its spectrum.
pub fn training_flops(config: &TrainingConfig, run: &TrainingRun) -> f64 {
    let (n, w, depth) = (run.n as f64, run.width as f64, run.depth as f64);
    let forward = 2.0 * n * (D as f64 * w + (depth - 1.0).max(0.0) * w * w + w * K);
    let nk = n * K;
    let ntk = (depth + 1.0) * 2.0 * nk * nk * w + eigen(nk);
    let gram = 2.0 * n * n * w + eigen(n);
    let epochs = config.epochs as f64 + 1.0;
    let measured = epochs / config.measure_every.max(1) as f64;
    epochs * 3.0 * forward + measured * (ntk + gram)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::config::{parse_config, ExperimentConfig};

    #[test]
    fn bigger_runs_cost_more() {
        let text = "kind: training\ngrid:\n  depth: 2\n  width: 64\n  lr: 0.01\n  n: [8, 64]\n";
        let ExperimentConfig::Training(config) = parse_config(text, "test").unwrap() else {
            panic!("a training config")
        };
        let runs = config.runs();
        let (small, large) = (
            training_flops(&config, &runs[0]),
            training_flops(&config, &runs[1]),
        );
        assert!(small > 0.0 && large > 8.0 * small, "{small} {large}");
    }
}
