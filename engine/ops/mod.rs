//! One host wrapper per shader family: each builds its pipelines once (`new`) and
//! afterwards only records launches into a [`crate::gpu::Batch`].

pub mod activation;
pub mod bandreduce;
pub mod bias;
pub mod gram;
pub mod launch;
pub mod loss;
pub mod matmul;
mod matmul_bcast;
pub mod matview;
pub mod ntk;
pub mod real;
pub mod reduce;
pub mod rownorm;
pub mod shaders;
pub mod symstats;
pub mod tridiagonalize;
pub mod vector;
pub mod vector_split;

pub use matmul::{Layout, Matmul, MatmulVariant};
pub use real::Real;

/// The member of `all` called `s`: how the configuration's vocabulary (activations,
/// losses, matmul variants and layouts, network precisions) parses. The error lists
/// every name.
pub fn parse_name<T: Copy>(
    what: &str, s: &str, all: &[T], name: fn(T) -> &'static str,
) -> anyhow::Result<T> {
    if let Some(&found) = all.iter().find(|&&v| name(v) == s) {
        return Ok(found);
    }
    let names: Vec<&str> = all.iter().map(|&v| name(v)).collect();
    let choices = match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.concat(),
    };
    anyhow::bail!("unknown {what} `{s}`: use {choices}")
}
