//! A clean stop between runs: SIGUSR1 (sent by Slurm before the time limit, see
//! `wideprobe slurm`) and SIGTERM (scancel, preemption, `kill`) set a flag that a
//! sweep checks between runs; the run in progress finishes and is saved. SIGINT
//! (Ctrl-C) keeps its default: it stops at once.

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;

static STOP: AtomicBool = AtomicBool::new(false);

/// True once SIGUSR1 or SIGTERM arrived (after [`install_stop_handlers`]) or
/// [`request_stop`] was called: finish the current run, start no other.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Asks for the same stop as a signal would (for callers and tests).
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// Clears a stop request (tests, or a process that runs several sweeps).
pub fn reset_stop() {
    STOP.store(false, Ordering::SeqCst);
}

#[cfg(unix)]
extern "C" fn on_stop_signal(_signal: libc::c_int) {
    // Async-signal-safe: one atomic store, nothing else.
    STOP.store(true, Ordering::SeqCst);
}

/// Makes SIGUSR1 and SIGTERM request a stop instead of ending the process. Call once,
/// before the sweep; calling it again is harmless. A no-op where there are no Unix
/// signals.
#[cfg(unix)]
pub fn install_stop_handlers() -> Result<()> {
    for (signal, name) in [(libc::SIGUSR1, "SIGUSR1"), (libc::SIGTERM, "SIGTERM")] {
        // SAFETY: a zeroed sigaction is a valid value; the handler only stores to an
        // atomic; SA_RESTART keeps interrupted reads and writes from failing with EINTR.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_stop_signal as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            anyhow::bail!(
                "cannot install the {name} handler for a clean stop: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    Ok(())
}

#[cfg(not(unix))]
pub fn install_stop_handlers() -> Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// One test for both signals: the flag is process-wide, so two tests raising
    /// signals in parallel threads would see each other's.
    #[test]
    fn usr1_and_term_request_a_stop_and_the_process_lives_on() {
        install_stop_handlers().unwrap();
        install_stop_handlers().unwrap();
        for signal in [libc::SIGUSR1, libc::SIGTERM] {
            reset_stop();
            assert!(!stop_requested());
            // SAFETY: raise only delivers the signal to this thread; the handler is set.
            assert_eq!(unsafe { libc::raise(signal) }, 0);
            assert!(stop_requested(), "signal {signal} did not request a stop");
        }
        reset_stop();
        request_stop();
        assert!(stop_requested());
        reset_stop();
    }
}
