//! Kernel tests: every GPU kernel against an f64 CPU reference, on fresh random inputs,
//! at sizes that are not multiples of the tile, with outputs poisoned first.
//! One test binary (one link) for all of them; `common` holds the references.

#[macro_use]
mod common;
#[path = "../support/mod.rs"]
mod support;

mod activation;
mod band;
mod bandreduce;
mod bias;
mod data;
mod dense_spectrum;
mod experiment;
mod fcn;
mod figures_training;
mod gram;
mod matmul;
mod matmul_views;
mod network_f64;
mod npy;
mod ntk;
mod ntk_kernels;
mod reduce;
mod report;
mod reproduce;
mod rownorm;
mod shaders;
mod spectral;
mod symstats;
mod tables;
mod tensor;
mod training;
mod training_sweep;
mod vector;
