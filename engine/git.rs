//! Runs git in a folder. Shared by `build.rs` (which includes this file) and the test of
//! [`crate::provenance`] that checks what the build embedded against git itself.

use std::path::Path;
use std::process::Command;

/// git's trimmed standard output with `args` in `root`; `None` when git is missing or
/// fails (e.g. outside a checkout).
pub fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
