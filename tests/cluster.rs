//! `wideprobe slurm`: the batch scripts it writes (no Slurm needed), its submission
//! against a fake `sbatch`, the shard environment, and one end-to-end test on a real
//! Slurm cluster (`.ci/slurm/test.sh`; ignored unless WIDEPROBE_SLURM_TEST=1).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use wideprobe::cluster::slurm::{slurm_command, SlurmArgs};
use wideprobe::cluster::{parse_shard, shard_from_vars};

mod support;

use support::{text, EXE};

/// A tiny synthetic conditioning sweep: 8 runs, two per shard of 4.
const TINY_CONFIG: &str = "\
kind: conditioning_at_init
dataset: synthetic
precision: f32
infinite_width: true
grid:
  width: [64, 96]
  depth: 3
  n: [16, 24]
  activation: relu_normalized
  seed: [0, 1]
";

fn scratch(test: &str) -> PathBuf {
    support::scratch("cluster", test)
}

/// A scratch folder for `test` holding the tiny config, the config, and the sweep's
/// output folder in it (not created).
fn sweep_setup(test: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = scratch(test);
    let config = write_config(&dir);
    let out = dir.join("out");
    (dir, config, out)
}

fn write_config(dir: &Path) -> PathBuf {
    let config = dir.join("tiny.yaml");
    fs::write(&config, TINY_CONFIG).unwrap();
    config
}

/// `wideprobe ARGS`, with PATH set to `path_env` where given.
fn wideprobe(args: &[&str], path_env: Option<&str>) -> Output {
    let mut command = support::wideprobe(args);
    if let Some(p) = path_env {
        command.env("PATH", p);
    }
    command.output().unwrap()
}

/// `wideprobe slurm CONFIG --out OUT EXTRA...`, with PATH set to `path_env` where given.
fn slurm(config: &Path, out: &Path, extra: &[&str], path_env: Option<&str>) -> Output {
    let mut args = vec![
        "slurm",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    wideprobe(&args, path_env)
}

fn args(config: &Path, out: &Path) -> SlurmArgs {
    SlurmArgs {
        config: config.to_path_buf(),
        out: Some(out.to_path_buf()),
        gpus_per_task: 1,
        max_parallel: None,
        partition: None,
        time: None,
        shards: None,
        stop_before: 300,
        max_requeues: 5,
        sbatch: Vec::new(),
        dry_run: true,
        resubmit: false,
    }
}

#[test]
fn dry_run_prints_the_array_and_the_merge_job_and_writes_nothing() {
    let (_dir, config, out) = sweep_setup("dry-run");
    let o = slurm(
        &config,
        &out,
        &[
            "--dry-run",
            "--shards",
            "4",
            "--max-parallel",
            "2",
            "--partition",
            "debug",
            "--time",
            "1:00:00",
            "--stop-before",
            "120",
            "--sbatch=--account=lab",
        ],
        None,
    );
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{stdout}{}", text(&o.stderr));
    for line in [
        "#SBATCH --array=0-3%2",
        "#SBATCH --requeue",
        "#SBATCH --signal=B:USR1@120",
        "#SBATCH --gres=gpu:1",
        "#SBATCH --partition=debug",
        "#SBATCH --time=1:00:00",
        "#SBATCH --account=lab",
        "#SBATCH --dependency=afterany:<array job id>",
        "export WIDEPROBE_SHARDS=4",
        "scontrol requeue",
    ] {
        assert!(stdout.contains(line), "no `{line}` in:\n{stdout}");
    }
    let run = format!(
        "{EXE} run {} --out {} --offline --shard \"$SLURM_ARRAY_TASK_ID/$WIDEPROBE_SHARDS\"",
        fs::canonicalize(&config).unwrap().display(),
        out.display()
    );
    assert!(stdout.contains(&run), "no `{run}` in:\n{stdout}");
    assert!(
        stdout.contains(&format!("exec {EXE} merge {}", out.display())),
        "{stdout}"
    );
    assert!(!out.exists(), "a dry run wrote {}", out.display());
}

#[test]
fn no_gres_without_gpus_and_shards_default_to_max_parallel() {
    let dir = scratch("no-gpu");
    let config = write_config(&dir);
    let mut a = args(&config, &dir.join("out"));
    a.gpus_per_task = 0;
    a.max_parallel = Some(3);
    let s = slurm_command(&a, |_, _| unreachable!("not a resubmission")).unwrap();
    assert_eq!(s.shards, 3);
    assert!(
        s.array_script.contains("#SBATCH --array=0-2%3\n"),
        "{}",
        s.array_script
    );
    assert!(!s.array_script.contains("--gres"), "{}", s.array_script);
    assert!(s.array_job.is_none() && s.merge_job.is_none());
}

#[test]
fn resubmit_submits_only_the_unfinished_shards() {
    let dir = scratch("resubmit");
    let config = write_config(&dir);
    let mut a = args(&config, &dir.join("out"));
    a.resubmit = true;
    a.shards = Some(4);
    let s = slurm_command(&a, |_, n| {
        assert_eq!(n, 4);
        Ok(vec![3, 1, 3])
    })
    .unwrap();
    assert_eq!(s.indices, vec![1, 3]);
    assert!(
        s.array_script.contains("#SBATCH --array=1,3\n"),
        "{}",
        s.array_script
    );
    // The total count stays 4 although the array has two tasks.
    assert!(s.array_script.contains("export WIDEPROBE_SHARDS=4\n"));

    let err = slurm_command(&a, |_, _| Ok(vec![4])).unwrap_err();
    assert!(
        err.to_string().contains("not below the shard count 4"),
        "{err:#}"
    );
    let done = slurm_command(&a, |_, _| Ok(vec![])).unwrap();
    assert!(done.indices.is_empty());

    a.shards = None;
    let err = slurm_command(&a, |_, _| Ok(vec![0])).unwrap_err();
    assert!(
        err.to_string().contains("submit without --resubmit first"),
        "{err:#}"
    );
}

#[test]
fn bad_options_are_named() {
    let dir = scratch("bad-options");
    let config = write_config(&dir);
    let mut a = args(&config, &dir.join("out"));
    a.time = Some("1 hour".into());
    let err = slurm_command(&a, |_, _| Ok(vec![])).unwrap_err();
    assert!(format!("{err:#}").contains("--time"), "{err:#}");
    let mut a = args(&dir.join("missing.yaml"), &dir.join("out"));
    a.shards = Some(2);
    let err = slurm_command(&a, |_, _| Ok(vec![])).unwrap_err();
    assert!(format!("{err:#}").contains("missing.yaml"), "{err:#}");
    let mut a = args(&config, &dir.join("out"));
    a.max_parallel = Some(0);
    assert!(slurm_command(&a, |_, _| Ok(vec![])).is_err());
}

/// A fake `sbatch` that records its arguments and answers job ids 101, 102, ...
fn fake_sbatch(dir: &Path, fail: bool) -> PathBuf {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let script = if fail {
        "#!/bin/sh\necho 'sbatch: error: invalid partition specified: nope' >&2\nexit 1\n"
            .to_string()
    } else {
        format!(
            "#!/bin/sh\n# Shell builtins only: the tests run it with PATH holding just its folder.\nn=100\n[ -f {d}/count ] && read n < {d}/count\nn=$((n + 1))\necho $n > {d}/count\necho \"$@\" >> {d}/calls\necho \"$n;cluster\"\n",
            d = dir.display()
        )
    };
    let path = bin.join("sbatch");
    fs::write(&path, script).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

#[cfg(unix)]
#[test]
fn submission_writes_the_scripts_and_chains_the_merge_job() {
    let (dir, config, out) = sweep_setup("submit");
    let bin = fake_sbatch(&dir, false);
    let shards = ["--shards", "4", "--gpus-per-task", "0"];
    let o = slurm(&config, &out, &shards, Some(bin.to_str().unwrap()));
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{stdout}{}", text(&o.stderr));
    assert!(stdout.contains("job array 101"), "{stdout}");
    assert!(stdout.contains("merge job 102"), "{stdout}");
    assert!(
        stdout.contains(&format!("wideprobe status {}", out.display())),
        "{stdout}"
    );
    let slurm = out.join("slurm");
    let merge = fs::read_to_string(slurm.join("merge-1.sbatch")).unwrap();
    assert!(
        merge.contains("#SBATCH --dependency=afterany:101\n"),
        "{merge}"
    );
    assert!(fs::read_to_string(slurm.join("array-1.sbatch"))
        .unwrap()
        .contains("--array=0-3\n"));
    assert!(slurm.join("logs").is_dir());
    let calls = fs::read_to_string(dir.join("calls")).unwrap();
    assert_eq!(calls.lines().count(), 2, "{calls}");
    assert!(
        calls.lines().all(|l| l.starts_with("--parsable ")),
        "{calls}"
    );
    let jobs = fs::read_to_string(slurm.join("jobs.tsv")).unwrap();
    assert!(jobs.starts_with("array\t101\t4\t0-3\t"), "{jobs}");
    assert!(jobs.contains("\nmerge\t102\t4\t101\t"), "{jobs}");
}

#[cfg(unix)]
#[test]
fn sbatch_missing_or_failing_is_explained() {
    let (dir, config, out) = sweep_setup("sbatch-errors");
    let empty = dir.join("empty");
    fs::create_dir_all(&empty).unwrap();
    let run = |path: &Path| {
        slurm(
            &config,
            &out,
            &["--shards", "2"],
            Some(path.to_str().unwrap()),
        )
    };
    let o = run(&empty);
    assert!(!o.status.success());
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("sbatch is not installed") && stderr.contains("--dry-run"),
        "{stderr}"
    );
    let o = run(&fake_sbatch(&dir, true));
    assert!(!o.status.success());
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("invalid partition specified: nope"),
        "{stderr}"
    );
}

/// An environment holding only `pairs`.
fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

#[test]
fn shards_come_from_the_array_environment() {
    assert_eq!(shard_from_vars(vars(&[])).unwrap(), None);
    const ID: &str = "SLURM_ARRAY_TASK_ID";
    const COUNT: &str = "SLURM_ARRAY_TASK_COUNT";
    // (case, environment, the shard it gives as (index, count)).
    type Env = &'static [(&'static str, &'static str)];
    type Shard = Option<(usize, usize)>;
    let cases: [(&str, Env, Shard); 3] = [
        ("slurm only", &[(ID, "2"), (COUNT, "4")], Some((2, 4))),
        // A resubmitted subset: Slurm counts 2 tasks, the sweep has 4 shards.
        (
            "subset",
            &[(ID, "3"), (COUNT, "2"), ("WIDEPROBE_SHARDS", "4")],
            Some((3, 4)),
        ),
        (
            "one-based",
            &[(ID, "4"), ("SLURM_ARRAY_TASK_MIN", "1"), (COUNT, "4")],
            Some((3, 4)),
        ),
    ];
    for (case, env, want) in cases {
        assert_eq!(shard_from_vars(vars(env)).unwrap(), want, "{case}");
    }
    let err = shard_from_vars(vars(&[(ID, "3"), (COUNT, "2")])).unwrap_err();
    assert!(err.to_string().contains("WIDEPROBE_SHARDS"), "{err:#}");
    let garbage = [(ID, "x"), ("WIDEPROBE_SHARDS", "4")];
    assert!(shard_from_vars(vars(&garbage)).is_err());
    assert!(shard_from_vars(vars(&[(ID, "1")])).is_err(), "no count");
}

#[test]
fn shard_arguments_parse() {
    assert_eq!(parse_shard("0/4").unwrap(), (0, 4));
    assert_eq!(parse_shard(" 3/4 ").unwrap(), (3, 4));
    for bad in ["4/4", "1/0", "1", "a/b", "-1/4", ""] {
        let err = parse_shard(bad).unwrap_err();
        assert!(err.to_string().contains("I/N"), "{bad}: {err:#}");
    }
}

// ---- End to end on a real Slurm cluster (.ci/slurm/test.sh) ----

fn squeue_lines(job: &str) -> Vec<String> {
    let o = Command::new("squeue")
        .args(["-h", "-r", "-o", "%i %T", "-j", job])
        .output()
        .unwrap();
    text(&o.stdout).lines().map(str::to_string).collect()
}

/// Waits until Slurm no longer lists `job` (every task ended), up to `limit`.
fn wait_gone(job: &str, limit: Duration, logs: &Path) {
    let start = Instant::now();
    while !squeue_lines(job).is_empty() {
        if start.elapsed() > limit {
            panic!(
                "job {job} still queued after {limit:?}: {:?}\nlogs:\n{}",
                squeue_lines(job),
                read_logs(logs)
            );
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

fn read_logs(dir: &Path) -> String {
    let mut all = String::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        all += &format!(
            "== {}\n{}\n",
            entry.path().display(),
            fs::read_to_string(entry.path()).unwrap_or_default()
        );
    }
    all
}

/// The last job of `kind` (array or merge) recorded in DIR/slurm/jobs.tsv.
fn last_job(out: &Path, kind: &str) -> String {
    let jobs = fs::read_to_string(out.join("slurm").join("jobs.tsv")).unwrap();
    let line = jobs
        .lines()
        .rfind(|l| l.starts_with(&format!("{kind}\t")))
        .unwrap();
    line.split('\t').nth(1).unwrap().to_string()
}

/// A CSV table as its header and its rows sorted (shards finish in any order).
fn table(path: &Path) -> (String, Vec<Vec<String>>) {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default().to_string();
    let mut rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    rows.sort();
    (header, rows)
}

fn same_cell(a: &str, b: &str) -> bool {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => {
            x == y || (x - y).abs() <= 1e-6 * x.abs().max(y.abs()) || (x.is_nan() && y.is_nan())
        }
        _ => a == b,
    }
}

fn assert_same_table(merged: &Path, single: &Path) {
    let (h1, r1) = table(merged);
    let (h2, r2) = table(single);
    assert_eq!(
        h1,
        h2,
        "{} and {} have different columns",
        merged.display(),
        single.display()
    );
    assert_eq!(
        r1.len(),
        r2.len(),
        "{} and {} have different row counts",
        merged.display(),
        single.display()
    );
    for (a, b) in r1.iter().zip(&r2) {
        assert!(
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_cell(x, y)),
            "{} and {} differ:\n{a:?}\n{b:?}",
            merged.display(),
            single.display()
        );
    }
}

/// Submits the tiny sweep as a 4-task array, cancels a task while it runs, resubmits
/// what is unfinished, waits for the merge job and compares the merged tables with a
/// single-process run. Needs the local cluster (.ci/slurm/start.sh) and the sweep's
/// `run --shard`, `status` and `merge`.
#[test]
#[ignore = "needs a Slurm cluster: run .ci/slurm/test.sh (sets WIDEPROBE_SLURM_TEST=1)"]
fn sweep_on_slurm_survives_a_cancelled_task_and_merges_like_one_process() {
    if std::env::var("WIDEPROBE_SLURM_TEST").as_deref() != Ok("1") {
        eprintln!(
            "skipped: set WIDEPROBE_SLURM_TEST=1 with a running Slurm cluster (.ci/slurm/test.sh)"
        );
        return;
    }
    let dir = scratch("e2e");
    let config = write_config(&dir);
    let out = dir.join("sharded");
    let (config_s, out_s) = (config.to_str().unwrap(), out.to_str().unwrap());
    let logs = out.join("slurm").join("logs");
    let limit = Duration::from_secs(1200);
    let submit = |extra: &[&str]| {
        let mut a = vec!["--shards", "4", "--gpus-per-task", "0"];
        a.extend_from_slice(extra);
        let o = slurm(&config, &out, &a, None);
        assert!(
            o.status.success(),
            "wideprobe slurm {extra:?}:\n{}{}",
            text(&o.stdout),
            text(&o.stderr)
        );
        text(&o.stdout)
    };
    submit(&[]);
    let array = last_job(&out, "array");

    // Cancel the first task seen running (it may have finished by then: the test
    // still holds, with nothing to resubmit for it).
    let start = Instant::now();
    let running = loop {
        let lines = squeue_lines(&array);
        if let Some(l) = lines.iter().find(|l| l.ends_with(" RUNNING")) {
            break l.split(' ').next().unwrap().to_string();
        }
        assert!(
            !lines.is_empty(),
            "array {array} ended before any task was seen running:\n{}",
            read_logs(&logs)
        );
        assert!(
            start.elapsed() < limit,
            "no task of {array} ever ran: {lines:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    std::thread::sleep(Duration::from_secs(1));
    let o = Command::new("scancel").arg(&running).output().unwrap();
    assert!(o.status.success(), "scancel {running}: {}", text(&o.stderr));
    wait_gone(&array, limit, &logs);
    wait_gone(&last_job(&out, "merge"), limit, &logs);

    let stdout = submit(&["--resubmit"]);
    if !stdout.contains("nothing to resubmit") {
        wait_gone(&last_job(&out, "array"), limit, &logs);
        wait_gone(&last_job(&out, "merge"), limit, &logs);
    }
    let status = wideprobe(&["status", out_s], None);
    assert!(
        status.status.success(),
        "runs still missing after the resubmission:\n{}{}\n{}",
        text(&status.stdout),
        text(&status.stderr),
        read_logs(&logs)
    );

    let single = dir.join("single");
    let o = wideprobe(
        &[
            "run",
            config_s,
            "--out",
            single.to_str().unwrap(),
            "--quiet",
        ],
        None,
    );
    assert!(
        o.status.success(),
        "single-process run:\n{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    for name in ["layers.csv", "infinite_width.csv"] {
        assert_same_table(&out.join(name), &single.join(name));
    }
}
