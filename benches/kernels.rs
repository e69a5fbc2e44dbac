//! `cargo bench`: every matmul variant and layout on an aligned and a deliberately
//! unaligned shape, checked first, then timed. Sizes grow with `WIDEPROBE_BENCH_SCALE`
//! (default 1: small enough for lavapipe; use 8 on a real GPU for 4096-ish sizes).
//! GB/s counts compulsory traffic (A, B read once, C written once); "% copy" is that
//! against the copy bandwidth measured in the same run (the baseline line).

use wideprobe::bench::{bench_matmul, measure_baseline, MatmulBenchArgs};
use wideprobe::gpu::Gpu;
use wideprobe::linalg::Precision;
use wideprobe::ops::{Layout, MatmulVariant};

fn main() -> anyhow::Result<()> {
    let scale: usize = std::env::var("WIDEPROBE_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let gpu = Gpu::from_env()?;
    println!("device: {} ({})", gpu.summary.name, gpu.summary.backend);
    let baseline = measure_baseline(&gpu, 1, 5)?;
    print!("{baseline}");
    println!(
        "{:>9} {:>6} {:>16} {:>10} {:>10} {:>10} {:>8} {:>7} {:>9} {:>9}",
        "variant",
        "layout",
        "m x n x k",
        "median ms",
        "min ms",
        "GFLOP/s",
        "GB/s",
        "% copy",
        "err/naive",
        "err/f64"
    );
    let shapes = [
        (512 * scale, 512 * scale, 512 * scale),
        (1007 * scale / 2, 1023 * scale / 2, 1005 * scale / 2),
    ];
    for (m, n, k) in shapes {
        // The broadcast variant needs subgroups, which some adapters lack.
        for variant in MatmulVariant::ALL.into_iter().filter(|v| v.available(&gpu)) {
            for layout in [Layout::NN, Layout::NT, Layout::TN] {
                let r = bench_matmul(
                    &gpu,
                    &MatmulBenchArgs {
                        m,
                        n,
                        k,
                        layout,
                        variant,
                        repeats: 5,
                        warmup: 1,
                        seed: 1,
                        precision: Precision::F32,
                    },
                )?;
                println!(
                    "{:>9} {:>6} {:>16} {:>10.3} {:>10.3} {:>10.2} {:>8.2} {:>7.1} {:>9.1e} {:>9}",
                    r.variant,
                    r.layout,
                    format!("{m}x{n}x{k}"),
                    r.timing.median_s * 1e3,
                    r.timing.min_s * 1e3,
                    r.gflops_median,
                    r.bandwidth.gbs,
                    100.0 * r.bandwidth.fraction_of_copy_peak,
                    r.rel_error_vs_naive,
                    r.rel_error_vs_f64
                        .map(|e| format!("{e:.1e}"))
                        .unwrap_or_else(|| "-".into())
                );
            }
        }
    }
    Ok(())
}
