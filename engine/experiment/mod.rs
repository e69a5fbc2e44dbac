//! Experiment configs, sweeps, outputs, figures and benchmarks.

pub mod bench;
pub mod conditioning;
pub mod config;
pub mod figures;
pub mod figures_training;
pub mod npy;
pub mod report;
pub mod reproduce;
pub mod runner;
pub mod table;
pub mod training;
