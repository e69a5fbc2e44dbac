//! One host wrapper per shader family: each builds its pipelines once (`new`) and
//! afterwards only records launches into a [`crate::gpu::Batch`].

pub mod activation;
pub mod bias;
pub mod gram;
pub mod krylov;
pub mod loss;
pub mod matmul;
pub mod ntk;
pub mod real;
pub mod reduce;
pub mod rownorm;
pub mod shaders;
pub mod symstats;
pub mod tridiagonalize;
pub mod vector;

pub use matmul::{Layout, Matmul, MatmulVariant};
pub use real::Real;
