//! MD5 sums of data files, cached so that 180 MB of CIFAR-10 is not hashed on every run.
//!
//! The cache lives in the user cache (`$XDG_CACHE_HOME/wideprobe`, else
//! `~/.cache/wideprobe`), never in the data folder: that folder is often read-only,
//! shared, or under version control. An entry is keyed by the file's absolute path and
//! trusted only while its size, mtime (ns), inode and device, and (on Unix) ctime are
//! unchanged: `touch -d` can restore an mtime after an edit, but not a ctime.

use std::collections::BTreeMap;
use std::fs::Metadata;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What must be unchanged for a cached sum to be trusted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    size: u64,
    /// Modification time, ns since the epoch (0 when unknown).
    mtime_ns: i128,
    /// Status-change time, ns since the epoch; set by the kernel on every write.
    ctime_ns: Option<i128>,
    inode: Option<u64>,
    device: Option<u64>,
}

impl Stamp {
    #[cfg(unix)]
    fn of(meta: &Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        let ns = |s: i64, n: i64| s as i128 * 1_000_000_000 + n as i128;
        Stamp {
            size: meta.len(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: Some(ns(meta.ctime(), meta.ctime_nsec())),
            inode: Some(meta.ino()),
            device: Some(meta.dev()),
        }
    }

    #[cfg(not(unix))]
    fn of(meta: &Metadata) -> Self {
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        Stamp {
            size: meta.len(),
            mtime_ns,
            ctime_ns: None,
            inode: None,
            device: None,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Entry {
    stamp: Stamp,
    md5: String,
}

/// Absolute path -> entry.
type Entries = BTreeMap<String, Entry>;

/// The cache file: `md5-cache.json` in wideprobe's user cache folder.
pub fn default_cache_file() -> Option<PathBuf> {
    super::user_cache_dir().map(|d| d.join("md5-cache.json"))
}

pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The MD5 of `bytes`, the contents of `path` whose metadata (taken before reading) is
/// `meta`: from `cache` when its entry still matches and not `verify`; computed and
/// stored otherwise. A cache that cannot be read or written is not an error.
pub fn file_md5(
    cache: Option<&Path>, path: &Path, meta: &Metadata, bytes: &[u8], verify: bool,
) -> String {
    let key = absolute_key(path);
    let stamp = Stamp::of(meta);
    let mut entries = cache.map(read_entries).unwrap_or_default();
    if !verify {
        if let Some(entry) = entries.get(&key).filter(|e| e.stamp == stamp) {
            return entry.md5.clone();
        }
    }
    let md5 = md5_hex(bytes);
    if let Some(cache) = cache {
        // Files that are gone (a scratch copy, a moved folder) are dropped.
        entries.retain(|k, _| Path::new(k).exists());
        entries.insert(
            key,
            Entry {
                stamp,
                md5: md5.clone(),
            },
        );
        write_entries(cache, &entries);
    }
    md5
}

fn absolute_key(path: &Path) -> String {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

fn read_entries(cache: &Path) -> Entries {
    std::fs::read_to_string(cache)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Written to a temporary beside the cache and renamed, so that a concurrent run never
/// reads half a file.
fn write_entries(cache: &Path, entries: &Entries) {
    let Some(parent) = cache.parent() else { return };
    let temp = parent.join(format!(".md5-cache-{}.tmp", std::process::id()));
    let written = std::fs::create_dir_all(parent).is_ok()
        && serde_json::to_string(entries).is_ok_and(|t| std::fs::write(&temp, t).is_ok())
        && std::fs::rename(&temp, cache).is_ok();
    if !written {
        let _ = std::fs::remove_file(&temp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::scratch_dir;

    fn md5_now(cache: &Path, path: &Path, verify: bool) -> String {
        let meta = std::fs::metadata(path).unwrap();
        file_md5(
            Some(cache),
            path,
            &meta,
            &std::fs::read(path).unwrap(),
            verify,
        )
    }

    #[test]
    fn changed_bytes_with_a_restored_mtime_are_hashed_again() {
        let dir = scratch_dir("md5-restored");
        let (cache, data) = (dir.join("cache/md5.json"), dir.join("data_batch_1.bin"));
        std::fs::write(&data, b"original bytes").unwrap();
        let mtime = std::fs::metadata(&data).unwrap().modified().unwrap();
        assert_eq!(md5_now(&cache, &data, false), md5_hex(b"original bytes"));
        // Same size, same inode, mtime put back: only the ctime tells.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&data, b"tampered bytes").unwrap();
        let file = std::fs::File::options().write(true).open(&data).unwrap();
        file.set_modified(mtime).unwrap();
        drop(file);
        assert_eq!(std::fs::metadata(&data).unwrap().modified().unwrap(), mtime);
        assert_eq!(md5_now(&cache, &data, false), md5_hex(b"tampered bytes"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_matching_entry_is_used_unless_verify_and_the_data_folder_is_untouched() {
        let dir = scratch_dir("md5-verify");
        let (cache, data) = (dir.join("cache/md5.json"), dir.join("data/test_batch.bin"));
        std::fs::create_dir_all(data.parent().unwrap()).unwrap();
        std::fs::write(&data, b"bytes").unwrap();
        let real = md5_now(&cache, &data, false);
        // Plant a wrong sum under the current stamp: it is what a stale cache looks like.
        let mut entries = read_entries(&cache);
        entries.get_mut(&absolute_key(&data)).unwrap().md5 = "stale".to_string();
        write_entries(&cache, &entries);
        assert_eq!(md5_now(&cache, &data, false), "stale");
        assert_eq!(md5_now(&cache, &data, true), real);
        assert_eq!(
            md5_now(&cache, &data, false),
            real,
            "verify refreshes the cache"
        );
        let in_data: Vec<_> = std::fs::read_dir(data.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(in_data, ["test_batch.bin"]);
        let _ = std::fs::remove_dir_all(dir);
    }
}
