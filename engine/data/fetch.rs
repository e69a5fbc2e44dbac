//! `wideprobe data fetch`: download the CIFAR-10 binary archive, check its size and
//! MD5, and extract the six batch files into a folder.
//!
//! Nothing half-written is ever left at the destination: the archive goes to a
//! temporary file beside the destination, is checked, is extracted into a temporary
//! folder beside it, and only then is that folder renamed into place. Temporaries are
//! removed on every error. Archive paths are never joined onto a destination: only
//! the six fixed member names below are written, so a hostile archive cannot write
//! anywhere else.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use md5::{Digest, Md5};

/// The folder inside the archive that holds the batches.
pub const ARCHIVE_DIR: &str = "cifar-10-batches-bin";

/// The files extracted, by name inside [`ARCHIVE_DIR`] and inside the destination.
pub const MEMBERS: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];

/// Other files of the official archive: not extracted, but a destination holding them
/// (an earlier manual extraction) may be replaced with --force.
const OTHER_OFFICIAL: [&str; 2] = ["batches.meta.txt", "readme.html"];

/// Where the archive comes from and what it must be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchSource {
    pub url: String,
    /// Expected MD5, lower-case hex.
    pub md5: String,
    /// Expected size in bytes, when known.
    pub bytes: Option<u64>,
}

impl FetchSource {
    /// The archive published by the dataset's authors.
    pub fn official() -> Self {
        Self {
            url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz".to_string(),
            md5: "c32a1d4ab5d03f1284b67883e8d87530".to_string(),
            bytes: Some(170_052_171),
        }
    }
}

/// Where `data fetch` puts the data without --dir: `$WIDEPROBE_DATA`, else
/// `$XDG_CACHE_HOME/wideprobe/cifar-10-batches-bin`, else
/// `~/.cache/wideprobe/cifar-10-batches-bin` (where the runner looks for it).
pub fn default_dest() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("WIDEPROBE_DATA").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    let cache = super::user_cache_dir()
        .context("no destination: pass --dir, or set WIDEPROBE_DATA, XDG_CACHE_HOME or HOME")?;
    Ok(cache.join(ARCHIVE_DIR))
}

/// Download `source`, check it, and extract the six CIFAR-10 batch files into `dest`
/// (created; its parent is created too). Returns `dest`.
///
/// An existing non-empty `dest` is left alone unless `force`; with `force` it is
/// replaced, but only when it holds nothing besides CIFAR-10 files.
pub fn fetch_cifar10(source: &FetchSource, dest: &Path, force: bool) -> Result<PathBuf> {
    let replace = check_dest(dest, force)?;
    let name = dest
        .file_name()
        .with_context(|| format!("destination {} has no folder name", dest.display()))?
        .to_string_lossy()
        .into_owned();
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create the folder {}", parent.display()))?;

    let pid = std::process::id();
    let mut temps = Temporaries::default();
    let archive = parent.join(format!(".{name}.download-{pid}.tar.gz"));
    temps.add(&archive);
    download(source, &archive)?;

    let staging = parent.join(format!(".{name}.partial-{pid}"));
    temps.add(&staging);
    extract(&archive, &staging)?;

    if replace {
        // Move the old data aside first so that the destination is never a mix.
        let old = parent.join(format!(".{name}.old-{pid}"));
        temps.add(&old);
        fs::rename(dest, &old).with_context(|| {
            format!(
                "cannot move the old {} aside (to replace it)",
                dest.display()
            )
        })?;
        if let Err(e) = fs::rename(&staging, dest) {
            // Put the old data back; the new copy is discarded with the temporaries.
            let _ = fs::rename(&old, dest);
            return Err(e).with_context(|| format!("cannot move the data into {}", dest.display()));
        }
    } else {
        // An empty existing folder (check_dest allowed it) is replaced by the new one.
        if dest.is_dir() {
            fs::remove_dir(dest)
                .with_context(|| format!("cannot replace the empty folder {}", dest.display()))?;
        }
        fs::rename(&staging, dest)
            .with_context(|| format!("cannot move the data into {}", dest.display()))?;
    }
    // Removes the archive and, after a replacement, the old data.
    drop(temps);
    Ok(dest.to_path_buf())
}

/// Whether `dest` may be written; `Ok(true)` when it holds data to be replaced.
fn check_dest(dest: &Path, force: bool) -> Result<bool> {
    let meta = match fs::symlink_metadata(dest) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("cannot inspect {}", dest.display())),
    };
    if !meta.is_dir() {
        bail!(
            "{} exists and is not a folder: choose another --dir",
            dest.display()
        );
    }
    let mut names = Vec::new();
    for entry in fs::read_dir(dest).with_context(|| format!("cannot list {}", dest.display()))? {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    if names.is_empty() {
        return Ok(false);
    }
    let complete = MEMBERS.iter().all(|m| names.iter().any(|n| n == m));
    if !force {
        if complete {
            bail!(
                "{} already holds CIFAR-10 (data_batch_1.bin ... test_batch.bin): nothing to do; \
                 pass --force to download it again",
                dest.display()
            );
        }
        bail!(
            "{} exists and is not empty: choose another --dir, or pass --force to replace it \
             (only when it holds nothing but CIFAR-10 files)",
            dest.display()
        );
    }
    let foreign: Vec<&String> = names
        .iter()
        .filter(|n| !MEMBERS.contains(&n.as_str()) && !OTHER_OFFICIAL.contains(&n.as_str()))
        .collect();
    if !foreign.is_empty() {
        bail!(
            "{} holds files that are not CIFAR-10 ({}): not replacing it even with --force; \
             choose another --dir",
            dest.display(),
            foreign
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(true)
}

/// Paths removed (file or folder) when dropped: on every error, and at the end.
#[derive(Default)]
struct Temporaries(Vec<PathBuf>);

impl Temporaries {
    fn add(&mut self, p: &Path) {
        self.0.push(p.to_path_buf());
    }
}

impl Drop for Temporaries {
    fn drop(&mut self) {
        for p in &self.0 {
            match fs::symlink_metadata(p) {
                Ok(m) if m.is_dir() => {
                    let _ = fs::remove_dir_all(p);
                }
                Ok(_) => {
                    let _ = fs::remove_file(p);
                }
                Err(_) => {}
            }
        }
    }
}

/// GET `source.url` into `to`, checking the size and MD5.
fn download(source: &FetchSource, to: &Path) -> Result<()> {
    let (mut response, expected) = request(source)?;
    let md5 = save_body(response.body_mut().as_reader(), to, expected)?;
    let want = source.md5.trim().to_ascii_lowercase();
    if md5 != want {
        bail!("the download is corrupt (MD5 {md5}, expected {want}): run the command again");
    }
    Ok(())
}

/// The server's answer to GET `source.url`, and the size to expect (`source.bytes`, else
/// what the server announces). A server announcing another size than `source.bytes` is
/// refused before anything is written.
fn request(source: &FetchSource) -> Result<(ureq::http::Response<ureq::Body>, Option<u64>)> {
    let url = &source.url;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        // A stalled transfer fails instead of hanging forever.
        .timeout_per_read(Some(Duration::from_secs(60)))
        .build()
        .into();
    let response = match agent.get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::StatusCode(code)) => bail!(
            "the server answered HTTP {code} for {url}: check the address, or try again later"
        ),
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "cannot download {url}: check the network connection and run the command again"
                )
            })
        }
    };
    let announced = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let (Some(a), Some(e)) = (announced, source.bytes) {
        if a != e {
            bail!(
                "the server announces {a} bytes for {url}, expected {e}: it is not the expected \
                 archive (the file may have moved); nothing was written"
            );
        }
    }
    Ok((response, source.bytes.or(announced)))
}

/// Writes `body` to the file `to` with a progress bar, checking its length against
/// `expected`; returns its MD5 (lowercase hex).
fn save_body(mut body: impl Read, to: &Path, expected: Option<u64>) -> Result<String> {
    let bar = match expected {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::no_length(),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "downloading CIFAR-10 {bar:40} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let file = File::create(to)
        .with_context(|| format!("cannot create the temporary file {}", to.display()))?;
    let mut out = BufWriter::new(file);
    let mut hasher = Md5::new();
    let mut got: u64 = 0;
    let mut buf = vec![0u8; 1 << 16];
    let cut_off = |got: u64, why: &dyn std::fmt::Display| {
        let of = expected.map(|e| format!(" of {e}")).unwrap_or_default();
        anyhow::anyhow!(
            "the download was cut off after {got}{of} bytes ({why}): run the command again"
        )
    };
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                bar.abandon();
                return Err(cut_off(got, &e));
            }
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .with_context(|| format!("cannot write {} (disk full?)", to.display()))?;
        got += n as u64;
        bar.set_position(got);
        if let Some(e) = expected {
            if got > e {
                bar.abandon();
                bail!("the server sent more than the expected {e} bytes: it is not the expected archive");
            }
        }
    }
    bar.finish_and_clear();
    if let Some(e) = expected {
        if got != e {
            return Err(cut_off(got, &"the connection closed early"));
        }
    }
    flush_to_disk(out, to)?;
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Flushes `out`, the file at `path`, and syncs it to the disk.
fn flush_to_disk(out: BufWriter<File>, path: &Path) -> Result<()> {
    let file = out
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("cannot write {} (disk full?)", path.display()))?;
    file.sync_all()
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Extract the six members of the checked archive `from` into the new folder `to`.
fn extract(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir(to)
        .with_context(|| format!("cannot create the temporary folder {}", to.display()))?;
    let file = File::open(from).with_context(|| format!("cannot read {}", from.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(file)));
    let wanted: Vec<String> = MEMBERS
        .iter()
        .map(|m| format!("{ARCHIVE_DIR}/{m}"))
        .collect();
    let mut seen = [false; MEMBERS.len()];
    let bad = |e: io::Error| {
        anyhow::anyhow!(
            "cannot extract the archive ({e}): check the free disk space and run the command again"
        )
    };
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        // Compared as raw bytes against fixed names: an archive path is never used as a
        // path on disk, so `..`, absolute paths and links cannot escape.
        let Some(i) = wanted
            .iter()
            .position(|w| *entry.path_bytes() == *w.as_bytes())
        else {
            continue;
        };
        if entry.header().entry_type() != tar::EntryType::Regular {
            bail!(
                "the archive's {} is not a regular file: report this",
                wanted[i]
            );
        }
        if seen[i] {
            bail!("the archive holds {} twice: report this", wanted[i]);
        }
        seen[i] = true;
        let path = to.join(MEMBERS[i]);
        let mut out = BufWriter::new(
            File::create(&path).with_context(|| format!("cannot create {}", path.display()))?,
        );
        io::copy(&mut entry, &mut out).map_err(bad)?;
        flush_to_disk(out, &path)?;
    }
    let missing: Vec<&str> = MEMBERS
        .iter()
        .zip(seen)
        .filter(|(_, s)| !s)
        .map(|(m, _)| *m)
        .collect();
    if !missing.is_empty() {
        bail!(
            "the archive lacks {}: it is not the CIFAR-10 binary archive",
            missing.join(", ")
        );
    }
    Ok(())
}
