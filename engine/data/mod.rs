//! Data (MEASUREMENTS.md §1): CIFAR-10 in its binary format, a synthetic stand-in,
//! seeded subsets and the preprocessing every run uses.

pub mod fetch;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// Pixels per image (3 channels of 32 x 32).
pub const D: usize = 3072;
const RECORD: usize = D + 1;

pub const CLASS_NAMES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetChoice {
    Cifar10,
    Synthetic,
    /// CIFAR-10 when found, else synthetic with a warning.
    #[default]
    Auto,
}

/// Per-example rescaling after standardisation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputNorm {
    /// ‖x_i‖ = sqrt(d): first-layer pre-activations N(0, 1) per coordinate.
    #[default]
    SqrtFanIn,
    Unit,
    None,
}

/// One data file read, with what is known of it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FileProvenance {
    pub file: String,
    pub bytes: u64,
    pub records: usize,
    pub md5: String,
    /// Whether the MD5 equals that of the official file of this name (None for
    /// names that are not official CIFAR-10 files).
    pub official: Option<bool>,
}

/// MD5 sums of the official CIFAR-10 binary files.
pub const OFFICIAL_MD5: [(&str, &str); 6] = [
    ("data_batch_1.bin", "5dd7e06a14cb22eb9f671a540d1b7c25"),
    ("data_batch_2.bin", "5ea93a67294ea407fff1d09f752e9692"),
    ("data_batch_3.bin", "942cd6a4bcdd0dd3c604fbe906cb4421"),
    ("data_batch_4.bin", "ae636b3ba5c66a11e91e8cb52e771fcb"),
    ("data_batch_5.bin", "53f37980c15c3d472c316c40844f3f0d"),
    ("test_batch.bin", "803d5f7f4d78ea53de84dbe85f74fb6d"),
];

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where MD5 sums are cached: the data folder when writable, else the user cache.
fn md5_cache_paths(dir: &Path) -> Vec<PathBuf> {
    let mut paths = vec![dir.join(".wideprobe-md5.json")];
    if let Some(cache) = user_cache_dir() {
        let key = md5_hex(dir.to_string_lossy().as_bytes());
        paths.push(cache.join(format!("md5-{key}.json")));
    }
    paths
}

/// Cached MD5 entries: file name -> (size, modification time in ns, md5).
type Md5Cache = std::collections::BTreeMap<String, (u64, u128, String)>;

fn modified_ns(path: &Path) -> u128 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// The MD5 of a file's `bytes`, from the cache when its size and mtime match; computed
/// and stored otherwise. A cache that cannot be written is not an error.
fn cached_md5(dir: &Path, path: &Path, bytes: &[u8]) -> String {
    let name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let stamp = (bytes.len() as u64, modified_ns(path));
    let caches = md5_cache_paths(dir);
    for c in &caches {
        if let Some(entry) = std::fs::read_to_string(c)
            .ok()
            .and_then(|t| serde_json::from_str::<Md5Cache>(&t).ok())
            .and_then(|m| m.get(&name).cloned())
        {
            if (entry.0, entry.1) == stamp {
                return entry.2;
            }
        }
    }
    let md5 = md5_hex(bytes);
    for c in &caches {
        let mut map: Md5Cache = std::fs::read_to_string(c)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        map.insert(name.clone(), (stamp.0, stamp.1, md5.clone()));
        let written = c
            .parent()
            .is_some_and(|p| std::fs::create_dir_all(p).is_ok())
            && serde_json::to_string(&map).is_ok_and(|t| std::fs::write(c, t).is_ok());
        if written {
            break;
        }
    }
    md5
}

/// Preprocessed examples of one run.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// n x d, row-major.
    pub x_train: Vec<f32>,
    pub y_train: Vec<u8>,
    pub x_test: Vec<f32>,
    pub y_test: Vec<u8>,
    pub d: usize,
    pub train_indices: Vec<usize>,
    pub test_indices: Vec<usize>,
    /// "cifar10" or "synthetic".
    pub name: String,
    pub synthetic: bool,
    pub warnings: Vec<String>,
    pub provenance: Vec<FileProvenance>,
    pub channel_mean: [f64; 3],
    pub channel_std: [f64; 3],
}

/// Raw images (bytes) and labels.
struct Raw {
    train: Vec<u8>,
    train_labels: Vec<u8>,
    test: Vec<u8>,
    test_labels: Vec<u8>,
    provenance: Vec<FileProvenance>,
}

fn read_batch(
    dir: &Path,
    path: &Path,
    images: &mut Vec<u8>,
    labels: &mut Vec<u8>,
) -> Result<FileProvenance> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() % RECORD != 0 {
        bail!(
            "{}: {} bytes is not a whole number of 3073-byte records (truncated download?): fetch the data again",
            path.display(),
            bytes.len()
        );
    }
    for (i, record) in bytes.chunks_exact(RECORD).enumerate() {
        if record[0] > 9 {
            bail!(
                "{}: record {i} has label {}, outside 0..9: not a CIFAR-10 file",
                path.display(),
                record[0]
            );
        }
        labels.push(record[0]);
        images.extend_from_slice(&record[1..]);
    }
    let file = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let md5 = cached_md5(dir, path, &bytes);
    let official = OFFICIAL_MD5
        .iter()
        .find(|(name, _)| *name == file)
        .map(|(_, sum)| *sum == md5);
    Ok(FileProvenance {
        file,
        bytes: bytes.len() as u64,
        records: bytes.len() / RECORD,
        md5,
        official,
    })
}

fn read_cifar(dir: &Path) -> Result<Raw> {
    if !dir.is_dir() {
        bail!(
            "CIFAR-10 directory {} does not exist: set data_dir in the config or WIDEPROBE_DATA to a folder with \
             data_batch_1.bin ... test_batch.bin (the official binary version)",
            dir.display()
        );
    }
    let mut raw = Raw {
        train: Vec::new(),
        train_labels: Vec::new(),
        test: Vec::new(),
        test_labels: Vec::new(),
        provenance: Vec::new(),
    };
    for b in 1..=5 {
        let p = dir.join(format!("data_batch_{b}.bin"));
        if p.exists() {
            let prov = read_batch(dir, &p, &mut raw.train, &mut raw.train_labels)?;
            raw.provenance.push(prov);
        }
    }
    if raw.train_labels.is_empty() {
        bail!(
            "{} holds no data_batch_N.bin: it is not a CIFAR-10 binary directory",
            dir.display()
        );
    }
    let test = dir.join("test_batch.bin");
    if test.exists() {
        let prov = read_batch(dir, &test, &mut raw.test, &mut raw.test_labels)?;
        raw.provenance.push(prov);
    }
    Ok(raw)
}

/// wideprobe's folder in the user cache: `$XDG_CACHE_HOME/wideprobe`, else
/// `~/.cache/wideprobe`.
pub fn user_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|d| !d.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })
        .map(|c| c.join("wideprobe"))
}

/// Where CIFAR-10 is: the config's `data_dir`, else `$WIDEPROBE_DATA`, else the cache.
pub fn resolve_data_dir(config_dir: Option<&Path>) -> Option<PathBuf> {
    if let Some(d) = config_dir {
        return Some(d.to_path_buf());
    }
    if let Ok(d) = std::env::var("WIDEPROBE_DATA") {
        if !d.is_empty() {
            return Some(PathBuf::from(d));
        }
    }
    let cache = user_cache_dir()?.join(fetch::ARCHIVE_DIR);
    cache.is_dir().then_some(cache)
}

/// Gaussian classes in d = 3072: ten class means, examples = mean + noise, as bytes
/// so that they go through the same preprocessing as images.
fn synthetic(n_train: usize, n_test: usize, seed: u64) -> Raw {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5157_4e54);
    let means: Vec<Vec<f64>> = (0..10)
        .map(|_| (0..D).map(|_| StandardNormal.sample(&mut rng)).collect())
        .collect();
    let mut make = |count: usize| {
        let mut images = Vec::with_capacity(count * D);
        let mut labels = Vec::with_capacity(count);
        for i in 0..count {
            let c = i % 10;
            labels.push(c as u8);
            for mean in &means[c] {
                let noise: f64 = StandardNormal.sample(&mut rng);
                images.push((128.0 + 30.0 * (mean + noise)).clamp(0.0, 255.0) as u8);
            }
        }
        (images, labels)
    };
    let (train, train_labels) = make(n_train);
    let (test, test_labels) = make(n_test);
    Raw {
        train,
        train_labels,
        test,
        test_labels,
        provenance: Vec::new(),
    }
}

/// Loads `n_train` training and `n_test` test examples drawn with `seed`, preprocessed.
pub fn load_dataset(
    choice: DatasetChoice,
    data_dir: Option<&Path>,
    input_norm: InputNorm,
    n_train: usize,
    n_test: usize,
    seed: u64,
) -> Result<Dataset> {
    let mut warnings = Vec::new();
    let (raw, name) = match choice {
        DatasetChoice::Synthetic => (synthetic(n_train, n_test, seed), "synthetic"),
        DatasetChoice::Cifar10 => {
            let dir = resolve_data_dir(data_dir).with_context(|| {
                "dataset: cifar10 but no CIFAR-10 found: set data_dir in the config or WIDEPROBE_DATA to a folder \
                 with the official binary files (data_batch_1.bin ... test_batch.bin)"
                    .to_string()
            })?;
            (read_cifar(&dir)?, "cifar10")
        }
        DatasetChoice::Auto => match resolve_data_dir(data_dir).filter(|d| d.is_dir()) {
            Some(dir) => (read_cifar(&dir)?, "cifar10"),
            None => {
                warnings.push(
                    "no CIFAR-10 found (data_dir, WIDEPROBE_DATA, cache): using a SYNTHETIC dataset; outputs are labelled synthetic"
                        .to_string(),
                );
                (synthetic(n_train, n_test, seed), "synthetic")
            }
        },
    };
    let available = raw.train_labels.len();
    if n_train > available {
        bail!(
            "n = {n_train} examples requested but the {name} training set has {available}: \
             use a smaller n, or add the other batches (wideprobe data fetch gets all 50,000)"
        );
    }
    if n_test > raw.test_labels.len() {
        bail!(
            "n_test = {n_test} requested but the {name} test set has {}: use a smaller n_test, \
             or fetch the full test set (wideprobe data fetch)",
            raw.test_labels.len()
        );
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let train_indices: Vec<usize> = sample(&mut rng, available, n_train).into_vec();
    let test_indices: Vec<usize> = sample(&mut rng, raw.test_labels.len(), n_test).into_vec();

    // Channel statistics of the drawn training subset (population std), in f64.
    let mut sum = [0.0f64; 3];
    let mut sum_sq = [0.0f64; 3];
    for &i in &train_indices {
        for c in 0..3 {
            for &p in &raw.train[i * D + c * 1024..i * D + (c + 1) * 1024] {
                let v = p as f64 / 255.0;
                sum[c] += v;
                sum_sq[c] += v * v;
            }
        }
    }
    let count = (n_train * 1024).max(1) as f64;
    let mean = sum.map(|s| s / count);
    let mut std = [0.0; 3];
    for c in 0..3 {
        std[c] = (sum_sq[c] / count - mean[c] * mean[c]).max(0.0).sqrt();
        if std[c] == 0.0 {
            std[c] = 1.0; // a constant channel: centring is all that is possible
        }
    }
    let prepare = |images: &[u8], indices: &[usize], split: &str| -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(indices.len() * D);
        for (k, &i) in indices.iter().enumerate() {
            let mut x: Vec<f64> = (0..D)
                .map(|j| {
                    let c = j / 1024;
                    (images[i * D + j] as f64 / 255.0 - mean[c]) / std[c]
                })
                .collect();
            let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
            let target = match input_norm {
                InputNorm::SqrtFanIn => Some((D as f64).sqrt()),
                InputNorm::Unit => Some(1.0),
                InputNorm::None => None,
            };
            if let Some(t) = target {
                if norm == 0.0 {
                    bail!("{split} example {k} (record {i}) is zero after centring: it cannot be normalised");
                }
                x.iter_mut().for_each(|v| *v *= t / norm);
            }
            out.extend(x.into_iter().map(|v| v as f32));
        }
        Ok(out)
    };
    Ok(Dataset {
        x_train: prepare(&raw.train, &train_indices, "training")?,
        y_train: train_indices.iter().map(|&i| raw.train_labels[i]).collect(),
        x_test: prepare(&raw.test, &test_indices, "test")?,
        y_test: test_indices.iter().map(|&i| raw.test_labels[i]).collect(),
        d: D,
        train_indices,
        test_indices,
        name: name.to_string(),
        synthetic: name == "synthetic",
        warnings,
        provenance: raw.provenance,
        channel_mean: mean,
        channel_std: std,
    })
}
