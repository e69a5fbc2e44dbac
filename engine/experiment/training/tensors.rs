//! With `save_tensors`: a training run's inputs, labels, split indices, and its initial
//! and final weights as .npy files (weights in the network's precision, f32 or f64).

use std::path::Path;

use anyhow::Result;

use crate::data::Dataset;
use crate::gpu::Gpu;
use crate::io::npy::{write_npy_f32, write_npy_f64};
use crate::linalg::Real;
use crate::nn::Fcn;

/// Writes `data` as an .npy file of its own precision (f4 or f8).
pub(crate) fn write_npy_real<T: Real>(path: &Path, shape: &[usize], data: &[T]) -> Result<()> {
    if T::NEEDS_F64 {
        let values: Vec<f64> = data.iter().map(|v| v.to_f64()).collect();
        write_npy_f64(path, shape, &values)
    } else {
        let values: Vec<f32> = data.iter().map(|v| v.to_f64() as f32).collect();
        write_npy_f32(path, shape, &values)
    }
}

/// Writes the weights (and biases) of `stage` (initial or final); at the initial stage
/// also the inputs, labels and indices.
pub(super) fn save_inputs_and_weights<T: Real>(
    dir: &Path, dataset: &Dataset, fcn: &Fcn<T>, gpu: &Gpu, stage: &str,
) -> Result<()> {
    crate::io::create_folder(dir)?;
    let n = dataset.train_indices.len();
    if stage == "initial" {
        write_npy_f32(&dir.join("inputs.npy"), &[n, dataset.d], &dataset.x_train)?;
        let labels: Vec<f32> = dataset.y_train.iter().map(|&y| y as f32).collect();
        write_npy_f32(&dir.join("labels.npy"), &[n], &labels)?;
        let indices = serde_json::json!({
            "train_indices": dataset.train_indices,
            "test_indices": dataset.test_indices,
        });
        std::fs::write(
            dir.join("indices.json"),
            serde_json::to_string_pretty(&indices)?,
        )?;
    }
    let layers = fcn.config.layer_shapes().len();
    for (i, (t, values)) in fcn.params.tensors().zip(fcn.download(gpu)?).enumerate() {
        let name = if i < layers {
            format!("weights_{}_{stage}.npy", i + 1)
        } else {
            format!("bias_{}_{stage}.npy", i - layers + 1)
        };
        write_npy_real(&dir.join(name), t.shape(), &values)?;
    }
    Ok(())
}
