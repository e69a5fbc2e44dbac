//! Helpers shared by the tests that run the built `wideprobe` binary or write scratch
//! files (cli, fuzz, cluster, sweep_sharing, fetch): the binary, fresh folders, output as
//! text, the no-panic check, and a small .npy file. Each test crate uses part of it.

#![allow(dead_code)]

use std::fmt::Debug;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

/// The binary under test, as Cargo built it for these tests.
pub const EXE: &str = env!("CARGO_BIN_EXE_wideprobe");

/// `wideprobe ARGS`, for the caller to give an environment and run.
pub fn wideprobe(args: &[&str]) -> Command {
    let mut command = Command::new(EXE);
    command.args(args);
    command
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh, empty folder `wideprobe-{suite}-{test}-{pid}` in the temporary directory
/// (removed first if a crashed run left it).
pub fn scratch(suite: &str, test: &str) -> PathBuf {
    let root =
        std::env::temp_dir().join(format!("wideprobe-{suite}-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    root
}

/// The files in `out/figures` (figures and their captions), sorted; none when it does
/// not exist.
pub fn figure_files(out: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(out.join("figures"))
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// After a sweep in `out` whose runs all failed: its `table` keeps a header and no row,
/// and no figure or caption of an earlier sweep in the same folder stays.
pub fn assert_no_earlier_rows_or_figures(out: &Path, table: &str) {
    let rows = wideprobe::io::table::Table::read(&out.join(table)).unwrap();
    assert!(!rows.header.is_empty(), "{table} has no header");
    assert!(
        rows.rows.is_empty(),
        "{table}: {} rows of earlier runs",
        rows.rows.len()
    );
    let left = figure_files(out);
    assert!(
        left.is_empty(),
        "figures of the earlier sweep stayed: {left:?}"
    );
}

/// A fresh folder like [`scratch`]'s that is removed when it goes out of scope, unless
/// the test is failing (then it stays, to be looked at).
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(suite: &str, test: &str) -> Self {
        Scratch(scratch(suite, test))
    }
}

impl Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            std::fs::remove_dir_all(&self.0).unwrap();
        }
    }
}

/// Creates the folder `path` (and its parents); the path.
pub fn made(path: PathBuf) -> PathBuf {
    std::fs::create_dir_all(&path).unwrap();
    path
}

/// Fails if a run of `wideprobe ARGS` panicked: a message on stderr, or Rust's exit
/// code 101.
pub fn assert_no_panic(args: &dyn Debug, status: ExitStatus, stderr: &str) {
    assert!(
        !stderr.contains("panicked") && status.code() != Some(101),
        "wideprobe {args:?} panicked: {stderr}"
    );
}

/// A 2 x 2 f64 matrix as .npy bytes (version 1.0 header, padded to 64 bytes).
pub fn npy_2x2(values: [f64; 4]) -> Vec<u8> {
    let mut header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }".to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for x in values {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes
}
