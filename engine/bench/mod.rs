//! Kernels in isolation: correctness first, then time (GPU timestamps when the adapter
//! has them, host wall clock otherwise), beside a no-op launch and a copy's bandwidth.

pub mod baseline;
pub mod lanczos;
pub mod limits;
pub mod matmul;
pub mod timing;
pub mod train;

pub use baseline::{measure_baseline, Bandwidth, Baseline};
pub use lanczos::{bench_lanczos, matrix_with_spectrum, LanczosBench};
pub use limits::{Footprint, SizeError};
pub use matmul::{bench_matmul, rel_frobenius, MatmulBench, MatmulBenchArgs};
pub use timing::{time_launches, Timing};
