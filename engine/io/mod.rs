//! Files people use elsewhere: NumPy tensors and CSV tables.

pub mod atomic;
pub mod claim;
pub mod fingerprint;
pub mod npy;
pub mod table;
pub mod tables;

/// Creates the folder `dir` and its parents; an error names the folder (a bare
/// "Not a directory" or "File name too long" does not say which).
pub fn create_folder(dir: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context as _;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the folder {}", dir.display()))
}

/// A fresh, empty folder for one test: `wideprobe-<tag>-<process id>` in the system's
/// temporary folder (what an earlier run left there is removed first).
#[cfg(test)]
pub(crate) fn scratch_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wideprobe-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
