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

/// Times `repeats` launches recorded by `record`, after `warmup` untimed ones (at least one,
/// which also counts the passes a launch records). A launch
/// that `record` records as several compute passes (a deep or split product) is timed
/// as the sum of its passes.
pub fn time_launches(
    gpu: &Gpu, warmup: usize, repeats: usize, mut record: impl FnMut(&mut Batch) -> Result<()>,
) -> Result<Timing> {
    let repeats = repeats.max(1);
    let mut passes = 0;
    for _ in 0..warmup.max(1) {
        let mut b = Batch::new(gpu);
        record(&mut b)?;
        passes = b.passes();
        b.submit()?;
    }
    if gpu.has_timestamps() && passes > 0 {
        let mut b = Batch::timed(gpu, (repeats * passes) as u32);
        for _ in 0..repeats {
            record(&mut b)?;
        }
        if let Some(times) = b.submit()? {
            if times.len() == repeats * passes && times.iter().all(|(_, t)| *t > 0.0) {
                let samples = times
                    .chunks(passes)
                    .map(|launch| launch.iter().map(|(_, t)| t).sum())
                    .collect();
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
