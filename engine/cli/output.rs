//! Everything the commands print goes through [`emit`], so a reader that goes away
//! (`wideprobe spectrum g.npy | head -1`) ends the program quietly instead of panicking.

use std::fmt::Display;
use std::io::Write;

use anyhow::Result;

/// Standard output was closed by its reader: not a failure of the command.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed by its reader")]
pub struct StdoutClosed;

/// Writes `value` to standard output and flushes it.
pub fn emit(value: &dyn Display) -> Result<()> {
    let mut out = std::io::stdout().lock();
    write!(out, "{value}")
        .and_then(|()| out.flush())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::BrokenPipe => anyhow::Error::new(StdoutClosed),
            _ => anyhow::Error::new(e).context("writing to standard output failed"),
        })
}

/// Writes `value` as pretty JSON and a newline.
pub fn emit_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    emit(&format_args!("{text}\n"))
}

/// ` (<what>)` when `count` is above 0, else nothing: an aside a line makes only when
/// it applies, e.g. ` (3 restarts)`.
pub fn aside(count: usize, what: impl FnOnce(usize) -> String) -> String {
    if count > 0 {
        format!(" ({})", what(count))
    } else {
        String::new()
    }
}
