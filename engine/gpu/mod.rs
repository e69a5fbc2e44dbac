//! Device, tensors, kernel launch and timing: everything that talks to wgpu directly.
//!
//! Dependencies run one way: `kernel` (shaders, compiled entry points) needs only wgpu;
//! `context` (the device and its pipeline cache) builds kernels; `readback`, `timing`,
//! `tensor` and `batch` use the context; `batch` records kernels and times them, adding
//! the times to the context's `profile` when one was asked for.

pub mod adapter;
pub mod batch;
pub mod context;
pub mod error;
pub mod kernel;
pub mod profile;
pub mod readback;
pub mod tensor;
pub mod timing;

pub use batch::{grid_1d, groups_for, Batch, Bound};
pub use context::{list_adapters, AdapterSummary, Gpu, GpuOptions, Traffic};
pub use error::GpuError;
pub use kernel::{Kernel, Shader};
pub use tensor::{Element, Tensor};
