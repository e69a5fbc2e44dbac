//! Plain maths with no GPU: dual activations, the infinite-width kernels, and the PL
//! and stability bounds evaluated on measured constants.

pub mod bounds;
pub mod dual;
pub mod infinite_width;
