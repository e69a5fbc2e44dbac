//! Claims: lock files that let any number of processes, on one machine or on a shared
//! filesystem, split work without doing any of it twice.
//!
//! A claim is a file created with `O_EXCL` (atomic on local filesystems and NFSv3+),
//! holding who took it (host, pid, start time, and an owner tag such as the Slurm array
//! task). While held, a heartbeat thread refreshes its mtime every [`HEARTBEAT`]. A claim
//! is stale, and may be taken over, when its holder is a dead process on this host, when
//! it carries our own owner tag (a requeued Slurm task taking back its shard), or when
//! its heartbeat stopped more than [`STALE_AFTER`] ago (a holder on a lost node).
//! Dropping the [`Claim`] removes the file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result};

use super::atomic::host_name;

/// How often a held claim's mtime is refreshed.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// A claim whose heartbeat is older than this is abandoned.
pub const STALE_AFTER: Duration = Duration::from_secs(120);

/// Who holds a claim (the file's content).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClaimInfo {
    pub host: String,
    pub pid: u32,
    pub started_unix_s: u64,
    /// Identifies the same logical worker across restarts (e.g. `slurm:<job>_<task>`).
    pub owner: Option<String>,
}

impl ClaimInfo {
    fn ours(owner: Option<&str>) -> ClaimInfo {
        ClaimInfo {
            host: host_name(),
            pid: std::process::id(),
            started_unix_s: unix_now(),
            owner: owner.map(str::to_string),
        }
    }
}

/// A held claim; the file is removed when it is dropped.
pub struct Claim {
    path: PathBuf,
    info: ClaimInfo,
    stop: Arc<AtomicBool>,
    heartbeat: Option<std::thread::JoinHandle<()>>,
}

/// What [`try_claim`] found.
pub enum ClaimOutcome {
    Claimed(Claim),
    /// Someone else holds it; how long ago its heartbeat last beat.
    HeldBy(ClaimInfo, Duration),
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The owner tag of this process: the Slurm array task when it runs in one.
pub fn owner_tag() -> Option<String> {
    let job = std::env::var("SLURM_ARRAY_JOB_ID")
        .or_else(|_| std::env::var("SLURM_JOB_ID"))
        .ok()?;
    let task = std::env::var("SLURM_ARRAY_TASK_ID").unwrap_or_default();
    Some(format!("slurm:{job}_{task}"))
}

fn process_alive(pid: u32) -> bool {
    let proc_root = Path::new("/proc");
    if !proc_root.join("self").exists() {
        return true; // no procfs: cannot tell, assume alive
    }
    proc_root.join(pid.to_string()).exists()
}

fn age_of(path: &Path) -> Option<Duration> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(
        SystemTime::now()
            .duration_since(modified)
            .unwrap_or_default(),
    )
}

/// Whether a claim held by `info` (or unreadable: `None`) with heartbeat age `age` may be
/// taken over by us.
fn is_stale(info: Option<&ClaimInfo>, age: Duration, owner: Option<&str>) -> bool {
    if age > STALE_AFTER {
        return true;
    }
    let Some(info) = info else {
        // Being written right now, or garbage: give a writer a moment.
        return age > Duration::from_secs(10);
    };
    let me = ClaimInfo::ours(owner);
    if info.host == me.host && info.pid != me.pid && !process_alive(info.pid) {
        return true;
    }
    owner.is_some() && info.owner.as_deref() == owner && info.pid != me.pid
}

/// Tries once to take the claim at `path`, taking over a stale one.
pub fn try_claim(path: &Path, owner: Option<&str>) -> Result<ClaimOutcome> {
    for _ in 0..2 {
        match create_claim(path, owner)? {
            Some(claim) => return Ok(ClaimOutcome::Claimed(claim)),
            None => {
                let info = std::fs::read_to_string(path)
                    .ok()
                    .and_then(|t| serde_json::from_str::<ClaimInfo>(&t).ok());
                let Some(age) = age_of(path) else {
                    continue; // released meanwhile: try again
                };
                if !is_stale(info.as_ref(), age, owner) {
                    let info = info.unwrap_or(ClaimInfo {
                        host: "?".into(),
                        pid: 0,
                        started_unix_s: 0,
                        owner: None,
                    });
                    return Ok(ClaimOutcome::HeldBy(info, age));
                }
                // Move the stale claim aside: of several takers, one rename succeeds.
                let aside = super::atomic::temp_path(path);
                if std::fs::rename(path, &aside).is_ok() {
                    let _ = std::fs::remove_file(&aside);
                }
            }
        }
    }
    let info = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<ClaimInfo>(&t).ok())
        .unwrap_or(ClaimInfo {
            host: "?".into(),
            pid: 0,
            started_unix_s: 0,
            owner: None,
        });
    Ok(ClaimOutcome::HeldBy(info, age_of(path).unwrap_or_default()))
}

/// Who holds the claim at `path`, how long ago its heartbeat beat, and whether it is
/// stale (abandoned); `None` when there is no claim.
pub fn inspect(path: &Path) -> Option<(ClaimInfo, Duration, bool)> {
    let age = age_of(path)?;
    let info = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<ClaimInfo>(&t).ok());
    let stale = is_stale(info.as_ref(), age, None);
    let info = info.unwrap_or(ClaimInfo {
        host: "?".into(),
        pid: 0,
        started_unix_s: 0,
        owner: None,
    });
    Some((info, age, stale))
}

/// Waits up to `timeout` for the claim at `path` (for short critical sections such as
/// rebuilding the aggregate tables).
pub fn wait_claim(path: &Path, owner: Option<&str>, timeout: Duration) -> Result<Claim> {
    let start = std::time::Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        match try_claim(path, owner)? {
            ClaimOutcome::Claimed(c) => return Ok(c),
            ClaimOutcome::HeldBy(info, _) if start.elapsed() > timeout => anyhow::bail!(
                "{} has been held by pid {} on {} for over {} s; if that process is gone, \
                 delete the file",
                path.display(),
                info.pid,
                info.host,
                timeout.as_secs()
            ),
            ClaimOutcome::HeldBy(..) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(200));
            }
        }
    }
}

/// Creates the claim file if it does not exist; `None` if it does.
fn create_claim(path: &Path, owner: Option<&str>) -> Result<Option<Claim>> {
    use std::io::Write as _;
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot create the claim {}", path.display()))
        }
    };
    let info = ClaimInfo::ours(owner);
    let written = file
        .write_all(serde_json::to_string(&info)?.as_bytes())
        .and_then(|_| file.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(path);
        return Err(e).with_context(|| format!("cannot write the claim {}", path.display()));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let heartbeat = spawn_heartbeat(path.to_path_buf(), stop.clone());
    Ok(Some(Claim {
        path: path.to_path_buf(),
        info,
        stop,
        heartbeat: Some(heartbeat),
    }))
}

fn spawn_heartbeat(path: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    // Parked between beats; Drop unparks it, so releasing a claim does not wait a beat.
    std::thread::spawn(move || {
        let mut last = std::time::Instant::now();
        while !stop.load(Ordering::Acquire) {
            std::thread::park_timeout(HEARTBEAT.saturating_sub(last.elapsed()));
            if !stop.load(Ordering::Acquire) && last.elapsed() >= HEARTBEAT {
                last = std::time::Instant::now();
                if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&path) {
                    let _ = f.set_modified(SystemTime::now());
                }
            }
        }
    })
}

impl Claim {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.heartbeat.take() {
            h.thread().unpark();
            let _ = h.join();
        }
        // Remove the file only while it is still ours (a stale takeover may have replaced it).
        let still_ours = std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|t| serde_json::from_str::<ClaimInfo>(&t).ok())
            .is_some_and(|i| i == self.info);
        if still_ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::scratch_dir;

    /// Whether `owner` claims `path` now.
    fn claimed(path: &Path, owner: Option<&str>) -> bool {
        matches!(try_claim(path, owner).unwrap(), ClaimOutcome::Claimed(_))
    }

    /// Whether `owner` finds `path` held by another.
    fn held(path: &Path, owner: Option<&str>) -> bool {
        matches!(try_claim(path, owner).unwrap(), ClaimOutcome::HeldBy(..))
    }

    /// A claim by process `pid` on `host`, started at the epoch.
    fn claim_by(host: String, pid: u32, owner: Option<&str>) -> ClaimInfo {
        ClaimInfo {
            host,
            pid,
            started_unix_s: 0,
            owner: owner.map(String::from),
        }
    }

    /// Runs `test` on a claim file's path in a fresh scratch folder `name`, then removes
    /// the folder.
    fn in_scratch(name: &str, test: impl FnOnce(&Path)) {
        let d = scratch_dir(name);
        test(&d.join("claim"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// Writes `info` as the claim file `path`.
    fn write_claim(path: &Path, info: &ClaimInfo) {
        std::fs::write(path, serde_json::to_string(info).unwrap()).unwrap();
    }

    #[test]
    fn second_claim_is_refused_until_the_first_is_dropped() {
        in_scratch("claim-excl", |p| {
            let ClaimOutcome::Claimed(first) = try_claim(p, None).unwrap() else {
                panic!("first claim refused")
            };
            // Same process, same host, alive: held.
            assert!(held(p, None));
            drop(first);
            assert!(!p.exists());
            assert!(claimed(p, None));
        });
    }

    #[test]
    fn claim_of_a_dead_process_on_this_host_is_taken_over() {
        in_scratch("claim-dead", |p| {
            let no_such_process = u32::MAX - 7;
            write_claim(p, &claim_by(host_name(), no_such_process, None));
            assert!(claimed(p, None));
        });
    }

    #[test]
    fn live_claim_from_another_host_is_respected_and_same_owner_takes_over() {
        in_scratch("claim-host", |p| {
            write_claim(p, &claim_by("elsewhere".into(), 1, Some("slurm:9_3")));
            assert!(held(p, Some("slurm:9_1")));
            assert!(claimed(p, Some("slurm:9_3")));
        });
    }

    #[test]
    fn abandoned_claim_is_stale_after_its_heartbeat_stops() {
        let other = claim_by("elsewhere".into(), 1, None);
        assert!(!is_stale(Some(&other), Duration::from_secs(5), None));
        assert!(is_stale(
            Some(&other),
            STALE_AFTER + Duration::from_secs(1),
            None
        ));
        assert!(!is_stale(None, Duration::from_secs(1), None));
        assert!(is_stale(None, Duration::from_secs(11), None));
    }

    #[test]
    fn wait_claim_serialises_threads() {
        let d = scratch_dir("claim-wait");
        let p = d.join("lock");
        let counter = Arc::new(std::sync::Mutex::new((0u32, 0u32)));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let p = p.clone();
                let counter = counter.clone();
                std::thread::spawn(move || {
                    for _ in 0..5 {
                        let _c = wait_claim(&p, None, Duration::from_secs(30)).unwrap();
                        let mut g = counter.lock().unwrap();
                        g.0 += 1;
                        g.1 = g.1.max(g.0);
                        drop(g);
                        std::thread::sleep(Duration::from_millis(2));
                        counter.lock().unwrap().0 -= 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // Never two holders at once.
        assert_eq!(counter.lock().unwrap().1, 1);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
