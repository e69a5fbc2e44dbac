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
#[derive(Clone, Debug, Serialize)]
pub struct FileProvenance {
    pub file: String,
    pub bytes: u64,
    pub records: usize,
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

fn read_batch(path: &Path, images: &mut Vec<u8>, labels: &mut Vec<u8>) -> Result<FileProvenance> {
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
    Ok(FileProvenance {
        file: path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
        bytes: bytes.len() as u64,
        records: bytes.len() / RECORD,
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
            let prov = read_batch(&p, &mut raw.train, &mut raw.train_labels)?;
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
        let prov = read_batch(&test, &mut raw.test, &mut raw.test_labels)?;
        raw.provenance.push(prov);
    }
    Ok(raw)
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
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?
        .join("wideprobe")
        .join("cifar-10-batches-bin");
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
        bail!("n = {n_train} examples requested but the {name} training set has {available}");
    }
    if n_test > raw.test_labels.len() {
        bail!(
            "n_test = {n_test} requested but the {name} test set has {}",
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
