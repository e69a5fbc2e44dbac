//! Networks: activations and losses with their host formulas, the FCN's forward,
//! backward and forward-mode (JVP) passes on the GPU, and its empirical NTK.

pub mod activation;
pub mod fcn;
pub mod init;
pub mod loss;
pub mod ntk;
pub mod params;
pub mod precision;
pub mod step;

pub use activation::Activation;
pub use fcn::{forward, Fcn, FcnConfig, ForwardOps};
pub use loss::{Loss, LossReduction, Objective};
pub use precision::{InNetworkPrecision, NetworkPrecision};
