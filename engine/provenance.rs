//! What built this binary: the git revision and dirty flag embedded by `build.rs`, so
//! manifests record the code that produced them without running git at run time.

/// The commit this binary was built from; the crate version when it was built outside a
/// git checkout (see [`from_git`]).
pub fn revision() -> &'static str {
    match env!("WIDEPROBE_GIT_REVISION") {
        "" => env!("CARGO_PKG_VERSION"),
        rev => rev,
    }
}

/// Whether the sources built ([`build_inputs`]) had uncommitted changes at build time;
/// `None` outside git.
pub fn dirty() -> Option<bool> {
    match env!("WIDEPROBE_GIT_DIRTY") {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// The paths whose changes make a build dirty (set by `build.rs`).
pub fn build_inputs() -> Vec<&'static str> {
    env!("WIDEPROBE_BUILD_INPUTS").split(',').collect()
}

/// Whether [`revision`] is a git commit rather than the crate version.
pub fn from_git() -> bool {
    dirty().is_some()
}

/// One line for manifests and `--version`: `<commit>`, `<commit>-dirty`, or
/// `<version> (not built from a git checkout)`.
pub fn describe() -> String {
    match dirty() {
        Some(true) => format!("{}-dirty", revision()),
        Some(false) => revision().to_string(),
        None => format!("{} (not built from a git checkout)", revision()),
    }
}

#[cfg(test)]
#[path = "git.rs"]
mod git;

#[cfg(test)]
mod tests {
    use super::*;

    fn git(args: &[&str]) -> Option<String> {
        super::git::git(std::path::Path::new(env!("CARGO_MANIFEST_DIR")), args)
    }

    #[test]
    fn the_embedded_revision_is_the_checkout_built() {
        let Some(head) = git(&["rev-parse", "HEAD"]) else {
            assert_eq!(revision(), env!("CARGO_PKG_VERSION"));
            assert!(describe().contains("not built from a git checkout"));
            return;
        };
        assert!(
            from_git(),
            "built in a checkout, but no revision was embedded"
        );
        // Stale when build.rs did not rerun after a commit or an edit.
        assert_eq!(revision(), head);
        let mut status = vec!["--no-optional-locks", "status", "--porcelain", "--"];
        status.extend(build_inputs());
        let dirty_now = !git(&status).unwrap().is_empty();
        assert!(build_inputs().contains(&"engine"));
        assert_eq!(dirty(), Some(dirty_now), "{}", describe());
        assert_eq!(describe().ends_with("-dirty"), dirty_now);
    }
}
