//! A bench's memory footprint, checked before anything is allocated: every size against
//! overflow, every GPU buffer against the adapter's buffer and binding limits, and the
//! host buffers together against the memory the system has available. A size the
//! machine cannot hold is an error naming the size, the limit and the fix, never a panic
//! ("capacity overflow") or an abort inside the allocator.

use anyhow::Result;

use crate::gpu::Gpu;

#[derive(Debug, thiserror::Error)]
pub enum SizeError {
    #[error("{what} of shape {shape:?} has more than 2^64 bytes: {fix}")]
    Overflow {
        what: String,
        shape: Vec<usize>,
        fix: String,
    },
    #[error(
        "{what} needs {bytes} bytes ({:.1} MiB), over the adapter's {limit_name} of {limit} bytes \
         ({:.1} MiB) on {adapter}: {fix}, or use a GPU with a larger limit",
        *bytes as f64 / 1048576.0,
        *limit as f64 / 1048576.0
    )]
    Device {
        what: String,
        bytes: u64,
        limit_name: &'static str,
        limit: u64,
        adapter: String,
        fix: String,
    },
    #[error(
        "the bench's host buffers need {bytes} bytes ({:.2} GiB), more than the {available} bytes \
         ({:.2} GiB) this machine has available (MemAvailable): {fix}",
        *bytes as f64 / 1073741824.0,
        *available as f64 / 1073741824.0
    )]
    Host {
        bytes: u64,
        available: u64,
        fix: String,
    },
}

struct Buffer {
    what: String,
    bytes: u64,
}

/// The buffers a bench will allocate, on the host and on the device.
pub struct Footprint {
    fix: String,
    host: Vec<Buffer>,
    device: Vec<Buffer>,
}

impl Footprint {
    /// `fix` tells the user what to change, e.g. "use smaller --m, --n and --k".
    pub fn new(fix: &str) -> Footprint {
        Footprint {
            fix: fix.to_string(),
            host: Vec::new(),
            device: Vec::new(),
        }
    }

    /// A host buffer of `shape` elements of `element_bytes` each.
    pub fn host(mut self, what: &str, shape: &[usize], element_bytes: usize) -> Result<Self> {
        let buffer = self.buffer(what, shape, element_bytes)?;
        self.host.push(buffer);
        Ok(self)
    }

    /// A GPU buffer that is also filled from (or read back into) a host copy.
    pub fn both(self, what: &str, shape: &[usize], element_bytes: usize) -> Result<Self> {
        self.host(what, shape, element_bytes)?
            .device(what, shape, element_bytes)
    }

    /// A GPU storage buffer of `shape` elements of `element_bytes` each.
    pub fn device(mut self, what: &str, shape: &[usize], element_bytes: usize) -> Result<Self> {
        let buffer = self.buffer(what, shape, element_bytes)?;
        self.device.push(buffer);
        Ok(self)
    }

    /// The buffer `what` of `shape` elements of `element_bytes` each; an error when
    /// its size overflows.
    fn buffer(
        &self, what: &str, shape: &[usize], element_bytes: usize,
    ) -> Result<Buffer, SizeError> {
        let bytes = shape
            .iter()
            .try_fold(element_bytes as u64, |acc, &d| acc.checked_mul(d as u64))
            .filter(|&b| usize::try_from(b).is_ok())
            .ok_or_else(|| SizeError::Overflow {
                what: what.to_string(),
                shape: shape.to_vec(),
                fix: self.fix.clone(),
            })?;
        Ok(Buffer {
            what: what.to_string(),
            bytes,
        })
    }

    /// Every device buffer against the adapter's limits, then the host total against
    /// the available memory (skipped where the system does not say, i.e. off Linux).
    pub fn check(&self, gpu: &Gpu) -> Result<(), SizeError> {
        let limits = gpu.limits();
        let checks = [
            ("max_buffer_size", limits.max_buffer_size),
            (
                "max_storage_buffer_binding_size",
                limits.max_storage_buffer_binding_size,
            ),
        ];
        for buffer in &self.device {
            if let Some(&(limit_name, limit)) = checks.iter().find(|(_, l)| buffer.bytes > *l) {
                return Err(SizeError::Device {
                    what: buffer.what.clone(),
                    bytes: buffer.bytes,
                    limit_name,
                    limit,
                    adapter: gpu.summary.name.clone(),
                    fix: self.fix.clone(),
                });
            }
        }
        self.check_host(available_host_bytes())
    }

    /// The host total against `available` bytes (`None`: unknown, not checked).
    pub fn check_host(&self, available: Option<u64>) -> Result<(), SizeError> {
        // Saturating: the sum of sizes that each fit can still pass 2^64.
        let bytes = self
            .host
            .iter()
            .fold(0u64, |s, b| s.saturating_add(b.bytes));
        match available {
            Some(available) if bytes > available => Err(SizeError::Host {
                bytes,
                available,
                fix: self.fix.clone(),
            }),
            _ => Ok(()),
        }
    }
}

/// Bytes of memory the system can give a new allocation without swapping
/// (`MemAvailable` of /proc/meminfo); `None` where that file does not exist.
pub use crate::nn::params::available_host_bytes;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_error_names;

    #[test]
    fn a_shape_whose_bytes_overflow_is_an_error_naming_it() {
        let overflow = Footprint::new("use smaller --m").host("A", &[usize::MAX, 2], 4);
        assert_error_names(overflow, &["A of shape", "use smaller --m"]);
    }

    #[test]
    fn host_buffers_over_the_available_memory_are_refused_before_allocation() {
        let footprint = Footprint::new("use smaller --n")
            .host("A", &[1000, 1000], 8)
            .unwrap()
            .host("B", &[1000], 8)
            .unwrap();
        assert!(footprint.check_host(Some(8_008_000)).is_ok());
        let err = footprint
            .check_host(Some(8_007_999))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("8008000 bytes") && err.contains("use smaller --n"),
            "{err}"
        );
        assert!(footprint.check_host(None).is_ok());
    }

    #[test]
    fn this_machine_reports_its_available_memory() {
        if cfg!(target_os = "linux") {
            assert!(available_host_bytes().is_some_and(|b| b > 0));
        }
    }
}
