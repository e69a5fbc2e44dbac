//! `cargo bench`: every matmul variant and layout on an aligned and a deliberately
//! unaligned shape, checked first, then timed. Sizes grow with `WIDEPROBE_BENCH_SCALE`
//! (default 1: small enough for lavapipe; use 8 on a real GPU for 4096-ish sizes).

use wideprobe::bench::{bench_matmul, MatmulBenchArgs};
use wideprobe::gpu::Gpu;
use wideprobe::ops::{Layout, MatmulVariant};

fn main() -> anyhow::Result<()> {
    let scale: usize = std::env::var("WIDEPROBE_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let gpu = Gpu::from_env()?;
    println!("device: {} ({})", gpu.summary.name, gpu.summary.backend);
    println!(
        "{:>7} {:>6} {:>16} {:>10} {:>10} {:>10} {:>9} {:>9}",
        "variant", "layout", "m x n x k", "median ms", "min ms", "GFLOP/s", "err/naive", "err/f64"
    );
    let shapes = [
        (512 * scale, 512 * scale, 512 * scale),
        (1007 * scale / 2, 1023 * scale / 2, 1005 * scale / 2),
    ];
    for (m, n, k) in shapes {
        for variant in MatmulVariant::ALL {
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
                    },
                )?;
                println!(
                    "{:>7} {:>6} {:>16} {:>10.3} {:>10.3} {:>10.2} {:>9.1e} {:>9}",
                    r.variant,
                    r.layout,
                    format!("{m}x{n}x{k}"),
                    r.timing.median_s * 1e3,
                    r.timing.min_s * 1e3,
                    r.gflops_median,
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
