//! Statistics of repeated launches, timed with GPU timestamps when the adapter has
//! them and with the host clock otherwise.

use anyhow::Result;

use crate::gpu::{Batch, Gpu};

/// Timing statistics of repeated launches, in seconds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Timing {
    pub median_s: f64,
    pub min_s: f64,
    pub repeats: usize,
    /// "gpu-timestamps" or "host" (submit to completion, readback excluded).
    pub clock: &'static str,
}

impl Timing {
    pub fn from_samples(mut samples: Vec<f64>, clock: &'static str) -> Timing {
        samples.sort_by(|a, b| a.total_cmp(b));
        let n = samples.len();
        let median = if n % 2 == 1 {
            samples[n / 2]
        } else {
            0.5 * (samples[n / 2 - 1] + samples[n / 2])
        };
        Timing {
            median_s: median,
            min_s: samples[0],
            repeats: n,
            clock,
        }
    }
}

/// Times `repeats` launches recorded by `record`, after `warmup` untimed ones.
pub fn time_launches(
    gpu: &Gpu, warmup: usize, repeats: usize, mut record: impl FnMut(&mut Batch) -> Result<()>,
) -> Result<Timing> {
    let repeats = repeats.max(1);
    for _ in 0..warmup {
        let mut b = Batch::new(gpu);
        record(&mut b)?;
        b.submit()?;
    }
    if gpu.has_timestamps() {
        let mut b = Batch::timed(gpu, repeats as u32);
        for _ in 0..repeats {
            record(&mut b)?;
        }
        if let Some(times) = b.submit()? {
            if times.len() == repeats && times.iter().all(|(_, t)| *t > 0.0) {
                let samples = times.into_iter().map(|(_, t)| t).collect();
                return Ok(Timing::from_samples(samples, "gpu-timestamps"));
            }
        }
    }
    let mut samples = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let mut b = Batch::new(gpu);
        record(&mut b)?;
        let start = std::time::Instant::now();
        b.submit()?;
        samples.push(start.elapsed().as_secs_f64());
    }
    Ok(Timing::from_samples(samples, "host"))
}
