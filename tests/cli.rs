//! The `wideprobe` binary as a user runs it: help texts, refused values, sizes too large
//! for the machine, and output into a closed pipe. Most cases stop before any GPU work.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod support;

use support::text;

/// The binary on the adapter it picks itself.
fn wideprobe(args: &[&str]) -> Command {
    let mut command = support::wideprobe(args);
    command.env_remove("WIDEPROBE_ADAPTER");
    command
}

fn run(args: &[&str]) -> Output {
    wideprobe(args).output().expect("the wideprobe binary runs")
}

/// `run` with the environment variable `variable` set to `value`.
fn run_with(args: &[&str], variable: &str, value: impl AsRef<std::ffi::OsStr>) -> Output {
    let mut command = wideprobe(args);
    command.env(variable, value);
    command.output().expect("the wideprobe binary runs")
}

fn assert_no_panic(args: &[&str], output: &Output) {
    support::assert_no_panic(&args, output.status, &text(&output.stderr));
}

/// A GPU command could not run at all on this machine (no adapter): nothing to check.
fn no_adapter(output: &Output) -> bool {
    let no = text(&output.stderr).contains("no GPU adapter found");
    if no {
        eprintln!("skipped: no GPU adapter on this machine");
    }
    no
}

#[test]
fn every_subcommand_help_describes_that_subcommand() {
    let cases: &[(&[&str], &str)] = &[
        (&["info"], "List every GPU adapter"),
        (&["bench"], "Run one kernel in isolation"),
        (&["bench", "matmul"], "C = op(A) op(B)"),
        (&["bench", "lanczos"], "Lanczos on an n x n matrix"),
        (&["bench", "train"], "Time one training epoch"),
        (&["run"], "Run an experiment"),
        (&["plot"], "Redraw the figures"),
        (&["reproduce"], "Reproduce the paper"),
        (&["spectrum"], "Extreme eigenvalues"),
        (&["data"], "Datasets"),
        (&["data", "fetch"], "Download the CIFAR-10"),
    ];
    for (path, about) in cases {
        let args: Vec<&str> = path.iter().copied().chain(["--help"]).collect();
        let output = run(&args);
        let stdout = text(&output.stdout);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            text(&output.stderr)
        );
        assert!(
            stdout.starts_with(about),
            "`wideprobe {}` help should open with \"{about}\", got:\n{stdout}",
            args.join(" ")
        );
    }
    let train = text(&run(&["bench", "train", "--help"]).stdout);
    assert!(
        !train.contains("Lanczos"),
        "bench train shows Lanczos help:\n{train}"
    );
}

#[test]
fn out_of_range_values_are_refused_before_any_work() {
    let mut cases: Vec<Vec<&str>> = vec![
        vec!["spectrum", "g.npy", "--tol-max", "NaN"],
        vec!["spectrum", "g.npy", "--tol-max", "-1"],
        vec!["spectrum", "g.npy", "--tol-max=-1"],
        vec!["spectrum", "g.npy", "--tol-max", "1"],
        vec!["spectrum", "g.npy", "--tol-min", "inf"],
        vec!["spectrum", "g.npy", "--k", "0"],
        vec![
            "bench",
            "matmul",
            "--m",
            "100000000000000000000000000000000000000000000000000000",
        ],
        vec!["bench", "lanczos", "--kappa", "NaN"],
        vec!["bench", "lanczos", "--kappa", "0.5"],
        vec!["bench", "lanczos", "--kappa", "inf"],
        // Counts that would hold the machine for days.
        vec!["bench", "matmul", "--repeat", "18446744073709551615"],
        vec!["bench", "matmul", "--warmup", "1000001"],
        vec!["bench", "spectrum", "--repeat", "1000001"],
        vec!["bench", "train", "--measure-repeat", "1000001"],
    ];
    // Every size and repeat count of the benches is at least 1.
    let counts: &[(&str, &[&str])] = &[
        (
            "train",
            &["--n", "--width", "--depth", "--repeat", "--measure-repeat"],
        ),
        ("matmul", &["--m", "--n", "--k", "--repeat"]),
        ("lanczos", &["--n"]),
    ];
    for (bench, flags) in counts {
        cases.extend(flags.iter().map(|flag| vec!["bench", bench, flag, "0"]));
    }
    for args in &cases {
        let output = run(args);
        assert_no_panic(args, &output);
        let stderr = text(&output.stderr);
        let last_flag = args.iter().rev().find(|a| a.starts_with("--")).unwrap();
        let flag = last_flag.split('=').next().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?} accepted: {stderr}");
        assert!(
            stderr.contains("invalid value") && stderr.contains(flag),
            "{args:?}: the message should name {flag}: {stderr}"
        );
    }
}

/// Bench sizes past the machine are errors naming the size, the limit and the fix
/// (`bench spectrum`'s were an abort in malloc at n = 100,000 and a machine filled at
/// n = 3e9).
#[test]
fn bench_sizes_past_the_machine_are_errors_naming_size_limit_and_fix() {
    let max = u64::MAX.to_string();
    let matmul_fix = "use smaller --m, --n and --k";
    let cases: &[(&[&str], &str, &str)] = &[
        // m k * 4 bytes overflows 64 bits (was "capacity overflow").
        (
            &["matmul", "--m", &max, "--n", "2", "--k", "2"],
            "more than 2^64 bytes",
            matmul_fix,
        ),
        // 40 GB per operand: over every adapter's buffer limit (was an abort in malloc).
        (
            &["matmul", "--m", "100000", "--n", "100000", "--k", "100000"],
            "limit",
            matmul_fix,
        ),
        (
            &["spectrum", "--n", "100000", "--method", "dense"],
            "limit",
            "use a smaller --n",
        ),
        (
            &["spectrum", "--n", "3000000000", "--method", "dense"],
            "more than 2^64 bytes",
            "use a smaller --n",
        ),
    ];
    for (bench_args, problem, fix) in cases {
        let args: Vec<&str> = std::iter::once("bench")
            .chain(bench_args.iter().copied())
            .collect();
        let output = run(&args);
        assert_no_panic(&args, &output);
        if no_adapter(&output) {
            return;
        }
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(problem) && stderr.contains(fix),
            "{args:?}: {stderr}"
        );
    }
}

/// A 2 x 2 f64 matrix as .npy (version 1.0 header, padded to 64 bytes).
fn write_small_npy(dir: &Path) -> PathBuf {
    write_npy_2x2(dir, "g.npy", [2.0, 1.0, 1.0, 3.0])
}

fn write_npy_2x2(dir: &Path, name: &str, values: [f64; 4]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, support::npy_2x2(values)).unwrap();
    path
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let dir = std::env::temp_dir().join(format!("wideprobe-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let npy = write_small_npy(&dir);
    let npy = npy.to_str().unwrap();
    let cases: &[&[&str]] = &[
        &["info"],
        &["spectrum", npy],
        &[
            "bench", "matmul", "--m", "7", "--n", "5", "--k", "3", "--repeat", "1", "--warmup", "0",
        ],
    ];
    for args in cases {
        // Reader closed before the child starts: its first write fails with EPIPE.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = wideprobe(args)
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_no_panic(args, &output);
        if no_adapter(&output) {
            return;
        }
        // Exit 0, or killed by SIGPIPE (no code): either way, not an error.
        assert!(
            matches!(output.status.code(), Some(0) | None),
            "wideprobe {args:?} | (closed): {:?}, {}",
            output.status,
            text(&output.stderr)
        );
        let stderr = text(&output.stderr);
        assert!(
            !stderr.contains("Broken pipe") && !stderr.contains("closed by its reader"),
            "{args:?}: {stderr}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `wideprobe spectrum` of the 2 x 2 matrix `values`, saved as `name` in `dir`, with
/// `args` after the file: it must not panic, and must succeed where it can run. Its
/// stdout, or None without an adapter (or without SHADER_F64 where f64 is asked).
fn spectrum_2x2(dir: &Path, name: &str, values: [f64; 4], args: &[&str]) -> Option<String> {
    let file = write_npy_2x2(dir, name, values);
    let mut all = vec!["spectrum", file.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = run(&all);
    assert_no_panic(&["spectrum", name], &out);
    if no_adapter(&out) || text(&out.stderr).contains("SHADER_F64") {
        return None;
    }
    assert!(out.status.success(), "{}", text(&out.stderr));
    Some(text(&out.stdout))
}

#[test]
fn huge_finite_and_indefinite_matrices_get_numbers_and_notes_not_errors() {
    let dir = std::env::temp_dir().join(format!("wideprobe-cli-spec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f64_json = ["--precision", "f64", "--json"];
    let huge = [1e300, 0.0, 0.0, 2e299];
    if let Some(stdout) = spectrum_2x2(&dir, "huge.npy", huge, &f64_json) {
        let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let max = json["largest"][0]["value"].as_f64().unwrap();
        let min = json["smallest"][0]["value"].as_f64().unwrap();
        assert!((max / 1e300 - 1.0).abs() < 1e-9, "λ_max {max}");
        assert!((min / 2e299 - 1.0).abs() < 1e-9, "λ_min {min}");
        // The whole spectrum comes back at the matrix's scale too (it was the scaled
        // matrix's: 0.2 and 1).
        let all = json["full_spectrum"]
            .as_array()
            .expect("every eigenvalue at order 2");
        let all: Vec<f64> = all.iter().map(|v| v.as_f64().unwrap()).collect();
        assert!(
            (all[0] / 2e299 - 1.0).abs() < 1e-9 && (all[1] / 1e300 - 1.0).abs() < 1e-9,
            "{all:?}"
        );
    }
    // Entries near f64::MAX whose largest eigenvalue, 2 × 1.7e308, is beyond it: inf,
    // with a note saying why.
    let beyond = [1.7e308; 4];
    if let Some(stdout) = spectrum_2x2(&dir, "beyond.npy", beyond, &["--precision", "f64"]) {
        assert!(stdout.contains("largest 1: inf"), "{stdout}");
        assert!(
            stdout.contains("is beyond f64's range and is reported as ±inf"),
            "{stdout}"
        );
        // κ of [[1, 1], [1, 1]] is inf (λ_min = 0), and the note gives it.
        assert!(stdout.contains("the scaled matrix's κ"), "{stdout}");
    }
    let indefinite = [1.0, 0.0, 0.0, -2.0];
    if let Some(stdout) = spectrum_2x2(&dir, "indef.npy", indefinite, &[]) {
        assert!(stdout.contains("not positive semi-definite"), "{stdout}");
    }
    // λ_min = 1e-20 is far inside its rounding bound: κ = 1e20 gets a note saying it is
    // not resolved (was printed bare, and another method printed inf).
    let singular = [1.0, 0.0, 0.0, 1e-20];
    // --k past the order: every eigenvalue, and a note saying so.
    if let Some(stdout) = spectrum_2x2(&dir, "singular.npy", singular, &["--k", "3"]) {
        assert!(stdout.contains("κ = 1.000e20 is not resolved"), "{stdout}");
        assert!(
            stdout.contains("--k 3 is more than the order 2"),
            "{stdout}"
        );
    }
    // A 1 x 1 test matrix cannot have κ = 10.
    for bench in ["lanczos", "spectrum"] {
        let args = ["bench", bench, "--n", "1", "--kappa", "10"];
        let out = run(&args);
        assert_no_panic(&args, &out);
        if !no_adapter(&out) {
            assert_eq!(out.status.code(), Some(1), "{args:?}");
            assert!(
                text(&out.stderr).contains("a 1 x 1 matrix has κ = 1"),
                "{args:?}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn networks_too_wide_or_too_deep_are_refused_before_allocating() {
    let dir = std::env::temp_dir().join(format!("wideprobe-cli-size-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = |width: usize, depth: usize| {
        format!(
            "kind: conditioning_at_init\ndataset: synthetic\ninfinite_width: false\n\
             grid:\n  width: [{width}]\n  depth: {depth}\n  n: [4]\n  activation: relu_normalized\n"
        )
    };
    for (name, width, depth, expect) in [
        ("wide", 100_000, 2, "weight matrix"),
        (
            "deep",
            16,
            1_000_000,
            "grid.depth contains 1000000: at most 10000",
        ),
        (
            "deeper",
            16,
            4_000_000_000,
            "grid.depth contains 4000000000: at most 10000",
        ),
    ] {
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(&path, config(width, depth)).unwrap();
        let out_dir = dir.join(name);
        let args = [
            "run",
            path.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
            "--quiet",
        ];
        let out = run(&args);
        assert_no_panic(&args, &out);
        if no_adapter(&out) {
            continue;
        }
        assert!(!out.status.success());
        let stderr = text(&out.stderr);
        assert!(stderr.contains(expect), "{name}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `WIDEPROBE_PROFILE=1` prints, after any command, the GPU time per kernel of every
/// pass it ran; without it nothing is printed.
#[test]
fn profile_variable_prints_gpu_time_per_kernel() {
    let args = [
        "bench", "matmul", "--m", "33", "--n", "7", "--k", "300", "--repeat", "3",
    ];
    let output = run_with(&args, "WIDEPROBE_PROFILE", "1");
    if no_adapter(&output) {
        return;
    }
    assert_no_panic(&args, &output);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    if stderr.contains("no TIMESTAMP_QUERY") {
        return;
    }
    // The kernel under test (33 rows: the tiled kernel itself, not the transposed skinny
    // one it takes for 32 rows or fewer), the naive reference it is checked against, the
    // baseline.
    for part in [
        "GPU profile (WIDEPROBE_PROFILE)",
        "matmul_tiled",
        "matmul_naive",
        "baseline::noop",
    ] {
        assert!(stderr.contains(part), "profile lacks {part}:\n{stderr}");
    }
    let quiet = wideprobe(&args)
        .env_remove("WIDEPROBE_PROFILE")
        .output()
        .expect("the wideprobe binary runs");
    assert!(!text(&quiet.stderr).contains("GPU profile"));
}

/// An override variable whose value is not UTF-8 is refused with the message naming the
/// choices, as any other wrong value is; it does not pass for unset.
#[cfg(unix)]
#[test]
fn override_variables_that_are_not_utf8_are_refused() {
    use std::os::unix::ffi::OsStrExt;
    let dir = std::env::temp_dir().join(format!("wideprobe-cli-utf8-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let npy = write_small_npy(&dir);
    let raw = std::ffi::OsStr::from_bytes(b"rows\xff");
    for (variable, method, choices) in [
        ("WIDEPROBE_GEMV", "lanczos", "use auto, rows or workgroup"),
        (
            "WIDEPROBE_DENSE_REDUCTION",
            "dense",
            "use auto, one-stage or two-stage",
        ),
    ] {
        let args = ["spectrum", npy.to_str().unwrap(), "--method", method];
        let output = run_with(&args, variable, raw);
        if no_adapter(&output) {
            break;
        }
        assert_no_panic(&args, &output);
        let stderr = text(&output.stderr);
        assert!(!output.status.success(), "{variable}: {stderr}");
        assert!(
            stderr.contains(variable) && stderr.contains(choices),
            "{variable}: {stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
