//! Progress of a sweep that a person can trust: elapsed time ticks every second, the
//! message names the run (and the epoch inside a training run), and the ETA weighs each
//! run by its estimated cost (the FLOPs of [`super::cost`]), refined by the measured
//! seconds per FLOP of the runs computed so far. When stderr is not a terminal (Slurm,
//! nohup, a pipe), one plain line per finished run replaces the bar.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Bar positions are in these units of the sweep's total estimated cost.
const UNITS: u64 = 1_000_000;

/// The progress of one process's share of a sweep.
pub struct Progress {
    bar: ProgressBar,
    /// One line per finished run on stderr instead of a bar.
    plain: bool,
    start: Instant,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Runs of this process, and how many have ended (computed, skipped or claimed
    /// elsewhere).
    runs: usize,
    ended: usize,
    total_cost: f64,
    /// Cost of the runs that have ended (the current run's part: `done_cost`).
    ended_cost: f64,
    current: Option<Current>,
    /// Cost and seconds of the runs computed here: the measured rate.
    computed_cost: f64,
    computed_seconds: f64,
}

impl State {
    /// Cost of the ended runs and of the part of the current run done.
    fn done_cost(&self) -> f64 {
        let partial = self
            .current
            .as_ref()
            .map_or(0.0, |c| c.cost * c.done_fraction);
        self.ended_cost + partial
    }
}

struct Current {
    id: String,
    cost: f64,
    done_fraction: f64,
    start: Instant,
}

impl Progress {
    /// Progress over runs of the given estimated costs; hidden when `quiet`.
    pub fn new(costs: &[f64], quiet: bool) -> Self {
        let plain = !quiet && !std::io::stderr().is_terminal();
        let bar = if quiet || plain {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::new(UNITS);
            bar.set_style(
                ProgressStyle::with_template("{elapsed_precise} {bar:30} {msg}")
                    .expect("valid template"),
            );
            bar.enable_steady_tick(Duration::from_secs(1));
            bar
        };
        let state = State {
            runs: costs.len(),
            total_cost: costs.iter().sum::<f64>().max(f64::MIN_POSITIVE),
            ..Default::default()
        };
        Progress {
            bar,
            plain,
            start: Instant::now(),
            state: Mutex::new(state),
        }
    }

    /// Prints `f`'s output above the bar (or plainly).
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    /// A run starts computing here.
    pub fn start_run(&self, id: &str, cost: f64) {
        let mut s = self.lock();
        s.current = Some(Current {
            id: id.to_string(),
            cost,
            done_fraction: 0.0,
            start: Instant::now(),
        });
        self.show(&s, None);
    }

    /// The current run has done `done` of `total` steps (epochs).
    pub fn step(&self, done: usize, total: usize) {
        let mut s = self.lock();
        if let Some(c) = s.current.as_mut() {
            c.done_fraction = (done as f64 / total.max(1) as f64).min(1.0);
        }
        self.show(&s, Some((done, total)));
    }

    /// The current run ended with `status`.
    pub fn finish_run(&self, status: &str) {
        let mut s = self.lock();
        let Some(c) = s.current.take() else { return };
        let seconds = c.start.elapsed().as_secs_f64();
        s.ended += 1;
        s.ended_cost += c.cost;
        s.computed_cost += c.cost;
        s.computed_seconds += seconds;
        if self.plain {
            eprintln!(
                "[{}/{}] {} {status} in {:.1} s; elapsed {}, ETA {}",
                s.ended,
                s.runs,
                c.id,
                seconds,
                clock(self.start.elapsed().as_secs_f64()),
                eta(&s)
            );
        }
        self.show(&s, None);
    }

    /// A run of this process that was not computed here (finished before, or claimed by
    /// another process): it counts as ended without adding to the measured rate.
    pub fn pass_run(&self, cost: f64) {
        let mut s = self.lock();
        s.ended += 1;
        s.ended_cost += cost;
        self.show(&s, None);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn show(&self, s: &State, epoch: Option<(usize, usize)>) {
        let fraction = (s.done_cost() / s.total_cost).clamp(0.0, 1.0);
        self.bar.set_position((fraction * UNITS as f64) as u64);
        let run = match &s.current {
            Some(c) => {
                let epoch = epoch.map_or(String::new(), |(d, t)| format!(", epoch {d}/{t}"));
                format!("run {}/{} {}{epoch}", s.ended + 1, s.runs, c.id)
            }
            None => format!("{}/{} runs", s.ended, s.runs),
        };
        self.bar.set_message(format!("{run} · ETA {}", eta(s)));
    }
}

/// Remaining cost at the measured seconds per unit of cost; unknown before the first
/// run computed here ends.
fn eta(s: &State) -> String {
    if s.computed_cost <= 0.0 {
        return "after the first run".into();
    }
    let remaining = (s.total_cost - s.done_cost()).max(0.0);
    clock(remaining * s.computed_seconds / s.computed_cost)
}

/// Seconds as `1h 02m`, `4m 05s` or `12s`.
fn clock(seconds: f64) -> String {
    let t = seconds.round() as u64;
    match (t / 3600, (t % 3600) / 60, t % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, m, _) => format!("{h}h {m:02}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_weighs_runs_by_cost() {
        let mut s = State {
            runs: 3,
            total_cost: 111.0,
            ..Default::default()
        };
        assert_eq!(eta(&s), "after the first run");
        // The cheap run took 2 s for cost 1: the remaining 110 take 220 s.
        s.ended = 1;
        s.ended_cost = 1.0;
        s.computed_cost = 1.0;
        s.computed_seconds = 2.0;
        assert_eq!(eta(&s), "3m 40s");
        // Half of the next run (cost 10) done: 105 left.
        s.current = Some(Current {
            id: "b".into(),
            cost: 10.0,
            done_fraction: 0.5,
            start: Instant::now(),
        });
        assert_eq!(eta(&s), "3m 30s");
    }

    #[test]
    fn clock_reads_as_a_person_would() {
        assert_eq!(clock(0.4), "0s");
        assert_eq!(clock(65.0), "1m 05s");
        assert_eq!(clock(3725.0), "1h 02m");
    }
}
