//! `wideprobe spectrum`: extreme eigenvalues of a symmetric matrix from a .npy file.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;

use wideprobe::gpu::{Gpu, GpuOptions};
use wideprobe::io::npy::{read_npy, NpyData};
use wideprobe::linalg::{
    spectrum_with_method, LanczosOptions, Precision, SpectrumMethod, SpectrumResult,
};

use super::args::{positive, tolerance};
use super::output::{aside, emit, emit_json};

#[derive(Args)]
pub struct SpectrumArgs {
    /// The .npy file.
    file: PathBuf,
    /// auto (the dense solver up to order 8192 when it fits the device, else Lanczos), lanczos or dense.
    #[arg(long, default_value = "auto")]
    method: SpectrumMethod,
    /// How many eigenvalues to report at each end (>= 1).
    #[arg(long, default_value_t = 1, value_parser = positive)]
    k: usize,
    /// auto (f64 where the adapter has SHADER_F64), f32 or f64.
    #[arg(long, default_value = "auto")]
    precision: Precision,
    /// Residual tolerance of λ_max, relative (strictly between 0 and 1).
    #[arg(long, default_value_t = 1e-6, value_parser = tolerance, allow_negative_numbers = true)]
    tol_max: f64,
    /// Residual tolerance of λ_min, relative (strictly between 0 and 1).
    #[arg(long, default_value_t = 1e-4, value_parser = tolerance, allow_negative_numbers = true)]
    tol_min: f64,
    /// Seed of the random start vector.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn spectrum(options: &GpuOptions, args: SpectrumArgs) -> Result<()> {
    let (n, mut data) = read_symmetric(&args.file)?;
    // A finite matrix whose entries' squares could overflow (or underflow) the solver's
    // sums, in f32 as well as f64 (f32's range ends near 3e38), is solved scaled to a
    // largest entry of 1 (each entry rounded once); the eigenvalues are scaled back.
    let largest = data.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let scale = if largest > 0.0 && !(1e-15..=1e15).contains(&largest) {
        largest
    } else {
        1.0
    };
    if scale != 1.0 {
        data.iter_mut().for_each(|x| *x /= scale);
    }
    let gpu = Gpu::new(options)?;
    let opts = LanczosOptions {
        tol_max: args.tol_max,
        tol_min: args.tol_min,
        k: args.k,
        seed: args.seed,
        ..Default::default()
    };
    let mut result = spectrum_with_method(&gpu, n, &data, args.precision, args.method, &opts)?;
    if scale != 1.0 {
        scale_back(&mut result, scale);
    }
    // κ = λ_max / λ_min is a condition number only for positive semi-definite matrices.
    if result.lambda_min() + result.smallest[0].bound < 0.0 {
        result.notes.push(format!(
            "the matrix is not positive semi-definite (λ_min = {:e} < 0): κ is defined for PSD \
             matrices (Gram matrices, kernels) and is reported as inf here",
            result.lambda_min()
        ));
    }
    if args.k > n {
        result.notes.push(format!(
            "--k {} is more than the order {n}: every eigenvalue is reported at each end",
            args.k
        ));
    }
    // A positive λ_min within its bound of 0 leaves κ unresolved: say what is known.
    let (lo, bound) = (result.lambda_min(), result.smallest[0].bound);
    if lo > 0.0 && lo <= bound {
        result.notes.push(format!(
            "λ_min = {lo:.3e} is within its error bound ({bound:.2e}) of 0: the matrix is singular \
             to this precision, so κ = {:.3e} is not resolved; only κ >= λ_max / (λ_min + bound) \
             = {:.3e} is (another method or precision may print another κ)",
            result.kappa(),
            result.lambda_max() / (lo + bound)
        ));
    }
    if args.json {
        emit_json(&result)
    } else {
        emit(&SpectrumReport(&result))
    }
}

/// The eigenvalues (extremes with their residuals and bounds, and the whole spectrum
/// where there is one) of a matrix solved scaled by 1/`scale`, back at the matrix's own
/// scale, with a note saying so and one for any eigenvalue beyond f64's range.
fn scale_back(result: &mut SpectrumResult, scale: f64) {
    let kappa = result.kappa();
    let (mut overflowed, mut underflowed) = (None, None);
    for e in result.largest.iter_mut().chain(result.smallest.iter_mut()) {
        let back = e.value * scale;
        if back.is_infinite() {
            overflowed = Some(e.value);
        } else if e.value != 0.0 && back.abs() < f64::MIN_POSITIVE {
            underflowed = Some(e.value);
        }
        e.value = back;
        e.residual *= scale;
        e.bound *= scale;
    }
    if let Some(all) = result.full_spectrum.as_mut() {
        all.iter_mut().for_each(|v| *v *= scale);
    }
    result.notes.push(format!(
        "solved scaled by 1/{scale:e} (the largest entry), so that no square overflows"
    ));
    if let Some(scaled) = overflowed {
        result.notes.push(format!(
            "an eigenvalue, {scaled:e} × {scale:e}, is beyond f64's range and is reported as \
             ±inf (null in JSON), and so is κ; the scaled matrix's κ, which scaling does not \
             change, is {kappa:e}. Divide the matrix by a constant to see the eigenvalue"
        ));
    }
    if let Some(scaled) = underflowed {
        result.notes.push(format!(
            "an eigenvalue, {scaled:e} × {scale:e}, is below f64's normal range and is \
             reported with fewer digits, or as 0; the scaled matrix's κ is {kappa:e}. \
             Multiply the matrix by a constant to see it"
        ));
    }
}

/// Reads a symmetric matrix from .npy, with a clear error for anything else.
fn read_symmetric(path: &Path) -> Result<(usize, Vec<f64>)> {
    let array = read_npy(path)?;
    let n = match array.shape[..] {
        [r, c] if r == c && r > 0 => r,
        _ => anyhow::bail!(
            "{}: expected a square matrix, got shape {:?}",
            path.display(),
            array.shape
        ),
    };
    // Symmetric to the storage precision: BLAS products X Xᵀ need not be bitwise symmetric.
    let tolerance = match array.data {
        NpyData::F32(_) => 1e-5,
        NpyData::F64(_) => 1e-12,
    };
    let data = array.to_f64();
    if let Some(bad) = data.iter().find(|x| !x.is_finite()) {
        anyhow::bail!("{}: the matrix contains {bad}", path.display());
    }
    let scale = data.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let mut worst = (0.0, 0, 0);
    for i in 0..n {
        for j in 0..i {
            let d = (data[i * n + j] - data[j * n + i]).abs();
            if d > worst.0 {
                worst = (d, i, j);
            }
        }
    }
    if worst.0 > tolerance * scale {
        let (d, i, j) = worst;
        anyhow::bail!(
            "{}: the matrix is not symmetric: |A[{i},{j}] - A[{j},{i}]| = {d:e} (largest entry {scale:e}); \
             symmetrise it first, e.g. (A + A.T) / 2",
            path.display()
        );
    }
    Ok((n, data))
}

/// The text form of a spectrum: one line per eigenvalue, then κ and the solver's notes.
struct SpectrumReport<'a>(&'a SpectrumResult);

impl fmt::Display for SpectrumReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        let restarts = aside(r.restarts, |n| format!("{n} restarts"));
        writeln!(
            f,
            "order {}, {} in {}, {} steps{restarts}, {:.3} s{}",
            r.order,
            r.method,
            r.precision.name(),
            r.iterations,
            r.seconds,
            if r.converged { "" } else { ", NOT CONVERGED" }
        )?;
        for (label, list) in [("largest", &r.largest), ("smallest", &r.smallest)] {
            for (i, e) in list.iter().enumerate() {
                writeln!(
                    f,
                    "  {label} {}: {:.12e}  ± {:.2e}{}",
                    i + 1,
                    e.value,
                    e.bound,
                    if e.converged { "" } else { " (not converged)" }
                )?;
            }
        }
        let kappa = r.kappa();
        writeln!(
            f,
            "  kappa = {kappa:.6e}, log10 kappa = {:.4}",
            kappa.log10()
        )?;
        for note in &r.notes {
            writeln!(f, "  note: {note}")?;
        }
        writeln!(
            f,
            "  {} submissions, {} readbacks",
            r.submissions, r.readbacks
        )
    }
}
