//! Networks on the GPU: FCN init and forward pass (backward and the NTK come next).

pub mod fcn;

pub use fcn::{forward, Fcn, FcnConfig, ForwardOps};
