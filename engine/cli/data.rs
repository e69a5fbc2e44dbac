//! `wideprobe data`: datasets.

use std::path::PathBuf;

use anyhow::Result;

use wideprobe::data::fetch;

use super::output::emit;

/// Downloads CIFAR-10 into `dir` (default: $WIDEPROBE_DATA, else the cache).
pub fn fetch_cifar10(dir: Option<PathBuf>, force: bool) -> Result<()> {
    let dest = match dir {
        Some(d) => d,
        None => fetch::default_dest()?,
    };
    let dest = fetch::fetch_cifar10(&fetch::FetchSource::official(), &dest, force)?;
    emit(&format_args!("CIFAR-10 written to {}\n", dest.display()))
}
