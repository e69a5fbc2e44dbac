//! The data module: the real CIFAR-10 batch (when ../shared/data/cifar10 exists), the
//! spec's preprocessing against a direct f64 computation, seeding, and every error.

use std::path::{Path, PathBuf};

use wideprobe::data::{load_dataset, load_dataset_with, DatasetChoice, InputNorm, LoadOptions, D};

use crate::common;

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
    crate::support::scratch("data", name)
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
    let file = |name: &str| ds.provenance.iter().find(|p| p.file == name).unwrap();
    let batch = file("data_batch_1.bin");
    assert_eq!((batch.records, batch.official), (10000, Some(true)));
    assert_eq!(batch.md5, "5dd7e06a14cb22eb9f671a540d1b7c25");
    let test = file("test_batch.bin");
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
    let absent = dir.join("absent");
    // 12 training examples, `n_test` test examples, seed 1.
    let load =
        |choice, n_test| load_dataset(choice, Some(&absent), InputNorm::SqrtFanIn, 12, n_test, 1);
    let ds = load(DatasetChoice::Auto, 3).unwrap();
    assert!(ds.synthetic && ds.name == "synthetic");
    assert!(ds.warnings.iter().any(|w| w.contains("SYNTHETIC")));
    assert_eq!((ds.x_train.len(), ds.x_test.len()), (12 * D, 3 * D));
    common::assert_error_names(load(DatasetChoice::Cifar10, 0), &["does not exist"]);
    let _ = std::fs::remove_dir_all(dir);
}

fn load_cifar(dir: &Path, n: usize) -> anyhow::Result<wideprobe::data::Dataset> {
    load_dataset(DatasetChoice::Cifar10, Some(dir), InputNorm::None, n, 0, 0)
}

#[test]
fn a_data_dir_that_is_a_file_is_called_a_file() {
    let dir = temp_dir("file");
    let file = dir.join("cifar10.tar.gz");
    std::fs::write(&file, b"not a folder").unwrap();
    let err = load_cifar(&file, 5).unwrap_err().to_string();
    assert!(
        err.contains("is a file, not a folder") && !err.contains("does not exist"),
        "{err}"
    );
    assert!(
        err.contains("data_dir") && err.contains("WIDEPROBE_DATA"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// `load` on another thread; a hang (a FIFO opened for reading) fails instead of blocking.
fn without_hanging(dir: PathBuf) -> String {
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(load_cifar(&dir, 5).map(|_| ()));
    });
    let result = receive
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("loading hung on a special file");
    format!("{:#}", result.expect_err("a special file must be refused"))
}

#[cfg(unix)]
#[test]
fn special_files_named_like_batches_are_refused_without_hanging() {
    let dir = temp_dir("special");
    let socket = dir.join("data_batch_1.bin");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let err = without_hanging(dir.clone());
    assert!(
        err.contains("data_batch_1.bin") && err.contains("a socket, not a regular file"),
        "{err}"
    );
    std::fs::remove_file(&socket).unwrap();
    write_batch(&dir.join("data_batch_1.bin"), 10);
    let fifo = dir.join("test_batch.bin");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        let err = without_hanging(dir.clone());
        assert!(
            err.contains("test_batch.bin")
                && err.contains("a FIFO (named pipe), not a regular file"),
            "{err}"
        );
        std::fs::remove_file(&fifo).unwrap();
    } else {
        eprintln!("FIFO case skipped: mkfifo is not available");
    }
    std::fs::create_dir(&fifo).unwrap();
    let err = without_hanging(dir.clone());
    assert!(err.contains("a folder, not a regular file"), "{err}");
    assert!(
        err.contains("file of that name (wideprobe data fetch downloads them)"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn changed_bytes_with_a_restored_mtime_change_the_recorded_md5() {
    let dir = temp_dir("tamper");
    let batch = dir.join("data_batch_1.bin");
    write_batch(&batch, 10);
    let before = load_cifar(&dir, 5).unwrap().provenance[0].clone();
    let mtime = std::fs::metadata(&batch).unwrap().modified().unwrap();
    // Change one pixel in place (same size, same inode), then put the mtime back.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let mut bytes = std::fs::read(&batch).unwrap();
    bytes[5] ^= 0xff;
    std::fs::write(&batch, &bytes).unwrap();
    let file = std::fs::File::options().write(true).open(&batch).unwrap();
    file.set_modified(mtime).unwrap();
    drop(file);
    let after = load_cifar(&dir, 5).unwrap().provenance[0].clone();
    assert_ne!(
        after.md5, before.md5,
        "the cached MD5 of the old bytes was reused"
    );
    let verified = load_dataset_with(
        DatasetChoice::Cifar10,
        Some(&dir),
        InputNorm::None,
        5,
        0,
        0,
        LoadOptions { verify_data: true },
    )
    .unwrap();
    assert_eq!(verified.provenance[0].md5, after.md5);
    // Nothing is ever written into the data folder (the old cache lived there).
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["data_batch_1.bin"]);
    let _ = std::fs::remove_dir_all(dir);
}
