//! Sweeps that never lie and share safely (issue 12), through the built binary on tiny
//! synthetic configs: stale results are recomputed, a config is never written over,
//! several processes on one folder give the tables of one process, shards partition the
//! runs, `status` and `merge` say and rebuild what is there.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;

use support::Scratch;

/// Four runs of a few milliseconds each.
const CONFIG: &str = "\
kind: conditioning_at_init
dataset: synthetic
precision: f32
infinite_width: true
grid:
  width: [16]
  depth: 2
  n: [4, 6]
  activation: relu_normalized
  renormalize: [true, false]
  seed: [0]
";

fn scratch(test: &str) -> Scratch {
    Scratch::new("share", test)
}

/// A fresh folder for `test` holding CONFIG as c.yaml: the folder, the config, and the
/// output folder `out` in it (not made).
fn with_config(test: &str) -> (Scratch, PathBuf, PathBuf) {
    let dir = scratch(test);
    let config = write(&dir, "c.yaml", CONFIG);
    let out = dir.join("out");
    (dir, config, out)
}

/// `wideprobe ARGS` (in folder `cwd` where given) with a runtime dir of its own.
fn command(args: &[&str], cwd: Option<&Path>) -> Command {
    let mut c = support::wideprobe(args);
    c.env("XDG_RUNTIME_DIR", std::env::temp_dir());
    if let Some(d) = cwd {
        c.current_dir(d);
    }
    c
}

fn wideprobe(args: &[&str], cwd: Option<&Path>) -> Output {
    command(args, cwd).output().unwrap()
}

/// `wideprobe run CONFIG --out OUT --quiet EXTRA...`, which must succeed; what it printed.
fn run_quiet(config: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["run", s(config), "--out", s(out), "--quiet"];
    args.extend_from_slice(extra);
    ok(&wideprobe(&args, None))
}

fn ok(o: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "wideprobe failed: {text}");
    text
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, text).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every file below `dir` whose name marks a temporary or a leftover claim.
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                stack.push(p);
            } else if name.ends_with(".tmp") || name.ends_with(".lock") {
                found.push(p);
            }
        }
    }
    found
}

#[test]
fn a_changed_setting_recomputes_finished_runs_and_says_why() {
    let (dir, config, out) = with_config("stale");
    run_quiet(&config, &out, &[]);
    let first = fs::read_to_string(out.join("layers.csv")).unwrap();
    let again = run_quiet(&config, &out, &[]);
    assert!(again.contains("0 runs done, 4 already finished"), "{again}");

    let changed = write(
        &dir,
        "c.yaml",
        &CONFIG.replace("precision: f32", "precision: f32\ngain: 1.7"),
    );
    let rerun = run_quiet(&changed, &out, &[]);
    assert!(rerun.contains("4 finished runs were recomputed"), "{rerun}");
    assert!(rerun.contains("common.gain"), "{rerun}");
    let second = fs::read_to_string(out.join("layers.csv")).unwrap();
    assert_ne!(first, second, "the tables kept the numbers of the old gain");
    let manifest = fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(
        manifest.contains("1.7"),
        "the manifest does not describe the new gain"
    );
}

#[test]
fn the_config_in_its_own_output_folder_is_not_emptied() {
    let dir = scratch("self");
    let out = support::made(dir.join("out"));
    write(&out, "config.yaml", CONFIG);
    ok(&wideprobe(
        &["run", "config.yaml", "--out", ".", "--quiet"],
        Some(&out),
    ));
    assert_eq!(fs::read_to_string(out.join("config.yaml")).unwrap(), CONFIG);
    // Through a symbolic link to it, too.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(out.join("config.yaml"), dir.join("link.yaml")).unwrap();
        ok(&wideprobe(
            &[
                "run",
                s(&dir.join("link.yaml")),
                "--out",
                s(&out),
                "--quiet",
            ],
            None,
        ));
        assert_eq!(fs::read_to_string(out.join("config.yaml")).unwrap(), CONFIG);
    }
}

#[test]
fn concurrent_processes_on_one_folder_give_the_tables_of_one_process() {
    let (dir, config, _) = with_config("concurrent");
    let single = dir.join("single");
    run_quiet(&config, &single, &[]);
    let parallel: Vec<_> = (0..3)
        .map(|_| {
            let shared = dir.join("parallel");
            command(&["run", s(&config), "--out", s(&shared), "--quiet"], None)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for p in parallel {
        let o = p.wait_with_output().unwrap();
        let text = ok(&o);
        assert!(text.contains(" 0 failed"), "{text}");
    }
    for folder in [&dir.join("parallel")] {
        for table in ["layers.csv", "infinite_width.csv"] {
            assert_eq!(
                fs::read_to_string(single.join(table)).unwrap(),
                fs::read_to_string(folder.join(table)).unwrap(),
                "{table} of {} differs from one process's",
                folder.display()
            );
        }
        assert_eq!(leftovers(folder), Vec::<PathBuf>::new());
        let status = wideprobe(&["status", s(folder)], None);
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stdout)
        );
    }
}

#[test]
fn shards_partition_the_runs_and_status_and_merge_follow() {
    let (dir, config, out) = with_config("shards");
    let first = run_quiet(&config, &out, &["--shard", "0/2"]);
    assert!(
        first.contains("2 runs done") && first.contains("2 runs belong to other shards"),
        "{first}"
    );
    let status = wideprobe(&["status", s(&out)], None);
    let listing = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        !status.status.success(),
        "status must fail while runs are missing:\n{listing}"
    );
    assert!(
        listing.contains("2 done") && listing.contains("2 missing"),
        "{listing}"
    );
    run_quiet(&config, &out, &["--shard", "1/2"]);
    fs::remove_file(out.join("layers.csv")).unwrap();
    ok(&wideprobe(&["merge", s(&out)], None));
    let single = dir.join("single");
    run_quiet(&config, &single, &[]);
    assert_eq!(
        fs::read_to_string(single.join("layers.csv")).unwrap(),
        fs::read_to_string(out.join("layers.csv")).unwrap()
    );
    assert!(wideprobe(&["status", s(&out)], None).status.success());
    let bad = wideprobe(
        &["run", s(&config), "--out", s(&out), "--shard", "2/2"],
        None,
    );
    assert!(!bad.status.success());
}

#[test]
fn a_folder_of_another_experiment_kind_is_refused() {
    let (_dir, config, out) = with_config("kind");
    fs::create_dir_all(&out).unwrap();
    write(&out, "manifest.json", r#"{"kind": "training"}"#);
    let o = wideprobe(&["run", s(&config), "--out", s(&out), "--quiet"], None);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success());
    assert!(
        err.contains("holds results of a training experiment"),
        "{err}"
    );
    assert!(
        err.contains("this config is conditioning_at_init: give another --out"),
        "{err}"
    );
}

/// Batch logs (Slurm, nohup: stderr not a terminal) get one plain line per finished run,
/// with its index, id, status, seconds and an ETA; a rerun that computes nothing prints
/// none.
#[test]
fn a_run_without_a_terminal_prints_one_line_per_run() {
    let (_dir, config, out) = with_config("plain-progress");
    let o = wideprobe(&["run", s(&config), "--out", s(&out)], None);
    let text = ok(&o);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(lines.len(), 4, "{text}");
    for (i, line) in lines.iter().enumerate() {
        assert!(
            line.starts_with(&format!("[{}/4] w16_d2_n", i + 1)),
            "{line}"
        );
        assert!(line.contains(" done in ") && line.contains("ETA"), "{line}");
    }
    let again = wideprobe(&["run", s(&config), "--out", s(&out)], None);
    ok(&again);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(!stderr.lines().any(|l| l.starts_with('[')), "{stderr}");
}

/// Without CIFAR-10 and offline, `dataset: auto` runs on synthetic data with one banner
/// that names the fix, and `dataset: cifar10` is an error naming it (issue 15).
#[test]
fn missing_cifar10_offline_falls_back_once_or_fails_when_strict() {
    let dir = scratch("offline");
    let empty = dir.join("no-data");
    let run = |config: &str, out: &str| {
        let path = write(&dir, &format!("{out}.yaml"), config);
        command(
            &["run", s(&path), "--out", s(&dir.join(out)), "--offline"],
            None,
        )
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("WIDEPROBE_DATA", &empty)
        .output()
        .unwrap()
    };
    let auto = run(
        &CONFIG.replace("dataset: synthetic", "dataset: auto"),
        "auto",
    );
    let text = ok(&auto);
    let stderr = String::from_utf8_lossy(&auto.stderr);
    let banners = stderr.matches("SYNTHETIC").count();
    assert_eq!(banners, 1, "{text}");
    assert!(stderr.contains("wideprobe data fetch"), "{text}");
    let layers = fs::read_to_string(dir.join("auto/layers.csv")).unwrap();
    assert!(layers.contains(",synthetic,"), "{layers}");

    let strict = run(
        &CONFIG.replace("dataset: synthetic", "dataset: cifar10"),
        "strict",
    );
    assert!(!strict.status.success());
    let err = String::from_utf8_lossy(&strict.stderr);
    assert!(
        err.contains("dataset: cifar10") && err.contains("wideprobe data fetch"),
        "{err}"
    );
}

/// `merge` where the sweep's data is not found refuses instead of calling every run stale
/// and rewriting the tables empty, and `status` says the data was not checked (uses the
/// real CIFAR-10 batch when it is beside us).
#[test]
fn merge_without_the_sweeps_data_refuses_and_keeps_the_tables() {
    let cifar = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cifar10");
    if !cifar.join("data_batch_1.bin").exists() {
        eprintln!("skipped: no CIFAR-10 at {}", cifar.display());
        return;
    }
    let dir = scratch("merge-data");
    let config = write(
        &dir,
        "c.yaml",
        &CONFIG.replace("dataset: synthetic", "dataset: auto"),
    );
    let out = dir.join("out");
    let with_data = |args: &[&str], data: &Path| {
        command(args, None)
            .env("XDG_CACHE_HOME", dir.join("cache"))
            .env("WIDEPROBE_DATA", data)
            .output()
            .unwrap()
    };
    ok(&with_data(
        &["run", s(&config), "--out", s(&out), "--quiet", "--offline"],
        &cifar,
    ));
    let tables = fs::read_to_string(out.join("layers.csv")).unwrap();
    assert!(tables.contains(",cifar10,"), "{tables}");
    let elsewhere = with_data(&["merge", s(&out)], &dir.join("no-data"));
    assert!(!elsewhere.status.success());
    let err = String::from_utf8_lossy(&elsewhere.stderr);
    assert!(
        err.contains("WIDEPROBE_DATA") && err.contains("nothing was rewritten"),
        "{err}"
    );
    assert_eq!(fs::read_to_string(out.join("layers.csv")).unwrap(), tables);
    ok(&with_data(&["merge", s(&out)], &cifar));
    assert_eq!(fs::read_to_string(out.join("layers.csv")).unwrap(), tables);
    // `status` of a `dataset: cifar10` sweep without the data: finished runs stay done
    // (checked against every other setting), with a note that the data was not checked.
    // (With `dataset: auto` the data here would be synthetic: stale, rightly.)
    let strict = write(
        &dir,
        "strict.yaml",
        &CONFIG.replace("dataset: synthetic", "dataset: cifar10"),
    );
    let strict_out = dir.join("strict");
    ok(&with_data(
        &[
            "run",
            s(&strict),
            "--out",
            s(&strict_out),
            "--quiet",
            "--offline",
        ],
        &cifar,
    ));
    let status = with_data(&["status", s(&strict_out)], &dir.join("no-data"));
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{text}");
    assert!(
        text.contains("could not be loaded here") && !text.contains("stale"),
        "{text}"
    );
}
