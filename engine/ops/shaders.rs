//! Every WGSL file of `shaders/`, in one list, so tests can validate them all.

use crate::gpu::Shader;

const NONE: wgpu::Features = wgpu::Features::empty();

pub static MATMUL: Shader = Shader {
    name: "matmul",
    source: include_str!("../../shaders/matmul.wgsl"),
    features: NONE,
    trusted: true,
};

/// All shaders, for validation and translation tests.
pub static ALL: &[&Shader] = &[&MATMUL];
