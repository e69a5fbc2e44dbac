//! Networks on the GPU: the FCN's forward, backward and forward-mode (JVP) passes, and
//! its empirical NTK.

pub mod fcn;
pub mod ntk;

pub use fcn::{forward, Fcn, FcnConfig, ForwardOps};
