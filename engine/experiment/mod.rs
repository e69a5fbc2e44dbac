//! Experiment configs, sweeps, benchmarks and output files.

pub mod bench;
pub mod npy;
