//! `wideprobe info`: the adapters, their features and limits, and the one used.

use std::fmt;

use anyhow::Result;

use wideprobe::gpu::{list_adapters, AdapterSummary, Gpu, GpuOptions};

use super::output::{emit, emit_json};

/// What `info` prints: every adapter, which one is used and why.
struct AdapterReport {
    adapters: Vec<AdapterSummary>,
    chosen: usize,
    chosen_name: String,
    why: String,
    has_f64: bool,
}

/// One adapter's block of `info`, starred when it is the one used.
struct AdapterLines<'a> {
    summary: &'a AdapterSummary,
    chosen: bool,
}

impl fmt::Display for AdapterLines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.summary;
        let mib = |b: u64| b as f64 / 1048576.0;
        let star = if self.chosen { "*" } else { " " };
        writeln!(
            f,
            "{star} [{}] {}  ({}, {})",
            s.index, s.name, s.backend, s.device_type
        )?;
        writeln!(f, "      driver: {} {}", s.driver, s.driver_info)?;
        let features = if s.features.is_empty() {
            "none of the optional ones".to_string()
        } else {
            s.features.join(", ")
        };
        writeln!(f, "      features: {features}")?;
        writeln!(
            f,
            "      limits: storage binding {:.0} MiB, buffer {:.0} MiB, workgroup memory {} KiB, \
             {} invocations/workgroup, {} workgroups/dimension, subgroup size {}..{}",
            mib(s.max_storage_buffer_binding_size),
            mib(s.max_buffer_size),
            s.max_compute_workgroup_storage_size / 1024,
            s.max_compute_invocations_per_workgroup,
            s.max_compute_workgroups_per_dimension,
            s.subgroup_min_size,
            s.subgroup_max_size
        )
    }
}

impl fmt::Display for AdapterReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} adapter(s):", self.adapters.len())?;
        for summary in &self.adapters {
            let chosen = summary.index == self.chosen;
            write!(f, "{}", AdapterLines { summary, chosen })?;
        }
        writeln!(
            f,
            "using [{}] {} ({})",
            self.chosen, self.chosen_name, self.why
        )?;
        let precision = if self.has_f64 {
            "f64 (SHADER_F64)"
        } else {
            "f32 only (no SHADER_F64)"
        };
        writeln!(f, "spectral precision available: {precision}")
    }
}

pub fn info(options: &GpuOptions, json: bool) -> Result<()> {
    let adapters = list_adapters();
    let gpu = Gpu::new(options)?;
    let chosen = gpu.summary.index;
    if json {
        return emit_json(&serde_json::json!({ "adapters": adapters, "chosen": chosen }));
    }
    let why = match &options.adapter {
        Some(a) => format!("matches \"{a}\""),
        None => "default: high performance".to_string(),
    };
    emit(&AdapterReport {
        adapters,
        chosen,
        chosen_name: gpu.summary.name.clone(),
        why,
        has_f64: gpu.has_f64(),
    })
}
