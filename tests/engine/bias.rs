//! The bias kernels (shaders/bias.wgsl) against f64 references, at awkward sizes, with
//! outputs poisoned first, and their shape errors.

use rand::rngs::StdRng;
use wideprobe::gpu::Batch;
use wideprobe::ops::bias::BiasOp;

use crate::common;

const SIZES: &[usize] = &[1, 7, 33, 130, 300];

/// Every (rows, cols) with both from `sizes`, with its name `bias KIND RxC` and the
/// generator for it.
fn cases(
    kind: &'static str, sizes: &'static [usize],
) -> impl Iterator<Item = ((usize, usize), String, StdRng)> {
    sizes
        .iter()
        .flat_map(move |&rows| sizes.iter().map(move |&cols| (rows, cols)))
        .map(move |(rows, cols)| {
            let what = format!("bias {kind} {rows}x{cols}");
            let rng = common::rng(&what);
            ((rows, cols), what, rng)
        })
}

#[test]
fn bias_add_matches_reference() {
    let op = BiasOp::<f32>::new(common::gpu()).unwrap();
    for ((rows, cols), what, mut rng) in cases("add", SIZES) {
        let z0 = common::random_vec(&mut rng, rows * cols);
        let b = common::random_vec(&mut rng, cols);
        let (z, bt) = (
            common::upload(&[rows, cols], &z0),
            common::upload(&[cols], &b),
        );
        common::launch(|batch| op.add(batch, &bt, &z));
        let want: Vec<f64> = (0..rows * cols)
            .map(|i| z0[i] as f64 + b[i % cols] as f64)
            .collect();
        common::assert_close_f32(&what, &common::download(&z), &want, 1e-7, 1e-7, 1e-7);
    }
}

#[test]
fn bias_grad_sums_the_columns() {
    let op = BiasOp::<f32>::new(common::gpu()).unwrap();
    for ((rows, cols), what, mut rng) in cases("grad", SIZES) {
        let d_z = common::random_vec(&mut rng, rows * cols);
        let d_zt = common::upload(&[rows, cols], &d_z);
        let d_b = common::poisoned::<f32>(&[cols]);
        common::launch(|batch| op.grad(batch, &d_zt, &d_b));
        let want: Vec<f64> = (0..cols)
            .map(|j| (0..rows).map(|i| d_z[i * cols + j] as f64).sum())
            .collect();
        // A sequential f32 sum of `rows` terms.
        let tol = rows as f64 * f32::EPSILON as f64;
        common::assert_close_f32(&what, &common::download(&d_b), &want, tol, tol, tol);
    }
}

#[test]
fn bias_of_the_wrong_length_is_a_shape_error() {
    let op = BiasOp::<f32>::new(common::gpu()).unwrap();
    let z = common::zeros::<f32>(&[3, 5]);
    let b = common::zeros::<f32>(&[4]);
    let mut batch = Batch::new(common::gpu());
    common::assert_error_names(op.add(&mut batch, &b, &z), &["[5]", "[4]"]);
    common::assert_error_names(op.grad(&mut batch, &z, &b), &["[5]"]);
}

/// The f64 instantiation on fresh f64 inputs: add within one rounding, the column sums
/// within the f32 bound in f64 ulps. The gradient is recorded before the add in one
/// batch, so it must see z as it was.
#[test]
fn f64_bias_add_and_grad_match_reference() {
    if common::skip_without_f64() {
        return;
    }
    let op = BiasOp::<f64>::new(common::gpu()).unwrap();
    for ((rows, cols), what, mut rng) in cases("f64", &SIZES[..4]) {
        let z0: Vec<f64> = common::random_real(&mut rng, rows * cols);
        let b: Vec<f64> = common::random_real(&mut rng, cols);
        let (z, bt) = (
            common::upload(&[rows, cols], &z0),
            common::upload(&[cols], &b),
        );
        let d_b = common::poisoned::<f64>(&[cols]);
        common::launch(|batch| {
            op.grad(batch, &z, &d_b)?;
            op.add(batch, &bt, &z)
        });
        let want: Vec<f64> = (0..rows * cols).map(|i| z0[i] + b[i % cols]).collect();
        let eps = f64::EPSILON;
        let add = format!("{what} add");
        common::assert_close_real(&add, &common::download(&z), &want, eps, eps, eps);
        let want: Vec<f64> = (0..cols)
            .map(|j| (0..rows).map(|i| z0[i * cols + j]).sum())
            .collect();
        let tol = rows as f64 * eps;
        let grad = format!("{what} grad");
        common::assert_close_real(&grad, &common::download(&d_b), &want, tol, tol, tol);
    }
}
