//! Experiment configs, sweeps and output files.

pub mod npy;
