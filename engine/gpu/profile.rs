//! `WIDEPROBE_PROFILE=1`: every compute pass of the process timed with GPU timestamps and
//! summed per kernel, printed to stderr when the device is dropped, so that any command
//! (a sweep, `spectrum`, a bench) shows where its GPU time went.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

/// Passes one batch times at most when profiling; later ones are counted as untimed.
pub const PROFILE_PASSES_PER_BATCH: u32 = super::timing::MAX_TIMED_PASSES;

/// Whether `WIDEPROBE_PROFILE` asks for a profile (set, and not empty or "0").
pub fn profile_requested() -> bool {
    std::env::var("WIDEPROBE_PROFILE").is_ok_and(|v| !v.trim().is_empty() && v.trim() != "0")
}

/// GPU time per pass label, summed over the process.
#[derive(Default)]
pub struct Profile {
    totals: Mutex<HashMap<String, (usize, f64)>>,
    untimed: Mutex<usize>,
}

impl Profile {
    /// Adds one submitted batch's pass times, and the passes it could not time.
    pub fn add(&self, times: &[(String, f64)], untimed: usize) {
        let mut totals = self.totals.lock().unwrap();
        for (label, seconds) in times {
            let entry = totals.entry(label.clone()).or_default();
            entry.0 += 1;
            entry.1 += seconds;
        }
        *self.untimed.lock().unwrap() += untimed;
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let totals = self.totals.lock().unwrap();
        let mut rows: Vec<_> = totals.iter().collect();
        rows.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1));
        let all = rows.iter().fold(0.0, |sum, (_, (_, s))| sum + s);
        writeln!(
            f,
            "GPU profile (WIDEPROBE_PROFILE): {:.3} s in compute passes",
            all
        )?;
        writeln!(
            f,
            "{:>10} {:>7} {:>10} {:>10}  pass",
            "total ms", "share", "passes", "mean us"
        )?;
        for (label, (count, seconds)) in rows {
            writeln!(
                f,
                "{:>10.2} {:>6.1}% {:>10} {:>10.1}  {label}",
                seconds * 1e3,
                100.0 * seconds / all.max(f64::MIN_POSITIVE),
                count,
                seconds / *count as f64 * 1e6
            )?;
        }
        let untimed = *self.untimed.lock().unwrap();
        if untimed > 0 {
            writeln!(
                f,
                "({untimed} passes past {PROFILE_PASSES_PER_BATCH} in one batch untimed)"
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_per_label_and_lists_the_largest_first() {
        let profile = Profile::default();
        profile.add(&[("a".into(), 0.001), ("b".into(), 0.004)], 0);
        profile.add(&[("a".into(), 0.002)], 3);
        let text = profile.to_string();
        assert!(text.contains("0.007 s in compute passes"), "{text}");
        let (a, b) = (text.find("  a\n").unwrap(), text.find("  b\n").unwrap());
        assert!(b < a, "b (4 ms) before a (3 ms):\n{text}");
        assert!(
            text.contains("3.00") && text.contains("2 ") && text.contains("1500.0"),
            "{text}"
        );
        assert!(text.contains("(3 passes past"), "{text}");
    }
}
