//! `wideprobe slurm`: writes and submits a job array (one task per shard) and a merge
//! job that runs after it. Slurm does the placement, queueing and requeueing.
//!
//! Files, under `DIR/slurm/`: `array-K.sbatch` and `merge-K.sbatch` (K counts the
//! submissions: 1, then one more per `--resubmit`), `jobs.tsv` (one line per submitted
//! job: kind, job id, shard count, array spec, script) and `logs/` (Slurm's output).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _, Result};

use super::sbatch::{
    array_script, array_spec, check_option, merge_script, shell_quote, ArraySettings, JobSettings,
    ARRAY_JOB_PLACEHOLDER,
};

/// Shards when neither `--shards` nor `--max-parallel` nor an earlier submission says.
pub const DEFAULT_SHARDS: usize = 4;

/// `wideprobe slurm CONFIG ...`
#[derive(clap::Args, Clone, Debug)]
pub struct SlurmArgs {
    /// The experiment config.
    pub config: PathBuf,
    /// Output directory (default: the config's `out`, else runs/<config name>), shared
    /// by every task: it must be on a file system all nodes see.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// GPUs per task (`--gres=gpu:G`); 0 for none.
    #[arg(long, default_value_t = 1)]
    pub gpus_per_task: u32,
    /// At most this many tasks at once (the array's `%M`).
    #[arg(long)]
    pub max_parallel: Option<usize>,
    /// Slurm partition (default: the cluster's default partition).
    #[arg(long)]
    pub partition: Option<String>,
    /// Time limit per task, as sbatch takes it (`30`, `4:00:00`, `1-00:00:00`).
    #[arg(long)]
    pub time: Option<String>,
    /// Number of shards N, one array task each; task I runs the runs whose index is I
    /// mod N. Default: the earlier submission's N (with --resubmit), else
    /// --max-parallel, else 4.
    #[arg(long)]
    pub shards: Option<usize>,
    /// Seconds before the time limit at which a task is told to stop after its current
    /// run and requeue itself.
    #[arg(long, default_value_t = 300)]
    pub stop_before: u32,
    /// How often one task may requeue itself after such a stop.
    #[arg(long, default_value_t = 5)]
    pub max_requeues: u32,
    /// An extra #SBATCH option for both jobs, repeatable: --sbatch=--account=lab.
    #[arg(long = "sbatch", value_name = "OPTION", allow_hyphen_values = true)]
    pub sbatch: Vec<String>,
    /// Print the scripts; submit and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Submit only the shards that still have missing or failed runs.
    #[arg(long)]
    pub resubmit: bool,
}

/// What `wideprobe slurm` submitted (or, with --dry-run, would submit).
#[derive(Clone, Debug)]
pub struct Submission {
    pub out: PathBuf,
    pub shards: usize,
    /// The array's task ids (shard indices); empty when nothing was left to resubmit.
    pub indices: Vec<usize>,
    pub array_script: String,
    pub merge_script: String,
    /// None with --dry-run.
    pub array_job: Option<String>,
    pub merge_job: Option<String>,
}

/// The `slurm` command. `unfinished_shards(out, n)` gives the 0-based shards of N
/// that still have missing or failed runs in `out`; it is called with --resubmit only.
pub fn slurm_command(
    args: &SlurmArgs, unfinished_shards: impl FnOnce(&Path, usize) -> Result<Vec<usize>>,
) -> Result<Submission> {
    let job = job_settings(args)?;
    let shards = shard_count(args, &job.out)?;
    let indices = if args.resubmit {
        let mut pending = unfinished_shards(&job.out, shards)?;
        pending.sort_unstable();
        pending.dedup();
        if let Some(&bad) = pending.iter().find(|&&i| i >= shards) {
            bail!("shard {bad} to resubmit is not below the shard count {shards}");
        }
        pending
    } else {
        (0..shards).collect()
    };
    let array = ArraySettings {
        shards,
        indices,
        max_parallel: args.max_parallel,
        gpus_per_task: args.gpus_per_task,
        stop_before: args.stop_before,
        max_requeues: args.max_requeues,
    };
    let mut submission = Submission {
        out: job.out.clone(),
        shards,
        indices: array.indices.clone(),
        array_script: array_script(&job, &array)?,
        merge_script: merge_script(&job, ARRAY_JOB_PLACEHOLDER)?,
        array_job: None,
        merge_job: None,
    };
    if args.dry_run {
        print_dry_run(&submission);
    } else if submission.indices.is_empty() {
        println!(
            "every shard of {} is complete: nothing to resubmit. Rebuild the tables with: wideprobe merge {}",
            job.out.display(),
            shell_quote(&job.out.to_string_lossy())
        );
    } else {
        submit(&job, &mut submission)?;
        print_submitted(&submission, args.max_parallel);
    }
    Ok(submission)
}

/// Stands in for the sweep's per-run status until `slurm_command` is given it: says
/// that --resubmit cannot tell which shards are unfinished.
pub fn unfinished_shards_unknown(out: &Path, _shards: usize) -> Result<Vec<usize>> {
    bail!(
        "--resubmit needs the per-run status of {}, which this build cannot read yet: resubmit the shards by hand (sbatch --array=I,J {})",
        out.display(),
        out.join("slurm").join("array-1.sbatch").display()
    )
}

/// Absolute paths, the output directory and the options checked.
fn job_settings(args: &SlurmArgs) -> Result<JobSettings> {
    let config = fs::canonicalize(&args.config).with_context(|| {
        format!(
            "cannot read the config {}: give the path of a YAML file (see experiments/)",
            args.config.display()
        )
    })?;
    let out = match &args.out {
        Some(o) => o.clone(),
        None => default_out(&config)?,
    };
    let out = std::path::absolute(&out)
        .with_context(|| format!("cannot make {} an absolute path", out.display()))?;
    let exe = std::env::current_exe()
        .context("cannot find the path of this wideprobe binary, which the jobs must run")?;
    if let Some(p) = &args.partition {
        check_option("--partition", p)?;
    }
    if let Some(t) = &args.time {
        check_option("--time", t)?;
    }
    for extra in &args.sbatch {
        check_option("--sbatch", extra)?;
        if !extra.starts_with('-') {
            bail!("--sbatch `{extra}` is not an option: write it as sbatch takes it, for example --sbatch=--account=lab");
        }
    }
    if args.max_parallel == Some(0) {
        bail!("--max-parallel 0 would run nothing: give at least 1, or leave it out for no limit");
    }
    let stem = config.file_stem().unwrap_or_default().to_string_lossy();
    let job_name: String = format!("wideprobe-{stem}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(JobSettings {
        exe,
        config,
        out,
        job_name,
        partition: args.partition.clone(),
        time: args.time.clone(),
        extra: args.sbatch.clone(),
    })
}

/// The config's `out`, else `runs/<config stem>`, as `wideprobe run` resolves it.
fn default_out(config: &Path) -> Result<PathBuf> {
    let text = fs::read_to_string(config)
        .with_context(|| format!("cannot read the config {}", config.display()))?;
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text)
        .with_context(|| format!("{} is not valid YAML", config.display()))?;
    if let Some(out) = yaml.get("out").and_then(|v| v.as_str()) {
        return Ok(PathBuf::from(out));
    }
    let stem = config.file_stem().unwrap_or_default();
    Ok(Path::new("runs").join(stem))
}

/// --shards, else the shard count of the last submission into `out` (a resubmission
/// must keep it: the shard indices mean nothing under another N), else --max-parallel,
/// else [`DEFAULT_SHARDS`].
fn shard_count(args: &SlurmArgs, out: &Path) -> Result<usize> {
    let earlier = last_array(out)?.map(|(_, n)| n);
    let shards = match (args.shards, earlier) {
        (Some(n), Some(e)) if args.resubmit && n != e => bail!(
            "--shards {n} differs from the {e} shards {} was submitted with: resubmit with --shards {e} (or leave --shards out)",
            out.display()
        ),
        (Some(n), _) => n,
        (None, Some(e)) => e,
        (None, None) if args.resubmit => bail!(
            "nothing was submitted into {} yet ({} is missing): submit without --resubmit first, or give --shards N as first submitted",
            out.display(),
            jobs_file(out).display()
        ),
        (None, None) => args.max_parallel.unwrap_or(DEFAULT_SHARDS),
    };
    if shards == 0 {
        bail!("--shards 0 would run nothing: give at least 1");
    }
    Ok(shards)
}

/// The record of submitted jobs.
pub fn jobs_file(out: &Path) -> PathBuf {
    out.join("slurm").join("jobs.tsv")
}

/// Every job recorded in `out`'s jobs.tsv: (kind, job id, shard count).
pub fn recorded_jobs(out: &Path) -> Result<Vec<(String, String, usize)>> {
    let path = jobs_file(out);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut jobs = Vec::new();
    for (number, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let fields: Vec<&str> = line.split('\t').collect();
        let shards = fields.get(2).and_then(|n| n.parse().ok());
        match (fields.first(), fields.get(1), shards) {
            (Some(kind), Some(id), Some(n)) => jobs.push((kind.to_string(), id.to_string(), n)),
            _ => bail!(
                "{} line {} is not `kind<TAB>job id<TAB>shards...`: fix or delete that line",
                path.display(),
                number + 1
            ),
        }
    }
    Ok(jobs)
}

/// The last array submitted into `out`: (job id, shard count).
fn last_array(out: &Path) -> Result<Option<(String, usize)>> {
    Ok(recorded_jobs(out)?
        .into_iter()
        .filter(|(kind, _, _)| kind == "array")
        .map(|(_, id, n)| (id, n))
        .next_back())
}

fn print_dry_run(s: &Submission) {
    println!(
        "# dry run: nothing written or submitted. Shards {} of {} into {}",
        array_spec(&s.indices),
        s.shards,
        s.out.display()
    );
    if s.indices.is_empty() {
        println!("# every shard is complete: nothing would be resubmitted");
        return;
    }
    println!("# ---- job array script (sbatch --parsable) ----");
    print!("{}", s.array_script);
    println!("# ---- merge script (sbatch --parsable, after the array) ----");
    print!("{}", s.merge_script);
}

fn print_submitted(s: &Submission, max_parallel: Option<usize>) {
    let array = s.array_job.as_deref().unwrap_or("?");
    let merge = s.merge_job.as_deref().unwrap_or("?");
    let at_once = max_parallel
        .map(|m| format!(", at most {m} at once"))
        .unwrap_or_default();
    println!(
        "submitted shards {} of {} as job array {array}{at_once}; merge job {merge} runs after it",
        array_spec(&s.indices),
        s.shards
    );
    println!("scripts and logs: {}", s.out.join("slurm").display());
    println!(
        "watch: wideprobe status {}",
        shell_quote(&s.out.to_string_lossy())
    );
    println!("Slurm's view: squeue -j {array},{merge}   cancel: scancel {array} {merge}");
}

/// Writes both scripts into DIR/slurm/, submits the array, then the merge job with the
/// array's id, and records both in jobs.tsv.
fn submit(job: &JobSettings, s: &mut Submission) -> Result<()> {
    refuse_if_still_queued(&job.out, &s.indices)?;
    let dir = job.out.join("slurm");
    fs::create_dir_all(dir.join("logs"))
        .with_context(|| format!("cannot create {}", dir.join("logs").display()))?;
    let k = next_submission_number(&dir)?;
    let array_path = dir.join(format!("array-{k}.sbatch"));
    write_script(&array_path, &s.array_script)?;
    let array_job = sbatch(&array_path)?;
    record(
        &job.out,
        "array",
        &array_job,
        s.shards,
        &array_spec(&s.indices),
        &array_path,
    )?;
    s.merge_script = merge_script(job, &array_job)?;
    let merge_path = dir.join(format!("merge-{k}.sbatch"));
    write_script(&merge_path, &s.merge_script)?;
    let merge_job = sbatch(&merge_path).with_context(|| {
        format!("the job array {array_job} is submitted, but not its merge job: run `wideprobe merge {}` once it ends", job.out.display())
    })?;
    record(
        &job.out,
        "merge",
        &merge_job,
        s.shards,
        &array_job,
        &merge_path,
    )?;
    s.array_job = Some(array_job);
    s.merge_job = Some(merge_job);
    Ok(())
}

fn next_submission_number(dir: &Path) -> Result<usize> {
    let mut k = 1;
    while dir.join(format!("array-{k}.sbatch")).exists() {
        k += 1;
    }
    Ok(k)
}

fn write_script(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text)
        .with_context(|| format!("cannot write the batch script {}", path.display()))
}

fn record(
    out: &Path, kind: &str, id: &str, shards: usize, what: &str, script: &Path,
) -> Result<()> {
    let path = jobs_file(out);
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    writeln!(file, "{kind}\t{id}\t{shards}\t{what}\t{}", script.display())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// `sbatch --parsable SCRIPT`: the job id, or an error with sbatch's own message.
fn sbatch(script: &Path) -> Result<String> {
    let output = match Command::new("sbatch")
        .arg("--parsable")
        .arg(script)
        .output()
    {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "sbatch is not installed here (not found on PATH): run this on a Slurm login node, \
             install Slurm's client (Debian: apt-get install slurm-client; a local test cluster: \
             .ci/slurm/start.sh), or add --dry-run to only print the scripts"
        ),
        Err(e) => return Err(e).context("cannot run sbatch"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!(
            "sbatch refused {} ({}): {}",
            script.display(),
            output.status,
            stderr.trim()
        );
    }
    // --parsable prints `id` or `id;cluster`.
    let id = stdout.trim().split(';').next().unwrap_or_default().trim();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        bail!(
            "sbatch accepted {} but printed no job id (stdout `{}`, stderr `{}`)",
            script.display(),
            stdout.trim(),
            stderr.trim()
        );
    }
    Ok(id.to_string())
}

/// Submitting shards that a task of an earlier array into `out` still runs (or will)
/// would have two tasks computing the same runs: refuse, naming the tasks.
fn refuse_if_still_queued(out: &Path, indices: &[usize]) -> Result<()> {
    let arrays: Vec<String> = recorded_jobs(out)?
        .into_iter()
        .filter(|(kind, _, _)| kind == "array")
        .map(|(_, id, _)| id)
        .collect();
    if arrays.is_empty() {
        return Ok(());
    }
    // One line per array task: `array job id` `task id`.
    let Ok(output) = Command::new("squeue")
        .args(["-h", "-r", "-o", "%F %K", "-j", &arrays.join(",")])
        .output()
    else {
        return Ok(()); // No squeue: nothing to check with.
    };
    let mut clashes: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let (job, task) = line.trim().split_once(' ')?;
            let task: usize = task.trim().parse().ok()?;
            (arrays.iter().any(|a| a == job) && indices.contains(&task))
                .then(|| format!("{job}_{task}"))
        })
        .collect();
    clashes.sort();
    clashes.dedup();
    if !clashes.is_empty() {
        bail!(
            "shards of {} are still queued or running as {}: wait for them to end (squeue -j {}) or cancel them (scancel {}), then submit again",
            out.display(),
            clashes.join(", "),
            clashes.join(","),
            clashes.join(" ")
        );
    }
    Ok(())
}
