//! The bias kernels (shaders/bias.wgsl) against f64 references, at awkward sizes, with
//! outputs poisoned first, and their shape errors.

use wideprobe::gpu::{Batch, Tensor};
use wideprobe::ops::bias::BiasOp;

use crate::common;

const SIZES: &[usize] = &[1, 7, 33, 130, 300];

#[test]
fn bias_add_matches_reference() {
    let gpu = common::gpu();
    let op = BiasOp::<f32>::new(gpu).unwrap();
    for &rows in SIZES {
        for &cols in SIZES {
            let mut rng = common::rng(&format!("bias add {rows}x{cols}"));
            let z0 = common::random_vec(&mut rng, rows * cols);
            let b = common::random_vec(&mut rng, cols);
            let z = Tensor::from_slice(gpu, &[rows, cols], &z0).unwrap();
            let bt = Tensor::from_slice(gpu, &[cols], &b).unwrap();
            let mut batch = Batch::new(gpu);
            op.add(&mut batch, &bt, &z).unwrap();
            batch.submit().unwrap();
            let want: Vec<f64> = (0..rows * cols)
                .map(|i| z0[i] as f64 + b[i % cols] as f64)
                .collect();
            common::assert_close_f32(
                &format!("bias add {rows}x{cols}"),
                &z.to_vec(gpu).unwrap(),
                &want,
                1e-7,
                1e-7,
                1e-7,
            );
        }
    }
}

#[test]
fn bias_grad_sums_the_columns() {
    let gpu = common::gpu();
    let op = BiasOp::<f32>::new(gpu).unwrap();
    for &rows in SIZES {
        for &cols in SIZES {
            let mut rng = common::rng(&format!("bias grad {rows}x{cols}"));
            let d_z = common::random_vec(&mut rng, rows * cols);
            let d_zt = Tensor::from_slice(gpu, &[rows, cols], &d_z).unwrap();
            let d_b = Tensor::<f32>::zeros(gpu, &[cols]).unwrap();
            d_b.poison(gpu).unwrap();
            let mut batch = Batch::new(gpu);
            op.grad(&mut batch, &d_zt, &d_b).unwrap();
            batch.submit().unwrap();
            let want: Vec<f64> = (0..cols)
                .map(|j| (0..rows).map(|i| d_z[i * cols + j] as f64).sum())
                .collect();
            // A sequential f32 sum of `rows` terms.
            let tol = rows as f64 * f32::EPSILON as f64;
            common::assert_close_f32(
                &format!("bias grad {rows}x{cols}"),
                &d_b.to_vec(gpu).unwrap(),
                &want,
                tol,
                tol,
                tol,
            );
        }
    }
}

#[test]
fn bias_of_the_wrong_length_is_a_shape_error() {
    let gpu = common::gpu();
    let op = BiasOp::<f32>::new(gpu).unwrap();
    let z = Tensor::<f32>::zeros(gpu, &[3, 5]).unwrap();
    let b = Tensor::<f32>::zeros(gpu, &[4]).unwrap();
    let mut batch = Batch::new(gpu);
    let err = op.add(&mut batch, &b, &z).unwrap_err().to_string();
    assert!(err.contains("[5]") && err.contains("[4]"), "{err}");
    let err = op.grad(&mut batch, &z, &b).unwrap_err().to_string();
    assert!(err.contains("[5]"), "{err}");
}

/// The f64 instantiation on fresh f64 inputs: add within one rounding, the column sums
/// within the f32 bound in f64 ulps.
#[test]
fn f64_bias_add_and_grad_match_reference() {
    if common::skip_without_f64() {
        return;
    }
    let gpu = common::gpu();
    let op = BiasOp::<f64>::new(gpu).unwrap();
    for &rows in &SIZES[..4] {
        for &cols in &SIZES[..4] {
            let what = format!("bias f64 {rows}x{cols}");
            let mut rng = common::rng(&what);
            let z0: Vec<f64> = common::random_real(&mut rng, rows * cols);
            let b: Vec<f64> = common::random_real(&mut rng, cols);
            let z = Tensor::from_slice(gpu, &[rows, cols], &z0).unwrap();
            let bt = Tensor::from_slice(gpu, &[cols], &b).unwrap();
            let d_b = Tensor::<f64>::zeros(gpu, &[cols]).unwrap();
            d_b.poison(gpu).unwrap();
            let mut batch = Batch::new(gpu);
            op.grad(&mut batch, &z, &d_b).unwrap();
            op.add(&mut batch, &bt, &z).unwrap();
            batch.submit().unwrap();
            let want: Vec<f64> = (0..rows * cols).map(|i| z0[i] + b[i % cols]).collect();
            let eps = f64::EPSILON;
            common::assert_close_real(
                &format!("{what} add"),
                &z.to_vec(gpu).unwrap(),
                &want,
                eps,
                eps,
                eps,
            );
            let want: Vec<f64> = (0..cols)
                .map(|j| (0..rows).map(|i| z0[i * cols + j]).sum())
                .collect();
            let tol = rows as f64 * eps;
            common::assert_close_real(
                &format!("{what} grad"),
                &d_b.to_vec(gpu).unwrap(),
                &want,
                tol,
                tol,
                tol,
            );
        }
    }
}
