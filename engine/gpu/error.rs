//! Errors a user can act on. Each message names the problem and the fix.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum GpuError {
    #[error(
        "no GPU adapter found: install a Vulkan driver, e.g. `apt-get install mesa-vulkan-drivers libvulkan1` \
         (a software driver), or check that your GPU driver is installed"
    )]
    NoAdapter,

    #[error(
        "no adapter matches \"{wanted}\" (from --adapter or WIDEPROBE_ADAPTER); available: {available}. \
         Run `wideprobe info` to list them"
    )]
    AdapterNotFound { wanted: String, available: String },

    #[error(
        "{what} needs {bytes} bytes ({:.1} MiB), over this adapter's storage binding limit of {limit} bytes \
         ({:.1} MiB) on {adapter}: use a smaller size (fewer examples or a narrower layer) or a GPU with a larger limit",
        *bytes as f64 / 1048576.0,
        *limit as f64 / 1048576.0
    )]
    TooLarge {
        what: String,
        bytes: u64,
        limit: u64,
        adapter: String,
    },

    #[error(
        "shader `{shader}` needs {feature}, which adapter {adapter} lacks; use `precision: f32` or another adapter"
    )]
    MissingFeature {
        shader: &'static str,
        feature: String,
        adapter: String,
    },

    #[error("{0}")]
    Shape(String),
}
