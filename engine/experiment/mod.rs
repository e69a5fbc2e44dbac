//! Experiment configs, sweeps and the two experiment kinds.

pub mod conditioning;
pub mod config;
pub mod reproduce;
pub mod runner;
pub mod training;
