//! Files that appear whole or not at all, even when several processes write into one
//! folder: each write goes to a temporary file with a name no other writer can pick
//! (host, pid, a counter and the time), then is renamed over the target, which is
//! atomic on POSIX filesystems (NFS included). The temporary file is removed on every
//! error path, so a full disk leaves no 0-byte `*.tmp` behind.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context as _, Result};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// This machine's host name (for claim files and temporary names).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "unknown-host".to_string())
}

/// A temporary path beside `path` that no concurrent writer shares.
pub fn temp_path(path: &Path) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let host: String = host_name()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(32)
        .collect();
    path.with_file_name(format!(
        ".{name}.{host}.{}.{n}.{nanos:08x}.tmp",
        std::process::id()
    ))
}

/// Writes `bytes` to `path` atomically (see the module doc).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path(path);
    let result = (|| -> Result<()> {
        let mut file = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        file.write_all(bytes)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        file.sync_all()
            .with_context(|| format!("cannot flush {} to disk", tmp.display()))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot move {} into place", path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_unique_and_hidden() {
        let p = Path::new("/x/layers.csv");
        let a = temp_path(p);
        let b = temp_path(p);
        assert_ne!(a, b);
        assert!(a
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(".layers.csv."));
        assert_eq!(a.parent(), p.parent());
    }

    #[test]
    fn failed_write_leaves_no_temporary_file() {
        let dir = crate::io::scratch_dir("atomic");
        // The target is a non-empty directory: the rename fails after the write.
        let target = dir.join("target");
        std::fs::create_dir_all(target.join("inside")).unwrap();
        assert!(write_atomic(&target, b"data").is_err());
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("target")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
