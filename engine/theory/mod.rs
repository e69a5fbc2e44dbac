//! Plain maths with no GPU: dual activations and the infinite-width kernels.

pub mod dual;
pub mod infinite_width;
