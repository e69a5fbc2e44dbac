//! The data module: the real CIFAR-10 batch (when ../shared/data/cifar10 exists), the
//! spec's preprocessing against a direct f64 computation, seeding, and every error.

use std::path::{Path, PathBuf};

use wideprobe::data::{load_dataset, DatasetChoice, InputNorm, D};

fn shared_cifar() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cifar10");
    if p.join("data_batch_1.bin").exists() {
        Some(p)
    } else {
        eprintln!("skipped: no CIFAR-10 at {}", p.display());
        None
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wideprobe-data-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A batch file of `records` records with labels i % 10 and pixels from a formula.
fn write_batch(path: &Path, records: usize) {
    let mut bytes = Vec::with_capacity(records * (D + 1));
    for i in 0..records {
        bytes.push((i % 10) as u8);
        bytes.extend((0..D).map(|j| ((i * 31 + j * 7) % 256) as u8));
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn the_official_batch_loads_with_its_provenance() {
    let Some(dir) = shared_cifar() else { return };
    let ds = load_dataset(
        DatasetChoice::Cifar10,
        Some(&dir),
        InputNorm::SqrtFanIn,
        1000,
        100,
        3,
    )
    .unwrap();
    assert_eq!(ds.name, "cifar10");
    assert!(!ds.synthetic);
    let batch = ds
        .provenance
        .iter()
        .find(|p| p.file == "data_batch_1.bin")
        .unwrap();
    assert_eq!((batch.records, batch.official), (10000, Some(true)));
    assert_eq!(batch.md5, "5dd7e06a14cb22eb9f671a540d1b7c25");
    let test = ds
        .provenance
        .iter()
        .find(|p| p.file == "test_batch.bin")
        .unwrap();
    // The shared copy holds the first 1000 test images: not the official file.
    assert_eq!((test.records, test.official), (1000, Some(false)));
    // Label counts of the whole batch, as PROVENANCE.md gives them.
    let all = load_dataset(
        DatasetChoice::Cifar10,
        Some(&dir),
        InputNorm::None,
        10000,
        0,
        0,
    )
    .unwrap();
    let mut counts = [0usize; 10];
    all.y_train.iter().for_each(|&y| counts[y as usize] += 1);
    assert_eq!(
        counts,
        [1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981]
    );
}

#[test]
fn preprocessing_standardises_channels_of_the_drawn_subset_and_rescales_norms() {
    let dir = temp_dir("prep");
    write_batch(&dir.join("data_batch_1.bin"), 50);
    write_batch(&dir.join("test_batch.bin"), 20);
    let raw = load_dataset(
        DatasetChoice::Cifar10,
        Some(&dir),
        InputNorm::None,
        30,
        5,
        9,
    )
    .unwrap();
    // Channel means 0 and population standard deviations 1 over the drawn subset.
    for c in 0..3 {
        let values: Vec<f64> = raw
            .x_train
            .chunks(D)
            .flat_map(|x| x[c * 1024..(c + 1) * 1024].iter().map(|&v| v as f64))
            .collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
        assert!(
            mean.abs() < 1e-5 && (var.sqrt() - 1.0).abs() < 1e-5,
            "channel {c}: mean {mean}, std {}",
            var.sqrt()
        );
    }
    // Each value equals (p / 255 - mean_c) / std_c from the raw byte, recomputed here.
    let i = raw.train_indices[0];
    let j = 1500; // green channel
    let p = ((i * 31 + j * 7) % 256) as f64;
    let want = (p / 255.0 - raw.channel_mean[1]) / raw.channel_std[1];
    assert!((raw.x_train[j] as f64 - want).abs() < 1e-5);
    // sqrt_fan_in: every example has norm sqrt(d); the test split too.
    let scaled = load_dataset(
        DatasetChoice::Cifar10,
        Some(&dir),
        InputNorm::SqrtFanIn,
        30,
        5,
        9,
    )
    .unwrap();
    for x in scaled.x_train.chunks(D).chain(scaled.x_test.chunks(D)) {
        let norm = x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
        assert!((norm / (D as f64).sqrt() - 1.0).abs() < 1e-4);
    }
    // Seeds reproduce and differ.
    let again = load_dataset(
        DatasetChoice::Cifar10,
        Some(&dir),
        InputNorm::SqrtFanIn,
        30,
        5,
        9,
    )
    .unwrap();
    assert_eq!(again.train_indices, scaled.train_indices);
    let other = load_dataset(
        DatasetChoice::Cifar10,
        Some(&dir),
        InputNorm::SqrtFanIn,
        30,
        5,
        10,
    )
    .unwrap();
    assert_ne!(other.train_indices, scaled.train_indices);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_data_gives_errors_naming_the_file_and_the_fix() {
    let dir = temp_dir("bad");
    let load = |n: usize| {
        load_dataset(
            DatasetChoice::Cifar10,
            Some(&dir),
            InputNorm::SqrtFanIn,
            n,
            0,
            0,
        )
    };
    let missing = load_dataset(
        DatasetChoice::Cifar10,
        Some(&dir.join("nope")),
        InputNorm::SqrtFanIn,
        5,
        0,
        0,
    )
    .unwrap_err()
    .to_string();
    assert!(
        missing.contains("does not exist") && missing.contains("WIDEPROBE_DATA"),
        "{missing}"
    );
    let empty = load(5).unwrap_err().to_string();
    assert!(empty.contains("no data_batch"), "{empty}");
    write_batch(&dir.join("data_batch_1.bin"), 10);
    let too_many = load(11).unwrap_err().to_string();
    assert!(
        too_many.contains("11") && too_many.contains("10"),
        "{too_many}"
    );
    let mut bytes = std::fs::read(dir.join("data_batch_1.bin")).unwrap();
    bytes.truncate(bytes.len() - 100);
    std::fs::write(dir.join("data_batch_1.bin"), &bytes).unwrap();
    let truncated = load(5).unwrap_err().to_string();
    assert!(
        truncated.contains("data_batch_1.bin") && truncated.contains("truncated"),
        "{truncated}"
    );
    write_batch(&dir.join("data_batch_1.bin"), 10);
    let mut bytes = std::fs::read(dir.join("data_batch_1.bin")).unwrap();
    bytes[3 * (D + 1)] = 12;
    std::fs::write(dir.join("data_batch_1.bin"), &bytes).unwrap();
    let label = load(5).unwrap_err().to_string();
    assert!(
        label.contains("record 3") && label.contains("label 12"),
        "{label}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn auto_without_data_falls_back_to_a_labelled_synthetic_set() {
    let dir = temp_dir("auto");
    let ds = load_dataset(
        DatasetChoice::Auto,
        Some(&dir.join("absent")),
        InputNorm::SqrtFanIn,
        12,
        3,
        1,
    )
    .unwrap();
    assert!(ds.synthetic && ds.name == "synthetic");
    assert!(ds.warnings.iter().any(|w| w.contains("SYNTHETIC")));
    assert_eq!((ds.x_train.len(), ds.x_test.len()), (12 * D, 3 * D));
    let err = load_dataset(
        DatasetChoice::Cifar10,
        Some(&dir.join("absent")),
        InputNorm::SqrtFanIn,
        12,
        0,
        1,
    )
    .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
