//! Running sweeps on a cluster: which shard this process computes, a clean stop
//! between runs when the scheduler asks for one, and `wideprobe slurm` (job arrays).
//!
//! Slurm does the placement, queueing and requeueing; this module only writes and
//! submits its batch scripts and reads what it puts in the environment.

pub mod sbatch;
pub mod slurm;
mod stop;

use anyhow::{bail, Context as _, Result};

pub use stop::{install_stop_handlers, request_stop, reset_stop, stop_requested};

/// The total shard count, written into the array script by `wideprobe slurm`. Wins
/// over `SLURM_ARRAY_TASK_COUNT`, which is smaller when only some shards were resubmitted.
pub const SHARDS_ENV: &str = "WIDEPROBE_SHARDS";

/// Parses `I/N` (0-based shard I of N, I < N), as `run --shard` takes it.
pub fn parse_shard(text: &str) -> Result<(usize, usize)> {
    let usage =
        || format!("invalid shard `{text}`: write I/N with 0 <= I < N, for example --shard 0/4");
    let (i, n) = text.trim().split_once('/').with_context(usage)?;
    let i: usize = i.trim().parse().with_context(usage)?;
    let n: usize = n.trim().parse().with_context(usage)?;
    if n == 0 || i >= n {
        bail!(usage());
    }
    Ok((i, n))
}

/// This process's shard (index, count) from a Slurm job array's environment, or None
/// outside a job array. The count is `$WIDEPROBE_SHARDS` when set, else
/// `SLURM_ARRAY_TASK_COUNT`; the index is `SLURM_ARRAY_TASK_ID` (minus
/// `SLURM_ARRAY_TASK_MIN` when the count comes from Slurm, so an array 1-4 works).
/// Malformed values also give None: prefer [`try_shard_from_env`], which says why.
pub fn shard_from_env() -> Option<(usize, usize)> {
    try_shard_from_env().ok().flatten()
}

/// [`shard_from_env`] with an error naming the variable when a value is malformed or
/// out of range (every task computing every run would be a silent waste).
pub fn try_shard_from_env() -> Result<Option<(usize, usize)>> {
    shard_from_vars(|name| std::env::var(name).ok())
}

/// [`try_shard_from_env`] over any source of variables (tests pass a map).
pub fn shard_from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<(usize, usize)>> {
    let number = |name: &str| -> Result<Option<usize>> {
        match var(name) {
            None => Ok(None),
            Some(v) if v.trim().is_empty() => Ok(None),
            Some(v) => v.trim().parse().map(Some).with_context(|| {
                format!("${name} is `{v}`, not a non-negative integer; unset it or fix it")
            }),
        }
    };
    let Some(id) = number("SLURM_ARRAY_TASK_ID")? else {
        return Ok(None);
    };
    let (index, count, source) = match number(SHARDS_ENV)? {
        Some(n) => (id, n, SHARDS_ENV),
        None => {
            let Some(count) = number("SLURM_ARRAY_TASK_COUNT")? else {
                bail!("$SLURM_ARRAY_TASK_ID is set but neither ${SHARDS_ENV} nor $SLURM_ARRAY_TASK_COUNT is: set ${SHARDS_ENV} to the total number of shards");
            };
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let Some(index) = id.checked_sub(min) else {
                bail!("$SLURM_ARRAY_TASK_ID ({id}) is below $SLURM_ARRAY_TASK_MIN ({min})");
            };
            (index, count, "SLURM_ARRAY_TASK_COUNT")
        }
    };
    if count == 0 || index >= count {
        bail!(
            "shard {index} from $SLURM_ARRAY_TASK_ID is not below the shard count {count} from ${source}: \
             set ${SHARDS_ENV} to the total number of shards, or pass --shard I/N"
        );
    }
    Ok(Some((index, count)))
}
