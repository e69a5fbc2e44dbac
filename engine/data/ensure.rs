//! Before `run` or `reproduce`: fetch CIFAR-10 when it is missing (the checked
//! `data fetch`), unless offline or `dataset: synthetic`. `dataset: auto` falls back to
//! synthetic data when that fails, with one banner that names the fix; `dataset:
//! cifar10` never falls back.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use super::fetch::{default_dest, fetch_cifar10, FetchSource};
use super::DatasetChoice;

/// What to load, after making sure the data is there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataPlan {
    /// The choice to pass to `load_dataset`: the configured one, or `Synthetic` after a
    /// fallback.
    pub choice: DatasetChoice,
    /// Print once, before the runs, when set: why the runs use synthetic data and the fix.
    pub banner: Option<String>,
    /// Where CIFAR-10 was downloaded to, when it was.
    pub fetched: Option<PathBuf>,
}

impl DataPlan {
    fn keep(choice: DatasetChoice) -> Self {
        DataPlan {
            choice,
            banner: None,
            fetched: None,
        }
    }

    fn synthetic(why: String) -> Self {
        DataPlan {
            choice: DatasetChoice::Synthetic,
            banner: Some(format!(
                "USING A SYNTHETIC DATASET: {why}. Outputs are labelled synthetic. Fix: run \
                 `wideprobe data fetch` (or put the official binary files in data_dir or \
                 WIDEPROBE_DATA); set `dataset: synthetic` to use synthetic data on purpose"
            )),
            fetched: None,
        }
    }
}

/// Makes sure CIFAR-10 is where the loader looks (`data_dir`, else `$WIDEPROBE_DATA`,
/// else the user cache), downloading the official archive when needed.
pub fn ensure_cifar10(
    choice: DatasetChoice, data_dir: Option<&Path>, offline: bool,
) -> Result<DataPlan> {
    ensure_cifar10_from(choice, data_dir, offline, &FetchSource::official())
}

/// [`ensure_cifar10`] downloading from `source` (tests use an address of their own).
pub fn ensure_cifar10_from(
    choice: DatasetChoice, data_dir: Option<&Path>, offline: bool, source: &FetchSource,
) -> Result<DataPlan> {
    if choice == DatasetChoice::Synthetic {
        return Ok(DataPlan::keep(choice));
    }
    let dest = match data_dir {
        Some(d) => d.to_path_buf(),
        None => match default_dest() {
            Ok(d) => d,
            Err(e) => return fall_back_or_fail(choice, e),
        },
    };
    // Something else there (a file, a folder with other things) is for the loader or
    // the fetch to name; only an absent or empty folder counts as missing.
    if !is_missing(&dest) {
        return Ok(DataPlan::keep(choice));
    }
    if offline {
        let why = anyhow::anyhow!(
            "no CIFAR-10 in {} and offline, so it was not downloaded",
            dest.display()
        );
        return fall_back_or_fail(choice, why);
    }
    match fetch_cifar10(source, &dest, false) {
        Ok(dir) => Ok(DataPlan {
            choice,
            banner: None,
            fetched: Some(dir),
        }),
        Err(e) => fall_back_or_fail(
            choice,
            e.context(format!(
                "no CIFAR-10 in {} and downloading it failed",
                dest.display()
            )),
        ),
    }
}

/// Nothing at `dest`, or an empty folder.
fn is_missing(dest: &Path) -> bool {
    match std::fs::symlink_metadata(dest) {
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        Ok(m) if m.is_dir() => std::fs::read_dir(dest).is_ok_and(|mut d| d.next().is_none()),
        Ok(_) => false,
    }
}

fn fall_back_or_fail(choice: DatasetChoice, why: anyhow::Error) -> Result<DataPlan> {
    match choice {
        DatasetChoice::Cifar10 => Err(why).context(
            "dataset: cifar10 needs CIFAR-10: run `wideprobe data fetch` (online), or set data_dir \
             or WIDEPROBE_DATA to a folder with the official binary files",
        ),
        _ => Ok(DataPlan::synthetic(format!("{why:#}"))),
    }
}
