//! Data (MEASUREMENTS.md §1): CIFAR-10 in its binary format, a synthetic stand-in,
//! seeded subsets and the preprocessing every run uses.

pub mod ensure;
pub mod fetch;
pub mod md5_cache;

pub use ensure::{ensure_cifar10, ensure_cifar10_from, DataPlan};

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

/// How far data files are trusted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Hash every file again instead of trusting the MD5 cache (`--verify-data`).
    pub verify_data: bool,
}

/// The metadata of `path` when it is a regular file (symlinks followed); `None` when
/// nothing is there. FIFOs, devices, sockets and folders are refused before any open:
/// reading a FIFO would block until a writer appears.
fn regular_file(path: &Path) -> Result<Option<std::fs::Metadata>> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot inspect {}", path.display())),
    };
    if !meta.is_file() {
        bail!(
            "{} is {}, not a regular file: replace it with the CIFAR-10 file of that name \
             (wideprobe data fetch downloads them)",
            path.display(),
            file_kind(&meta)
        );
    }
    Ok(Some(meta))
}

fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    if meta.is_dir() {
        "a folder"
    } else {
        "a special file"
    }
}

/// The bytes of the regular file `path` and its metadata, taken from the open handle
/// before reading (the MD5 cache's stamp), checked again in case it was swapped.
fn read_regular(path: &Path) -> Result<(Vec<u8>, std::fs::Metadata)> {
    use std::io::Read as _;
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let meta = file
        .metadata()
        .with_context(|| format!("cannot inspect {}", path.display()))?;
    if !meta.is_file() {
        bail!(
            "{} is {}, not a regular file: replace it with the CIFAR-10 file of that name",
            path.display(),
            file_kind(&meta)
        );
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok((bytes, meta))
}

fn read_batch(
    path: &Path, options: LoadOptions, images: &mut Vec<u8>, labels: &mut Vec<u8>,
) -> Result<FileProvenance> {
    let (bytes, meta) = read_regular(path)?;
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
    let cache = md5_cache::default_cache_file();
    let md5 = md5_cache::file_md5(cache.as_deref(), path, &meta, &bytes, options.verify_data);
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

fn read_cifar(dir: &Path, options: LoadOptions) -> Result<Raw> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(m) => bail!(
            "CIFAR-10 directory {} is {}, not a folder: set data_dir in the config or WIDEPROBE_DATA to the \
             folder that holds data_batch_1.bin ... test_batch.bin (the official binary version)",
            dir.display(),
            if m.is_file() { "a file" } else { file_kind(&m) }
        ),
        Err(_) => bail!(
            "CIFAR-10 directory {} does not exist: set data_dir in the config or WIDEPROBE_DATA to a folder with \
             data_batch_1.bin ... test_batch.bin (the official binary version)",
            dir.display()
        ),
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
        if regular_file(&p)?.is_some() {
            let prov = read_batch(&p, options, &mut raw.train, &mut raw.train_labels)?;
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
    if regular_file(&test)?.is_some() {
        let prov = read_batch(&test, options, &mut raw.test, &mut raw.test_labels)?;
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
    // var_os: a path need not be UTF-8.
    if let Some(d) = std::env::var_os("WIDEPROBE_DATA").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
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

/// Loads `n_train` training and `n_test` test examples drawn with `seed`, preprocessed,
/// trusting the MD5 cache ([`load_dataset_with`] can re-hash every file).
pub fn load_dataset(
    choice: DatasetChoice, data_dir: Option<&Path>, input_norm: InputNorm, n_train: usize,
    n_test: usize, seed: u64,
) -> Result<Dataset> {
    load_dataset_with(
        choice,
        data_dir,
        input_norm,
        n_train,
        n_test,
        seed,
        LoadOptions::default(),
    )
}

/// [`load_dataset`] with [`LoadOptions`] (e.g. `verify_data`).
pub fn load_dataset_with(
    choice: DatasetChoice, data_dir: Option<&Path>, input_norm: InputNorm, n_train: usize,
    n_test: usize, seed: u64, options: LoadOptions,
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
            (read_cifar(&dir, options)?, "cifar10")
        }
        DatasetChoice::Auto => match resolve_data_dir(data_dir).filter(|d| d.is_dir()) {
            Some(dir) => (read_cifar(&dir, options)?, "cifar10"),
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
    let (mean, std) = channel_stats(&raw.train, &train_indices);
    let scale = Preprocess {
        mean,
        std,
        input_norm,
    };
    Ok(Dataset {
        x_train: scale.apply(&raw.train, &train_indices, "training")?,
        y_train: train_indices.iter().map(|&i| raw.train_labels[i]).collect(),
        x_test: scale.apply(&raw.test, &test_indices, "test")?,
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

/// Channel means and population standard deviations of the drawn training subset, in f64.
fn channel_stats(train: &[u8], indices: &[usize]) -> ([f64; 3], [f64; 3]) {
    let mut sum = [0.0f64; 3];
    let mut sum_sq = [0.0f64; 3];
    for &i in indices {
        for c in 0..3 {
            for &p in &train[i * D + c * 1024..i * D + (c + 1) * 1024] {
                let v = p as f64 / 255.0;
                sum[c] += v;
                sum_sq[c] += v * v;
            }
        }
    }
    let count = (indices.len() * 1024).max(1) as f64;
    let mean = sum.map(|s| s / count);
    let mut std = [0.0; 3];
    for c in 0..3 {
        std[c] = (sum_sq[c] / count - mean[c] * mean[c]).max(0.0).sqrt();
        if std[c] == 0.0 {
            std[c] = 1.0; // a constant channel: centring is all that is possible
        }
    }
    (mean, std)
}

/// Standardisation by the training subset's channel statistics, then per-example rescaling.
struct Preprocess {
    mean: [f64; 3],
    std: [f64; 3],
    input_norm: InputNorm,
}

impl Preprocess {
    fn apply(&self, images: &[u8], indices: &[usize], split: &str) -> Result<Vec<f32>> {
        let target = match self.input_norm {
            InputNorm::SqrtFanIn => Some((D as f64).sqrt()),
            InputNorm::Unit => Some(1.0),
            InputNorm::None => None,
        };
        let mut out = Vec::with_capacity(indices.len() * D);
        for (k, &i) in indices.iter().enumerate() {
            let mut x: Vec<f64> = (0..D)
                .map(|j| {
                    let c = j / 1024;
                    (images[i * D + j] as f64 / 255.0 - self.mean[c]) / self.std[c]
                })
                .collect();
            let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
            if let Some(t) = target {
                if norm == 0.0 {
                    bail!("{split} example {k} (record {i}) is zero after centring: it cannot be normalised");
                }
                x.iter_mut().for_each(|v| *v *= t / norm);
            }
            out.extend(x.into_iter().map(|v| v as f32));
        }
        Ok(out)
    }
}
