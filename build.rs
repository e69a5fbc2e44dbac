//! Embeds the git revision wideprobe is built from, and whether the checkout had
//! uncommitted changes, so that every manifest records what produced it
//! (`wideprobe::provenance`). Outside a git checkout of this crate (a crate archive,
//! or vendored into another repository) it records nothing, and the crate version
//! stands in.

use std::path::{Path, PathBuf};

#[path = "engine/git.rs"]
mod git;
use git::git;

/// What the library and binary are built from: "dirty" means one of these differs from
/// the commit. Tests, docs and configs do not change the binary, so editing them neither
/// marks it dirty nor reruns this script (which would recompile the crate).
const BUILD_INPUTS: [&str; 5] = ["engine", "shaders", "Cargo.toml", "Cargo.lock", "build.rs"];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!(
        "cargo:rustc-env=WIDEPROBE_BUILD_INPUTS={}",
        BUILD_INPUTS.join(",")
    );
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let (revision, dirty) = match git_revision(&root) {
        Some((rev, dirty)) => (rev, if dirty { "true" } else { "false" }),
        None => (String::new(), "unknown"),
    };
    println!("cargo:rustc-env=WIDEPROBE_GIT_REVISION={revision}");
    println!("cargo:rustc-env=WIDEPROBE_GIT_DIRTY={dirty}");
}

/// The commit and the dirty flag, when `root` is the top of a git checkout.
fn git_revision(root: &Path) -> Option<(String, bool)> {
    let top = PathBuf::from(git(root, &["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != root.canonicalize().ok()? {
        return None; // inside some other repository
    }
    watch_git_files(root);
    let revision = git(root, &["rev-parse", "HEAD"])?;
    // No optional locks: a plain `git status` may rewrite the index it is watched by.
    let mut status = vec!["--no-optional-locks", "status", "--porcelain", "--"];
    status.extend(BUILD_INPUTS);
    let dirty = !git(root, &status)?.is_empty();
    Some((revision, dirty))
}

/// Reruns this script when HEAD moves (checkout, commit, reset) or a build input
/// changes. `--git-path` resolves each file in a worktree too, where `.git` is a file
/// naming the real git folder and refs live in the shared one.
fn watch_git_files(root: &Path) {
    let mut files = vec!["HEAD".to_string(), "index".into(), "packed-refs".into()];
    if let Some(head_ref) = git(root, &["symbolic-ref", "-q", "HEAD"]) {
        files.push(head_ref);
    }
    for f in files {
        if let Some(p) = git(root, &["rev-parse", "--git-path", &f]) {
            watch(&root.join(p)); // join keeps an absolute path as it is
        }
    }
    BUILD_INPUTS.iter().for_each(|p| watch(&root.join(p)));
}

/// A path that does not exist would rerun the script on every build: only existing ones.
fn watch(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
