//! One host wrapper per shader family: each builds its pipelines once (`new`) and
//! afterwards only records launches into a [`crate::gpu::Batch`].

pub mod matmul;
pub mod shaders;

pub use matmul::{Layout, Matmul, MatmulVariant};
