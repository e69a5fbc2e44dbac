//! Which adapter to open, and on which backends to look for it.
//!
//! `--adapter N` or `#N` is the Nth adapter as numbered by `wideprobe info`; anything
//! else is a name substring. Numbers are never matched as substrings: "1" would match a
//! driver version such as "15.0.6" and make identical GPUs impossible to tell apart.
//! `WGPU_BACKEND` is checked here because wgpu silently drops unknown names, and an
//! empty backend set reads as "no GPU adapter found: install a driver".

use thiserror::Error;

use super::context::AdapterSummary;

/// What an environment variable that overrides a per-device choice (for benchmarks
/// comparing two ways on one device) asks for: `value` unset, empty or `auto` gives
/// `for_cpu` on a CPU adapter and `for_gpu` on others; a name of `named` gives its
/// value; anything else is an error naming the variable and the names it takes.
pub fn device_choice<T: Copy>(
    variable: &str, value: Option<&str>, is_cpu: bool, (for_cpu, for_gpu): (T, T),
    named: &[(&str, T)],
) -> anyhow::Result<T> {
    match value {
        None | Some("" | "auto") => Ok(if is_cpu { for_cpu } else { for_gpu }),
        Some(name) => match named.iter().find(|(n, _)| *n == name) {
            Some(&(_, chosen)) => Ok(chosen),
            None => {
                let names: Vec<&str> = named.iter().map(|(n, _)| *n).collect();
                anyhow::bail!(
                    "{variable}={name} is not a choice: use auto, {} (or leave it unset)",
                    names.join(" or ")
                )
            }
        },
    }
}

/// The value of the environment variable `variable`, `None` when unset. A value that is
/// not UTF-8 is kept (lossily), so that the choice it names is refused with the usual
/// message instead of passing for unset.
pub fn env_value(variable: &str) -> Option<String> {
    std::env::var_os(variable).map(|v| v.to_string_lossy().into_owned())
}

/// Every backend name wgpu accepts in `WGPU_BACKEND` (`Backends::from_comma_list`).
pub const BACKEND_NAMES: [(&str, wgpu::Backends); 11] = [
    ("vulkan", wgpu::Backends::VULKAN),
    ("vk", wgpu::Backends::VULKAN),
    ("dx12", wgpu::Backends::DX12),
    ("d3d12", wgpu::Backends::DX12),
    ("metal", wgpu::Backends::METAL),
    ("mtl", wgpu::Backends::METAL),
    ("opengl", wgpu::Backends::GL),
    ("gles", wgpu::Backends::GL),
    ("gl", wgpu::Backends::GL),
    ("webgpu", wgpu::Backends::BROWSER_WEBGPU),
    ("noop", wgpu::Backends::NOOP),
];

/// Adapter choices a user can fix; each message names the problem and the fix.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AdapterError {
    #[error(
        "WGPU_BACKEND=\"{given}\" is not a backend list: {problem}. Valid names: {valid} \
         (several separated by commas, e.g. \"vulkan,gl\"); or unset WGPU_BACKEND to try them all"
    )]
    BadBackend {
        given: String,
        problem: String,
        valid: String,
    },

    #[error(
        "adapter #{index} (from --adapter or WIDEPROBE_ADAPTER) does not exist: there are {count} \
         adapter(s): {available}. Use one of these numbers (as `wideprobe info` lists them) or a name"
    )]
    IndexOutOfRange {
        index: usize,
        count: usize,
        available: String,
    },
}

/// The backends a `WGPU_BACKEND` value names; an error for empty or unknown names.
pub fn parse_backends(value: &str) -> Result<wgpu::Backends, AdapterError> {
    let bad = |problem: String| AdapterError::BadBackend {
        given: value.to_string(),
        problem,
        valid: BACKEND_NAMES.map(|(n, _)| n).join(", "),
    };
    if value.trim().is_empty() {
        return Err(bad("it is empty".to_string()));
    }
    let mut backends = wgpu::Backends::empty();
    for name in value.split(',') {
        let name = name.trim().to_lowercase();
        match BACKEND_NAMES.iter().find(|(n, _)| *n == name) {
            Some((_, b)) => backends |= *b,
            None if name.is_empty() => return Err(bad("it holds an empty name".to_string())),
            None => return Err(bad(format!("\"{name}\" is not a backend"))),
        }
    }
    Ok(backends)
}

/// The backends to enumerate: `WGPU_BACKEND` when set (checked), else all.
pub fn backends_from_env() -> Result<wgpu::Backends, AdapterError> {
    match std::env::var("WGPU_BACKEND") {
        Ok(value) => parse_backends(&value),
        Err(std::env::VarError::NotPresent) => Ok(wgpu::Backends::all()),
        Err(std::env::VarError::NotUnicode(raw)) => parse_backends(&raw.to_string_lossy()),
    }
}

/// What `--adapter` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdapterWanted {
    /// The position in `wideprobe info`'s list: "1" or "#1".
    Index(usize),
    /// A case-insensitive substring of the name or driver, or a backend name.
    Name(String),
}

impl AdapterWanted {
    pub fn parse(wanted: &str) -> Self {
        let trimmed = wanted.trim();
        let digits = trimmed.strip_prefix('#').unwrap_or(trimmed).trim();
        match digits.parse::<usize>() {
            Ok(i) if digits.bytes().all(|b| b.is_ascii_digit()) => AdapterWanted::Index(i),
            _ => AdapterWanted::Name(trimmed.to_string()),
        }
    }
}

/// The index in `adapters` of the adapter `wanted` names (see [`AdapterWanted`]).
pub fn choose_adapter(wanted: &str, adapters: &[AdapterSummary]) -> anyhow::Result<usize> {
    let available = adapters
        .iter()
        .map(|s| format!("[{}] {} ({})", s.index, s.name, s.backend))
        .collect::<Vec<_>>()
        .join(", ");
    match AdapterWanted::parse(wanted) {
        AdapterWanted::Index(index) => {
            adapters
                .iter()
                .position(|s| s.index == index)
                .ok_or_else(|| {
                    AdapterError::IndexOutOfRange {
                        index,
                        count: adapters.len(),
                        available,
                    }
                    .into()
                })
        }
        AdapterWanted::Name(name) => adapters
            .iter()
            .position(|s| name_matches(s, &name))
            .ok_or_else(|| {
                super::GpuError::AdapterNotFound {
                    wanted: name,
                    available,
                }
                .into()
            }),
    }
}

fn name_matches(adapter: &AdapterSummary, wanted: &str) -> bool {
    let wanted = wanted.to_lowercase();
    adapter.name.to_lowercase().contains(&wanted)
        || adapter.backend.to_lowercase() == wanted
        || adapter.driver.to_lowercase().contains(&wanted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_error_names;

    fn adapter(index: usize, name: &str, backend: &str, driver: &str) -> AdapterSummary {
        AdapterSummary {
            index,
            name: name.to_string(),
            backend: backend.to_string(),
            device_type: "DiscreteGpu".to_string(),
            driver: driver.to_string(),
            driver_info: "15.0.6".to_string(),
            features: Vec::new(),
            max_storage_buffer_binding_size: 0,
            max_buffer_size: 0,
            max_compute_workgroup_storage_size: 0,
            max_compute_invocations_per_workgroup: 0,
            max_compute_workgroups_per_dimension: 0,
            subgroup_min_size: 0,
            subgroup_max_size: 0,
        }
    }

    /// Two identical GPUs whose driver version contains every digit asked for below.
    fn twins() -> Vec<AdapterSummary> {
        vec![
            adapter(0, "NVIDIA H100", "Vulkan", "NVIDIA 15.0.6"),
            adapter(1, "NVIDIA H100", "Vulkan", "NVIDIA 15.0.6"),
            adapter(2, "llvmpipe (LLVM 15.0.6)", "Gl", "llvmpipe"),
        ]
    }

    #[test]
    fn a_number_is_the_index_info_prints_not_a_substring_of_the_driver_version() {
        let all = twins();
        for (given, index) in [("1", 1), ("#1", 1), (" # 2 ", 2), ("0", 0)] {
            assert_eq!(choose_adapter(given, &all).unwrap(), index, "{given:?}");
        }
    }

    #[test]
    fn a_name_substring_or_backend_still_selects() {
        let all = twins();
        for (given, index) in [("h100", 0), ("LLVMpipe", 2), ("gl", 2)] {
            assert_eq!(choose_adapter(given, &all).unwrap(), index, "{given:?}");
        }
        let err = choose_adapter("a100", &all).unwrap_err();
        assert!(
            matches!(
                err.downcast_ref::<super::super::GpuError>(),
                Some(super::super::GpuError::AdapterNotFound { .. })
            ),
            "{err}"
        );
    }

    #[test]
    fn an_index_out_of_range_lists_the_adapters() {
        let err = choose_adapter("#5", &twins()).unwrap_err();
        let typed = err.downcast_ref::<AdapterError>().expect("typed error");
        assert!(
            matches!(
                typed,
                AdapterError::IndexOutOfRange {
                    index: 5,
                    count: 3,
                    ..
                }
            ),
            "{typed}"
        );
        assert_error_names(
            Err::<(), _>(err),
            &["[1] NVIDIA H100 (Vulkan)", "[2] llvmpipe"],
        );
    }

    #[test]
    fn wgpu_backend_typos_and_empty_values_are_named() {
        assert_eq!(parse_backends("vulkan").unwrap(), wgpu::Backends::VULKAN);
        assert_eq!(
            parse_backends(" Vk , GL ").unwrap(),
            wgpu::Backends::VULKAN | wgpu::Backends::GL
        );
        for (given, problem) in [
            ("vulkn", "\"vulkn\" is not a backend"),
            ("", "empty"),
            ("  ", "empty"),
            ("vulkan,", "empty name"),
        ] {
            let text = parse_backends(given).unwrap_err().to_string();
            assert!(
                text.contains(&format!("WGPU_BACKEND=\"{given}\""))
                    && text.contains(problem)
                    && text.contains("vulkan, vk, dx12")
                    && !text.contains("driver"),
                "{text}"
            );
        }
    }
}
