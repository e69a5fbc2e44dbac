//! Seeded fuzzing of what users hand wideprobe: .npy files, experiment configs and bench
//! arguments. Every case must end in a value or a clean error: never a panic, an abort
//! or a run past a time bound. `WIDEPROBE_FUZZ_SEED` replays a run; the seed is printed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

mod support;

fn seed() -> u64 {
    let seed = std::env::var("WIDEPROBE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(7)
        });
    eprintln!("fuzz seed {seed} (WIDEPROBE_FUZZ_SEED={seed} replays it)");
    seed
}

fn valid_npy() -> Vec<u8> {
    support::npy_2x2([2.0, 1.0, 1.0, 3.0])
}

/// Random edits of `bytes`: flips, insertions of header-ish tokens, truncations.
fn mutate(rng: &mut rand::rngs::StdRng, bytes: &[u8]) -> Vec<u8> {
    const TOKENS: &[&str] = &[
        "(",
        ")",
        "((((((((",
        ",",
        "'",
        "{",
        "}",
        ":",
        "-1",
        "99999999999999999999",
        "<f4",
        "|u1",
        ">f8",
        "True",
        "None",
        "\n",
        "\\x00",
        "shape",
        "descr",
    ];
    let mut out = bytes.to_vec();
    for _ in 0..rng.random_range(1..6) {
        match rng.random_range(0..4) {
            0 if !out.is_empty() => {
                let i = rng.random_range(0..out.len());
                out[i] = rng.random();
            }
            1 => {
                let i = rng.random_range(0..=out.len());
                let t = TOKENS[rng.random_range(0..TOKENS.len())].repeat(rng.random_range(1..50));
                out.splice(i..i, t.bytes());
            }
            2 if !out.is_empty() => {
                let n = rng.random_range(0..out.len());
                out.truncate(n);
            }
            _ => {
                let i = rng.random_range(0..=out.len().min(10));
                let n = rng.random_range(0..4);
                out.splice(i..i, std::iter::repeat_n(0xffu8, n));
            }
        }
    }
    out
}

#[test]
fn npy_files_never_panic() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed());
    let valid = valid_npy();
    // A case once found by this fuzzer: unclosed brackets inside the shape, on which the
    // literal parser backtracked for 90 s.
    let unclosed = String::from_utf8_lossy(&valid).replace("(2,", "(2,{{{{{{{{{{{{{{");
    let cases =
        std::iter::once(unclosed.into_bytes()).chain((0..3000).map(|_| mutate(&mut rng, &valid)));
    for (case, bytes) in cases.enumerate() {
        let start = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| {
            wideprobe::io::npy::read_npy_bytes(&bytes)
        }));
        let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]);
        assert!(result.is_ok(), "case {case}: reading {shown:?} panicked");
        // A hang detector, not a speed test: a header of a few hundred bytes reads in
        // microseconds, so seconds mean a runaway parse.
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "case {case}: reading {shown:?} took {:?}",
            start.elapsed()
        );
    }
}

#[test]
fn configs_never_panic() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed() ^ 0x5eed);
    let base = include_str!("../experiments/quick.yaml");
    const VALUES: &[&str] = &[
        "0",
        "-1",
        "1e308",
        "nan",
        "[]",
        "[[1]]",
        "{}",
        "~",
        "\"x\"",
        "18446744073709551616",
        "true",
        "relu",
        "auto",
        "- 1",
        ": :",
        "&a",
        "*a",
        "!!binary AA==",
    ];
    let keys: Vec<&str> = base
        .lines()
        .filter_map(|l| l.split_once(':').map(|(k, _)| k))
        .collect();
    for case in 0..1500 {
        let mut text = base.to_string();
        for _ in 0..rng.random_range(1..4) {
            let key = keys[rng.random_range(0..keys.len())];
            let value = VALUES[rng.random_range(0..VALUES.len())];
            let line = text
                .lines()
                .find(|l| l.starts_with(key))
                .unwrap_or("")
                .to_string();
            if !line.is_empty() {
                text = text.replacen(&line, &format!("{key}: {value}"), 1);
            }
        }
        if rng.random_bool(0.2) {
            let mut cut = rng.random_range(0..text.len());
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        let result = catch_unwind(AssertUnwindSafe(|| {
            wideprobe::experiment::config::parse_config(&text, "fuzz.yaml")
        }));
        assert!(result.is_ok(), "case {case}: parsing panicked on:\n{text}");
    }
}

#[test]
fn bench_arguments_never_panic() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed() ^ 0xbe7c);
    const NUMBERS: &[&str] = &[
        "0",
        "1",
        "-1",
        "7",
        "65536",
        "4294967296",
        "18446744073709551615",
        "100000000000000000000000000000000000000000000000000000",
        "nan",
        "inf",
        "1e3",
        "x",
    ];
    // Each bench command with its size flags (a random number each) and fixed flags.
    let commands: [(&str, &[&str], &[&str]); 3] = [
        ("matmul", &["--m", "--n", "--k"], &["--repeat", "1"]),
        ("lanczos", &["--n", "--kappa"], &[]),
        ("train", &["--n", "--width", "--depth"], &["--repeat", "1"]),
    ];
    for case in 0..24 {
        let (command, sizes, fixed) = commands[case % 3];
        let mut args = vec!["bench", command];
        for &flag in sizes {
            args.extend([flag, NUMBERS[rng.random_range(0..NUMBERS.len())]]);
        }
        args.extend(fixed);
        // Sizes that are valid and small would just run; bound them so the test stays fast.
        let start = Instant::now();
        let mut child = support::wideprobe(&args)
            .env("XDG_RUNTIME_DIR", std::env::temp_dir())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > Duration::from_secs(60) {
                // A valid size that simply takes long on a software GPU: not a hang of ours
                // unless it ignores its bound entirely; stop it and go on.
                let _ = child.kill();
                break child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        support::assert_no_panic(&args, status, &stderr);
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            assert_ne!(
                status.signal(),
                Some(6),
                "wideprobe {args:?} aborted: {stderr}"
            );
        }
    }
}
