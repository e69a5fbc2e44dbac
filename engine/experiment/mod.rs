//! Experiment configs, one sweep generic over the experiment kind, the two kinds
//! (conditioning at init, training) and `reproduce`.

pub mod conditioning;
pub mod config;
pub mod cost;
pub mod grid;
pub mod identity;
pub mod progress;
pub mod reproduce;
pub mod runner;
pub mod status;
pub mod sweep;
pub mod training;
