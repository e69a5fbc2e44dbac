//! Device, tensors, kernel launch and timing: everything that talks to wgpu directly.

pub mod adapter;
pub mod context;
pub mod error;
pub mod kernel;
pub mod tensor;
pub mod timing;

pub use context::{list_adapters, AdapterSummary, Gpu, GpuOptions};
pub use error::GpuError;
pub use kernel::{grid_1d, groups_for, Batch, Kernel, Shader};
pub use tensor::{Element, Tensor};
