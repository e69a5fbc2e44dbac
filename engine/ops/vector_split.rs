//! How the vector kernels (shaders/vector.wgsl) spread their work over workgroups on
//! each kind of adapter: GPUs want many invocations in flight; CPU drivers (lavapipe)
//! run a workgroup's invocations as SIMD groups on one thread and switch between all of
//! them at every barrier, so there a barrier costs more than a row's arithmetic
//! (docs/PERFORMANCE.md, eighth session).

use anyhow::Result;

use crate::gpu::adapter::{device_choice, env_value};
use crate::gpu::Gpu;

/// The most workgroups the first stage of a dot product uses (its partial sums are the
/// scratch tensor). With 256 invocations each, a vector of 25 million elements gives each
/// invocation ~100 elements to sum sequentially: the f32 error stays near 1e-5 relative.
pub const MAX_PARTIALS: usize = 1024;

/// On CPU adapters, the elements each invocation of a dot product's first stage sums in
/// sequence before the workgroups multiply: each workgroup's tree costs eight barriers,
/// and on a CPU driver every barrier switches between all of its SIMD groups, so 1024
/// workgroups cost more than the arithmetic (an nrm2 of 430,000 elements took 2.8 ms on
/// lavapipe, 0.23 ms with the 14 workgroups this gives on 2 threads: docs/PERFORMANCE.md).
/// 128 keeps the sums no deeper than a GPU's at 33 million elements.
pub const CPU_SEQUENTIAL: usize = 128;

/// The workgroups of a dot product's first stage for a vector of n elements: one
/// element per invocation up to [`MAX_PARTIALS`] workgroups on GPUs; on CPU adapters
/// (`cpu_threads` the host's threads) enough for [`CPU_SEQUENTIAL`] elements per
/// invocation, and at least four per thread.
pub fn dot_partials(n: usize, cpu_threads: Option<usize>) -> usize {
    let one_each = n.div_ceil(REDUCTION_WG);
    let groups = match cpu_threads {
        None => one_each,
        Some(threads) => {
            let wanted = n.div_ceil(REDUCTION_WG * CPU_SEQUENTIAL).max(4 * threads);
            wanted.min(one_each)
        }
    };
    groups.clamp(1, MAX_PARTIALS)
}

/// Invocations per workgroup of the reductions in shaders/vector.wgsl (REDUCTION_WG).
pub(super) const REDUCTION_WG: usize = 256;

/// Rows of A each workgroup of `vector_gemv_rows` takes: 256 invocations, ROW_LANES
/// (8) on each row.
pub const GEMV_ROWS_PER_GROUP: usize = REDUCTION_WG / GEMV_ROW_LANES;

/// Invocations on each row in `vector_gemv_rows`: its override ROW_LANES, set from
/// here. 8 was fastest on lavapipe (1, 4, 8 and 32 tried, docs/PERFORMANCE.md).
pub const GEMV_ROW_LANES: usize = 8;

/// How `gemv` without transpose splits A's rows over workgroups. Both sum the same
/// products; they differ in the order of the sums and in speed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemvSplit {
    /// One workgroup per row, 256 invocations on it, summed by a tree: the most
    /// invocations in flight, for GPUs.
    WorkgroupPerRow,
    /// [`GEMV_ROWS_PER_GROUP`] rows per workgroup, [`GEMV_ROW_LANES`] invocations on each
    /// and one barrier: for CPU drivers, where a barrier costs more than a row's
    /// arithmetic.
    RowsPerWorkgroup,
}

impl GemvSplit {
    /// Rows per workgroup on CPU adapters, where it was measured (docs/PERFORMANCE.md);
    /// a workgroup per row on GPUs until the two are timed there. [`GEMV_VARIABLE`]
    /// overrides the choice, for benchmarks.
    pub fn for_device(gpu: &Gpu) -> Result<GemvSplit> {
        let choice = env_value(GEMV_VARIABLE);
        Self::chosen(choice.as_deref(), gpu.summary.is_cpu())
    }

    /// The split [`GEMV_VARIABLE`]'s value `choice` (unset: `None`) asks for on an
    /// adapter that is or is not a CPU.
    fn chosen(choice: Option<&str>, is_cpu: bool) -> Result<GemvSplit> {
        let named = [
            ("rows", GemvSplit::RowsPerWorkgroup),
            ("workgroup", GemvSplit::WorkgroupPerRow),
        ];
        let defaults = (GemvSplit::RowsPerWorkgroup, GemvSplit::WorkgroupPerRow);
        device_choice(GEMV_VARIABLE, choice, is_cpu, defaults, &named)
    }
}

/// The environment variable that chooses [`GemvSplit`] for every `gemv` without
/// transpose: `rows`, `workgroup` or `auto` (the default).
pub const GEMV_VARIABLE: &str = "WIDEPROBE_GEMV";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_error_names;

    #[test]
    fn dot_partials_keep_cpu_sums_short_and_gpu_groups_full() {
        for n in [0, 1, 255, 256, 257, 430_000, 25_000_000, 300_000_000] {
            let gpu = dot_partials(n, None);
            assert_eq!(gpu, n.div_ceil(256).clamp(1, MAX_PARTIALS), "GPU, n = {n}");
            for threads in [1, 2, 64] {
                let cpu = dot_partials(n, Some(threads));
                assert!(
                    (1..=gpu).contains(&cpu),
                    "n = {n}, {threads} threads: {cpu}"
                );
                // Either no deeper than CPU_SEQUENTIAL per invocation, or as many
                // workgroups as a GPU gets.
                assert!(
                    n.div_ceil(cpu * 256) <= CPU_SEQUENTIAL || cpu == gpu,
                    "n = {n}, {threads} threads: {cpu} workgroups"
                );
                assert!(
                    cpu >= (4 * threads).min(gpu),
                    "n = {n}, {threads} threads: {cpu}"
                );
            }
        }
        assert_eq!(dot_partials(430_000, Some(2)), 14);
    }

    #[test]
    fn gemv_split_defaults_by_adapter_and_names_bad_values() {
        for choice in [None, Some(""), Some("auto")] {
            assert_eq!(
                GemvSplit::chosen(choice, true).unwrap(),
                GemvSplit::RowsPerWorkgroup
            );
            assert_eq!(
                GemvSplit::chosen(choice, false).unwrap(),
                GemvSplit::WorkgroupPerRow
            );
        }
        for is_cpu in [false, true] {
            let rows = GemvSplit::chosen(Some("rows"), is_cpu).unwrap();
            let workgroup = GemvSplit::chosen(Some("workgroup"), is_cpu).unwrap();
            assert_eq!(rows, GemvSplit::RowsPerWorkgroup);
            assert_eq!(workgroup, GemvSplit::WorkgroupPerRow);
        }
        assert_error_names(
            GemvSplit::chosen(Some("row"), true),
            &["WIDEPROBE_GEMV=row", "workgroup"],
        );
    }
}
