//! The GPU context: adapter choice, device with the optional features we use, and
//! the per-device caches of compiled shaders and pipelines.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context as _, Result};

use super::adapter::{backends_from_env, choose_adapter, env_value};
use super::error::GpuError;
use super::kernel::{Kernel, PipelineKey, Shader, ShaderModuleEntry};
use super::profile::{profile_requested, Profile};

/// Optional features we ask for when the adapter has them. None is required:
/// every path has a fallback (host timing, f32 spectra, no subgroup ops).
pub const OPTIONAL_FEATURES: &[(wgpu::Features, &str)] = &[
    (wgpu::Features::TIMESTAMP_QUERY, "TIMESTAMP_QUERY"),
    (
        wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES,
        "TIMESTAMP_QUERY_INSIDE_PASSES",
    ),
    (wgpu::Features::SHADER_F64, "SHADER_F64"),
    (wgpu::Features::SUBGROUP, "SUBGROUP"),
];

/// How to pick an adapter.
#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    /// The adapter's number in `wideprobe info` ("1" or "#1"), else a case-insensitive
    /// substring of its name or driver, or a backend name (e.g. "vulkan").
    /// `None` falls back to `$WIDEPROBE_ADAPTER`, then to the high-performance default.
    pub adapter: Option<String>,
}

/// What `wideprobe info` prints about one adapter.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AdapterSummary {
    pub index: usize,
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
    /// Names of the entries of [`OPTIONAL_FEATURES`] the adapter has.
    pub features: Vec<String>,
    pub max_storage_buffer_binding_size: u64,
    pub max_buffer_size: u64,
    pub max_compute_workgroup_storage_size: u32,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroups_per_dimension: u32,
    pub subgroup_min_size: u32,
    pub subgroup_max_size: u32,
}

impl AdapterSummary {
    /// Whether the adapter runs on the CPU (lavapipe, llvmpipe, WARP): one memory and a
    /// few cores shared with the host.
    pub fn is_cpu(&self) -> bool {
        self.device_type.eq_ignore_ascii_case("cpu")
    }

    fn new(index: usize, adapter: &wgpu::Adapter) -> Self {
        let info = adapter.get_info();
        let limits = adapter.limits();
        let features = adapter.features();
        AdapterSummary {
            index,
            name: info.name,
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: info.driver,
            driver_info: info.driver_info,
            features: OPTIONAL_FEATURES
                .iter()
                .filter(|(f, _)| features.contains(*f))
                .map(|(_, name)| name.to_string())
                .collect(),
            max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
            max_buffer_size: limits.max_buffer_size,
            max_compute_workgroup_storage_size: limits.max_compute_workgroup_storage_size,
            max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
            max_compute_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
            subgroup_min_size: info.subgroup_min_size,
            subgroup_max_size: info.subgroup_max_size,
        }
    }
}

/// An instance on `backends` (WGPU_BACKEND, checked); the other WGPU_* variables apply.
fn instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    descriptor.backends = backends;
    wgpu::Instance::new(descriptor)
}

fn all_adapters(instance: &wgpu::Instance, backends: wgpu::Backends) -> Vec<wgpu::Adapter> {
    pollster::block_on(instance.enumerate_adapters(backends))
}

/// Every adapter wgpu can see, in enumeration order (the numbers `--adapter N` takes).
/// Empty when WGPU_BACKEND is invalid: [`Gpu::new`] says why.
pub fn list_adapters() -> Vec<AdapterSummary> {
    let Ok(backends) = backends_from_env() else {
        return Vec::new();
    };
    all_adapters(&instance(backends), backends)
        .iter()
        .enumerate()
        .map(|(i, a)| AdapterSummary::new(i, a))
        .collect()
}

/// The adapter preference that applies: the explicit option, else `$WIDEPROBE_ADAPTER`.
pub fn adapter_preference(options: &GpuOptions) -> Option<String> {
    options
        .adapter
        .clone()
        .or_else(|| env_value("WIDEPROBE_ADAPTER"))
        .filter(|s| !s.trim().is_empty())
}

/// One device and queue, with caches of compiled shader modules and pipelines.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: wgpu::Adapter,
    pub summary: AdapterSummary,
    features: wgpu::Features,
    limits: wgpu::Limits,
    modules: Mutex<HashMap<&'static str, Arc<ShaderModuleEntry>>>,
    pipelines: Mutex<HashMap<PipelineKey, Arc<Kernel>>>,
    /// Per-kernel GPU time of every pass, when `WIDEPROBE_PROFILE` asks for it and the
    /// adapter has timestamps; printed to stderr on drop.
    pub(super) profile: Option<Profile>,
    submissions: AtomicUsize,
    readbacks: AtomicUsize,
    /// What [`Gpu::once`] has done.
    done_once: Mutex<HashSet<String>>,
}

/// How often the host has waited on a device ([`Gpu::traffic`]): batches of compute
/// work submitted ([`crate::gpu::Batch::submit`]) and buffers mapped back to the host
/// (each tensor download, each read of GPU timestamps). Tests compare two snapshots to
/// check that a piece of work costs a bounded number of round trips.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    pub submissions: usize,
    pub readbacks: usize,
}

impl std::ops::Sub for Traffic {
    type Output = Traffic;
    fn sub(self, earlier: Traffic) -> Traffic {
        Traffic {
            submissions: self.submissions - earlier.submissions,
            readbacks: self.readbacks - earlier.readbacks,
        }
    }
}

impl Gpu {
    /// Opens the adapter chosen by `options` (see [`GpuOptions`]).
    pub fn new(options: &GpuOptions) -> Result<Gpu> {
        let backends = backends_from_env()?;
        let instance = instance(backends);
        let adapters = all_adapters(&instance, backends);
        if adapters.is_empty() {
            return Err(GpuError::NoAdapter.into());
        }
        let summaries: Vec<AdapterSummary> = adapters
            .iter()
            .enumerate()
            .map(|(i, a)| AdapterSummary::new(i, a))
            .collect();
        let chosen = match adapter_preference(options) {
            Some(wanted) => choose_adapter(&wanted, &summaries)?,
            None => default_adapter_index(&instance, &adapters),
        };
        let adapter = adapters.into_iter().nth(chosen).expect("index in range");
        Self::open(adapter, summaries[chosen].clone())
    }

    /// The adapter from `$WIDEPROBE_ADAPTER`, else the default.
    pub fn from_env() -> Result<Gpu> {
        Self::new(&GpuOptions::default())
    }

    fn open(adapter: wgpu::Adapter, summary: AdapterSummary) -> Result<Gpu> {
        let available = adapter.features();
        let features = OPTIONAL_FEATURES
            .iter()
            .map(|(f, _)| *f)
            .filter(|f| available.contains(*f))
            .fold(wgpu::Features::empty(), |acc, f| acc | f);
        // The adapter's own limits: the defaults would cap storage bindings at 128 MiB
        // and workgroup memory at 16 KiB even on an H100.
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("wideprobe"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .with_context(|| format!("could not open a device on adapter {}", summary.name))?;
        let profile = profile_requested().then(Profile::default);
        if profile.is_some() && !features.contains(wgpu::Features::TIMESTAMP_QUERY) {
            eprintln!(
                "WIDEPROBE_PROFILE: {} has no TIMESTAMP_QUERY, so no GPU profile is kept",
                summary.name
            );
        }
        let profile = profile.filter(|_| features.contains(wgpu::Features::TIMESTAMP_QUERY));
        Ok(Gpu {
            device,
            queue,
            adapter,
            summary,
            features,
            limits,
            modules: Mutex::new(HashMap::new()),
            pipelines: Mutex::new(HashMap::new()),
            profile,
            submissions: AtomicUsize::new(0),
            readbacks: AtomicUsize::new(0),
            done_once: Mutex::new(HashSet::new()),
        })
    }

    pub fn features(&self) -> wgpu::Features {
        self.features
    }

    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    pub fn has_f64(&self) -> bool {
        self.features.contains(wgpu::Features::SHADER_F64)
    }

    pub fn has_timestamps(&self) -> bool {
        self.features.contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// The largest buffer a kernel can bind: the smaller of the binding and buffer limits.
    pub fn max_binding_bytes(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
    }

    /// Checks that a buffer of `bytes` can be bound by a kernel.
    pub fn check_binding_size(&self, what: &str, bytes: u64) -> Result<()> {
        let limit = self.max_binding_bytes();
        if bytes > limit {
            return Err(GpuError::TooLarge {
                what: what.to_string(),
                bytes,
                limit,
                adapter: self.summary.name.clone(),
            }
            .into());
        }
        Ok(())
    }

    /// Runs `work`, named `what`, unless it has already succeeded on this device: for
    /// work done once per device, such as launching kernels once so that a CPU driver
    /// compiles them before a timed solve. A failure is returned and leaves it undone.
    /// Two threads asking at once may both run it.
    pub fn once(&self, what: &str, work: impl FnOnce() -> Result<()>) -> Result<()> {
        if self.done_once.lock().unwrap().contains(what) {
            return Ok(());
        }
        work()?;
        self.done_once.lock().unwrap().insert(what.to_string());
        Ok(())
    }

    /// Submissions and readbacks on this device so far (every thread's).
    pub fn traffic(&self) -> Traffic {
        Traffic {
            submissions: self.submissions.load(Ordering::Relaxed),
            readbacks: self.readbacks.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn count_submission(&self) {
        self.submissions.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_readback(&self) {
        self.readbacks.fetch_add(1, Ordering::Relaxed);
    }

    /// Blocks until all submitted work is done.
    pub fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| anyhow::anyhow!("waiting for the GPU failed: {e}"))?;
        Ok(())
    }

    /// An error naming the device features `shader` needs and this adapter lacks, if any.
    pub fn require_features(&self, shader: &Shader) -> Result<()> {
        if !self.features.contains(shader.features) {
            bail!(GpuError::MissingFeature {
                shader: shader.name,
                feature: format!("{:?}", shader.features - self.features),
                adapter: self.summary.name.clone(),
            });
        }
        Ok(())
    }

    /// The compiled pipeline for `entry` of `shader` with the given override constants,
    /// built on first use and cached for the life of the device.
    pub fn kernel(
        &self, shader: &'static Shader, entry: &str, overrides: &[(&str, f64)],
    ) -> Result<Arc<Kernel>> {
        let key = PipelineKey::new(shader.name, entry, overrides);
        if let Some(k) = self.pipelines.lock().unwrap().get(&key) {
            return Ok(k.clone());
        }
        self.require_features(shader)?;
        let module = self.module(shader)?;
        let kernel = Arc::new(Kernel::build(&self.device, &module, entry, overrides)?);
        self.pipelines.lock().unwrap().insert(key, kernel.clone());
        Ok(kernel)
    }

    fn module(&self, shader: &'static Shader) -> Result<Arc<ShaderModuleEntry>> {
        if let Some(m) = self.modules.lock().unwrap().get(shader.name) {
            return Ok(m.clone());
        }
        let entry = Arc::new(ShaderModuleEntry::compile(&self.device, shader)?);
        self.modules
            .lock()
            .unwrap()
            .insert(shader.name, entry.clone());
        Ok(entry)
    }
}

/// wgpu's own high-performance choice, mapped back to an enumeration index; the first
/// adapter when that fails (e.g. a CPU-only machine where nothing is "high performance").
fn default_adapter_index(instance: &wgpu::Instance, adapters: &[wgpu::Adapter]) -> usize {
    let preferred = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        force_fallback_adapter: false,
        compatible_surface: None,
        apply_limit_buckets: false,
    }));
    if let Ok(p) = preferred {
        let info = p.get_info();
        if let Some(i) = adapters.iter().position(|a| {
            let ai = a.get_info();
            ai.name == info.name && ai.backend == info.backend && ai.device == info.device
        }) {
            return i;
        }
    }
    // Prefer real GPUs over CPU rasterisers, then Vulkan over GL.
    let rank = |a: &wgpu::Adapter| {
        let info = a.get_info();
        let device = match info.device_type {
            wgpu::DeviceType::DiscreteGpu => 0,
            wgpu::DeviceType::IntegratedGpu => 1,
            wgpu::DeviceType::VirtualGpu => 2,
            wgpu::DeviceType::Other => 3,
            wgpu::DeviceType::Cpu => 4,
        };
        let backend = if info.backend == wgpu::Backend::Gl {
            1
        } else {
            0
        };
        (device, backend)
    };
    (0..adapters.len())
        .min_by_key(|&i| rank(&adapters[i]))
        .unwrap_or(0)
}

impl Drop for Gpu {
    fn drop(&mut self) {
        if let Some(profile) = &self.profile {
            eprint!("{profile}");
        }
    }
}
