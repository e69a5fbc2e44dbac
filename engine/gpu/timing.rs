//! GPU timing with timestamp queries: one begin/end pair around each compute pass.

use anyhow::Result;

use super::context::Gpu;
use super::readback::read_mapped;

/// Passes one timer can time: wgpu's 4096 queries per query set, two per pass.
pub const MAX_TIMED_PASSES: u32 = 2048;

pub struct GpuTimer {
    queries: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
    labels: Vec<String>,
    capacity: u32,
}

impl GpuTimer {
    /// `None` when the adapter has no timestamp queries: callers time on the host.
    pub fn new(gpu: &Gpu, max_passes: u32) -> Option<GpuTimer> {
        if !gpu.has_timestamps() || max_passes == 0 {
            return None;
        }
        // wgpu allows at most 4096 queries in one set: later passes go untimed, and
        // callers that need every pass timed see fewer times and fall back to the host.
        let max_passes = max_passes.min(MAX_TIMED_PASSES);
        let count = 2 * max_passes;
        let bytes = count as u64 * 8;
        Some(GpuTimer {
            queries: gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("wideprobe timer"),
                ty: wgpu::QueryType::Timestamp,
                count,
            }),
            resolve: gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("wideprobe timer resolve"),
                size: bytes,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            }),
            readback: gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("wideprobe timer readback"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            labels: Vec::new(),
            capacity: max_passes,
        })
    }

    /// Timestamp writes for the next pass; `None` once the capacity is used up.
    pub fn next_pass(&mut self, label: &str) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        let i = self.labels.len() as u32;
        if i >= self.capacity {
            return None;
        }
        self.labels.push(label.to_string());
        Some(wgpu::ComputePassTimestampWrites {
            query_set: &self.queries,
            beginning_of_pass_write_index: Some(2 * i),
            end_of_pass_write_index: Some(2 * i + 1),
        })
    }

    pub fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        let used = 2 * self.labels.len() as u32;
        if used == 0 {
            return;
        }
        encoder.resolve_query_set(&self.queries, 0..used, &self.resolve, 0);
        encoder.copy_buffer_to_buffer(&self.resolve, 0, &self.readback, 0, used as u64 * 8);
    }

    /// Seconds per timed pass, in order. Call after the batch has completed.
    pub fn read(self, gpu: &Gpu) -> Result<Vec<(String, f64)>> {
        if self.labels.is_empty() {
            return Ok(Vec::new());
        }
        let bytes = self.labels.len() as u64 * 16;
        let ticks: Vec<u64> = read_mapped(gpu, &self.readback, bytes)?;
        let period_ns = gpu.queue.get_timestamp_period() as f64;
        Ok(self
            .labels
            .into_iter()
            .enumerate()
            .map(|(i, label)| {
                let dt = ticks[2 * i + 1].wrapping_sub(ticks[2 * i]);
                (label, dt as f64 * period_ns * 1e-9)
            })
            .collect())
    }
}
