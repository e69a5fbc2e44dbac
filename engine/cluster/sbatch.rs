//! The text of the two batch scripts `wideprobe slurm` submits: a job array with one
//! task per shard, and the merge job that runs after it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::SHARDS_ENV;

/// Written in place of the array's job id in a merge script that is only printed
/// (`--dry-run`): the real id is known once the array is submitted.
pub const ARRAY_JOB_PLACEHOLDER: &str = "<array job id>";

/// Settings shared by both scripts.
#[derive(Clone, Debug)]
pub struct JobSettings {
    /// The `wideprobe` binary the jobs run (absolute).
    pub exe: PathBuf,
    /// The experiment config (absolute).
    pub config: PathBuf,
    /// The sweep's output directory (absolute).
    pub out: PathBuf,
    /// Slurm job name of the array; the merge job gets `-merge` appended.
    pub job_name: String,
    pub partition: Option<String>,
    /// Time limit, in any form sbatch takes (`30`, `4:00:00`, `1-00:00:00`).
    pub time: Option<String>,
    /// Extra `#SBATCH` options, each as written (`--account=lab`).
    pub extra: Vec<String>,
}

/// The job array: which shards and how they run.
#[derive(Clone, Debug)]
pub struct ArraySettings {
    /// Total shard count N: each task runs `--shard I/N`.
    pub shards: usize,
    /// The shards (array task ids) to submit, sorted and distinct, each below N.
    pub indices: Vec<usize>,
    /// At most this many tasks at once (`%M`).
    pub max_parallel: Option<usize>,
    /// `--gres=gpu:G` per task; none when 0.
    pub gpus_per_task: u32,
    /// Seconds before the time limit at which the task is told to stop between runs.
    pub stop_before: u32,
    /// How often one task may requeue itself after such a stop.
    pub max_requeues: u32,
}

/// `0-3`, `1,3` or `0-2,5`: consecutive indices as ranges.
pub fn array_spec(indices: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let start = indices[i];
        let mut end = start;
        while i + 1 < indices.len() && indices[i + 1] == end + 1 {
            end += 1;
            i += 1;
        }
        parts.push(if end == start {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// A shell word: single-quoted unless it is plainly safe.
pub fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// A path as an `#SBATCH` value. sbatch reads these lines itself (not the shell): a
/// value with spaces goes in double quotes, and `%` is a file-name pattern there.
fn sbatch_path(path: &Path, pattern: &str) -> Result<String> {
    let text = path_text(path)?;
    let value = format!("{}/{pattern}", text.replace('%', "%%"));
    Ok(if value.contains(' ') || value.contains('\t') {
        format!("\"{value}\"")
    } else {
        value
    })
}

fn path_text(path: &Path) -> Result<&str> {
    let Some(text) = path.to_str() else {
        bail!(
            "the path {} is not valid UTF-8, which batch scripts cannot hold: choose another path",
            path.display()
        );
    };
    if text.contains(['\n', '\r', '"']) {
        bail!("the path {text:?} holds a newline or a double quote, which #SBATCH lines cannot hold: choose another path (--out)");
    }
    Ok(text)
}

/// Rejects option values that would break an `#SBATCH` line.
pub fn check_option(name: &str, value: &str) -> Result<()> {
    if value.is_empty() || value.contains('"') || value.contains(char::is_whitespace) {
        bail!("{name} `{value}` is empty or holds spaces, quotes or newlines: give a single word such as {}", match name {
            "--time" => "--time 4:00:00",
            "--partition" => "--partition gpu",
            _ => "--sbatch=--account=lab",
        });
    }
    Ok(())
}

fn common_header(script: &mut String, job: &JobSettings, name: &str, log: &str) -> Result<()> {
    let logs = job.out.join("slurm").join("logs");
    writeln!(script, "#!/bin/bash")?;
    writeln!(script, "#SBATCH --job-name={name}")?;
    writeln!(script, "#SBATCH --output={}", sbatch_path(&logs, log)?)?;
    writeln!(script, "#SBATCH --open-mode=append")?;
    writeln!(script, "#SBATCH --ntasks=1")?;
    if let Some(p) = &job.partition {
        writeln!(script, "#SBATCH --partition={p}")?;
    }
    if let Some(t) = &job.time {
        writeln!(script, "#SBATCH --time={t}")?;
    }
    for option in &job.extra {
        writeln!(script, "#SBATCH {option}")?;
    }
    Ok(())
}

/// The job array script: one task per shard, each running
/// `wideprobe run CONFIG --out DIR --shard I/N`. Slurm sends the batch shell SIGUSR1
/// `stop_before` seconds before the time limit; the shell passes it on, wideprobe
/// finishes the run in progress and exits, and the task requeues itself (finished
/// runs are kept, so the requeued task carries on where it stopped).
pub fn array_script(job: &JobSettings, array: &ArraySettings) -> Result<String> {
    let mut s = String::new();
    common_header(&mut s, job, &job.job_name, "array-%A_%a.out")?;
    let limit = match array.max_parallel {
        Some(m) => format!("%{m}"),
        None => String::new(),
    };
    writeln!(s, "#SBATCH --array={}{limit}", array_spec(&array.indices))?;
    writeln!(s, "#SBATCH --requeue")?;
    writeln!(s, "#SBATCH --signal=B:USR1@{}", array.stop_before)?;
    if array.gpus_per_task > 0 {
        writeln!(s, "#SBATCH --gres=gpu:{}", array.gpus_per_task)?;
    }
    let run = format!(
        "{} run {} --out {} --offline --shard \"$SLURM_ARRAY_TASK_ID/${SHARDS_ENV}\"",
        shell_quote(path_text(&job.exe)?),
        shell_quote(path_text(&job.config)?),
        shell_quote(path_text(&job.out)?),
    );
    write!(
        s,
        r#"
# Written by `wideprobe slurm`. Shard $SLURM_ARRAY_TASK_ID of {shards} (0-based).
export {SHARDS_ENV}={shards}
max_requeues={max_requeues}
echo "wideprobe shard $SLURM_ARRAY_TASK_ID/${SHARDS_ENV}: job $SLURM_JOB_ID on $(hostname) at $(date -u +%FT%TZ), restart ${{SLURM_RESTART_COUNT:-0}}"

# SIGUSR1 (the time limit is near) and SIGTERM (scancel, preemption) go on to
# wideprobe, which stops between runs.
requeue=0
trap 'requeue=1; kill -USR1 "$child" 2>/dev/null' USR1
trap 'kill -TERM "$child" 2>/dev/null' TERM

{run} &
child=$!
while :; do
    wait "$child"
    status=$?
    kill -0 "$child" 2>/dev/null || break
done
# The status of a wait cut short by a signal is not the child's: ask again.
wait "$child" 2>/dev/null
again=$?
[ "$again" -ne 127 ] && status=$again

if [ "$requeue" = 1 ]; then
    if [ "${{SLURM_RESTART_COUNT:-0}}" -lt "$max_requeues" ]; then
        echo "wideprobe: stopped before the time limit; requeueing ${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}"
        scontrol requeue "${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}"
    else
        echo "wideprobe: stopped before the time limit and already requeued $max_requeues times: not again (wideprobe slurm --resubmit finishes the shard; a longer --time helps)" >&2
    fi
fi
exit "$status"
"#,
        shards = array.shards,
        max_requeues = array.max_requeues,
    )?;
    Ok(s)
}

/// The merge job: `wideprobe merge DIR` once every task of the array has ended,
/// whatever its outcome (`afterany`), so a failed shard still leaves the tables of
/// what finished. `array_job` is the array's job id (or [`ARRAY_JOB_PLACEHOLDER`]).
pub fn merge_script(job: &JobSettings, array_job: &str) -> Result<String> {
    let mut s = String::new();
    common_header(
        &mut s,
        job,
        &format!("{}-merge", job.job_name),
        "merge-%j.out",
    )?;
    writeln!(s, "#SBATCH --dependency=afterany:{array_job}")?;
    writeln!(s, "#SBATCH --kill-on-invalid-dep=yes")?;
    writeln!(s)?;
    writeln!(
        s,
        "# Written by `wideprobe slurm`: merges what the array {array_job} finished."
    )?;
    writeln!(
        s,
        "exec {} merge {}",
        shell_quote(path_text(&job.exe)?),
        shell_quote(path_text(&job.out)?)
    )?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_specs_join_consecutive_indices() {
        assert_eq!(array_spec(&[0, 1, 2, 3]), "0-3");
        assert_eq!(array_spec(&[1, 3]), "1,3");
        assert_eq!(array_spec(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        assert_eq!(array_spec(&[4]), "4");
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_quote("/usr/bin/wideprobe"), "/usr/bin/wideprobe");
        assert_eq!(shell_quote("/my runs/a"), "'/my runs/a'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn sbatch_paths_escape_percent_and_quote_spaces() {
        let p = sbatch_path(Path::new("/a b/100%"), "x-%j.out").unwrap();
        assert_eq!(p, "\"/a b/100%%/x-%j.out\"");
        assert!(sbatch_path(Path::new("/a\nb"), "x").is_err());
    }
}
