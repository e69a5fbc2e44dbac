//! wideprobe: GPU measurements of the quantities wide-network theory is built on.
//!
//! Layers, data flowing one way:
//! `gpu` (device, tensors, kernel launch, timing) -> `ops` (one host wrapper per shader)
//! -> `linalg` (eigenvalue solvers) -> `nn` -> `measure` -> `theory` -> `experiment`.

pub mod analysis;
pub mod bench;
pub mod cluster;
pub mod data;
pub mod error;
pub mod experiment;
pub mod gpu;
pub mod io;
pub mod linalg;
pub mod measure;
pub mod nn;
pub mod ops;
pub mod provenance;
#[cfg(test)]
mod testing;
pub mod theory;
