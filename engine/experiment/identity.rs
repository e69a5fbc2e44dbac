//! A run's identity: everything that changes its numbers, and its fingerprint.
//!
//! The settings are the kind's keys without the grid (a run carries its own grid point,
//! so adding a grid value keeps the other runs), the common keys without the cosmetic
//! ones (`out`, `save_tensors`), the grid point, the precision that ran, the dataset
//! (name and the MD5 of every file read) and [`RESULT_FORMAT`]. A finished run is reused
//! only when the fingerprint of these settings matches today's.

use serde::Serialize;

use crate::data::Dataset;
use crate::io::fingerprint::fingerprint;
use crate::linalg::Precision;

use super::config::Common;

/// Version of the per-run results' format and meaning; bump it when a change of
/// wideprobe changes what a run computes, so that old results are recomputed.
/// 3: the two-stage reduction's panel kernels wrote zeros past a panel's last row, into
/// the next matrix of a stack, so that a run's spectra after its first layer could be
/// wrong where the reduction ran in two stages (CPU adapters, or
/// `WIDEPROBE_DENSE_REDUCTION=two-stage`) on orders n >= 128 with n mod 8 in {5, 6, 7}.
pub const RESULT_FORMAT: u32 = 3;

/// Keys of the common section that do not change a run's numbers.
const COSMETIC: &[&str] = &["out", "save_tensors"];

/// The dataset as far as the numbers are concerned.
pub fn data_identity(dataset: &Dataset) -> serde_json::Value {
    let files: Vec<serde_json::Value> = dataset
        .provenance
        .iter()
        .map(|p| serde_json::json!({ "file": p.file, "md5": p.md5 }))
        .collect();
    serde_json::json!({
        "name": dataset.name,
        "synthetic": dataset.synthetic,
        "files": files,
    })
}

/// The settings of one run (see the module doc).
pub fn run_settings(
    kind_name: &str, kind: &(impl Serialize + ?Sized), common: &Common, run: &impl Serialize,
    precision: Precision, data: &serde_json::Value,
) -> serde_json::Value {
    let mut kind_keys = serde_json::to_value(kind).unwrap_or_default();
    if let Some(map) = kind_keys.as_object_mut() {
        map.remove("grid");
    }
    let mut common_keys = serde_json::to_value(common).unwrap_or_default();
    if let Some(map) = common_keys.as_object_mut() {
        for key in COSMETIC {
            map.remove(*key);
        }
    }
    serde_json::json!({
        "result_format": RESULT_FORMAT,
        "kind": kind_name,
        "config": kind_keys,
        "common": common_keys,
        "run": serde_json::to_value(run).unwrap_or_default(),
        "precision": precision.name(),
        "data": data,
    })
}

pub fn settings_fingerprint(settings: &serde_json::Value) -> String {
    fingerprint(settings)
}

/// The top-level settings that differ between two settings objects, e.g.
/// `common.precision`, `config.epochs`, `data` (to tell the user why a run is recomputed).
pub fn changed_keys(old: &serde_json::Value, new: &serde_json::Value) -> Vec<String> {
    let mut changed = Vec::new();
    let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else {
        return vec!["(unreadable settings)".into()];
    };
    for (key, new_value) in new {
        let old_value = old.get(key);
        match (old_value.and_then(|v| v.as_object()), new_value.as_object()) {
            (Some(o), Some(n)) if key != "run" && key != "data" => {
                let keys: std::collections::BTreeSet<&String> = o.keys().chain(n.keys()).collect();
                for k in keys {
                    if o.get(k) != n.get(k) {
                        changed.push(format!("{key}.{k}"));
                    }
                }
            }
            _ if old_value != Some(new_value) => changed.push(key.clone()),
            _ => {}
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(precision: Precision, gain: Option<f64>, out: &str) -> serde_json::Value {
        let common = Common {
            gain,
            out: Some(out.into()),
            ..Default::default()
        };
        run_settings(
            "conditioning_at_init",
            &serde_json::json!({"kind": "conditioning_at_init", "grid": {"width": [1, 2]}, "infinite_width": true}),
            &common,
            &serde_json::json!({"width": 1}),
            precision,
            &serde_json::json!({"name": "synthetic"}),
        )
    }

    #[test]
    fn settings_that_matter_change_the_fingerprint_and_cosmetic_ones_do_not() {
        let base = settings_fingerprint(&settings(Precision::F64, None, "a"));
        assert_eq!(
            base,
            settings_fingerprint(&settings(Precision::F64, None, "elsewhere"))
        );
        assert_ne!(
            base,
            settings_fingerprint(&settings(Precision::F32, None, "a"))
        );
        assert_ne!(
            base,
            settings_fingerprint(&settings(Precision::F64, Some(2.0), "a"))
        );
    }

    #[test]
    fn changed_keys_name_what_differs() {
        let a = settings(Precision::F64, None, "a");
        let b = settings(Precision::F32, Some(2.0), "a");
        assert_eq!(changed_keys(&a, &b), vec!["common.gain", "precision"]);
    }
}
