use wideprobe::gpu::{Batch, Tensor};
use wideprobe::ops::rownorm::{first_zero_row, RowNorm};

use crate::common::{self, reference};

/// Rows and columns, each from 1, 7, 33, 130, 300: columns below and above the
/// 256-invocation workgroup (so one or two strides per invocation), never a multiple of it.
const SIZES: &[usize] = &[1, 7, 33, 130, 300];
/// The shader's workgroup size (one workgroup per row).
const WG: usize = 256;

const EPS32: f64 = f32::EPSILON as f64;

/// Relative error bound of an f32 sum of `cols` non-negative terms as the kernel adds
/// them: ceil(cols / WG) sequential adds per invocation, log2(WG) = 8 tree levels, plus
/// the products themselves and the square root.
fn sum_rtol(cols: usize) -> f64 {
    (cols.div_ceil(WG) + 8 + 3) as f64 * EPS32
}

fn all_sizes() -> impl Iterator<Item = (usize, usize)> {
    SIZES
        .iter()
        .flat_map(|&rows| SIZES.iter().map(move |&cols| (rows, cols)))
}

fn f32_of(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

#[test]
fn norms_match_reference() {
    let gpu = common::gpu();
    let op = RowNorm::new(gpu).unwrap();
    for (rows, cols) in all_sizes() {
        let mut rng = common::rng(&format!("rownorm norms {rows}x{cols}"));
        let x_data = common::random_vec(&mut rng, rows * cols);
        let x = Tensor::from_slice(gpu, &[rows, cols], &x_data).unwrap();
        let norms = Tensor::<f32>::zeros(gpu, &[rows]).unwrap();
        norms.poison(gpu).unwrap();
        let mut batch = Batch::new(gpu);
        op.norms(&mut batch, &x, &norms).unwrap();
        batch.submit().unwrap();
        let want = reference::row_norms(&common::to_f64(&x_data), rows, cols);
        let rtol = sum_rtol(cols);
        common::assert_close_f32(
            &format!("rownorm norms {rows}x{cols}"),
            &norms.to_vec(gpu).unwrap(),
            &want,
            rtol,
            0.0,
            rtol,
        );
    }
}

#[test]
fn renormalize_matches_reference() {
    let gpu = common::gpu();
    let op = RowNorm::new(gpu).unwrap();
    for (rows, cols) in all_sizes() {
        let mut rng = common::rng(&format!("rownorm renormalize {rows}x{cols}"));
        let x_data = common::random_vec(&mut rng, rows * cols);
        let x64 = common::to_f64(&x_data);
        // The kernel takes the norms as given: feed it rounded exact ones and check it
        // against the reference with those same norms.
        let norms_data = f32_of(&reference::row_norms(&x64, rows, cols));
        let target = (cols as f32).sqrt();
        let x = Tensor::from_slice(gpu, &[rows, cols], &x_data).unwrap();
        let norms = Tensor::from_slice(gpu, &[rows], &norms_data).unwrap();
        let y = Tensor::<f32>::zeros(gpu, &[rows, cols]).unwrap();
        y.poison(gpu).unwrap();
        let mut batch = Batch::new(gpu);
        op.renormalize(&mut batch, &x, &norms, target as f64, &y)
            .unwrap();
        batch.submit().unwrap();
        let want = reference::renormalize(
            &x64,
            &common::to_f64(&norms_data),
            rows,
            cols,
            target as f64,
        );
        // target / norm, then times x: two roundings.
        common::assert_close_f32(
            &format!("rownorm renormalize {rows}x{cols}"),
            &y.to_vec(gpu).unwrap(),
            &want,
            3.0 * EPS32,
            0.0,
            3.0 * EPS32,
        );
    }
}

/// Norms then renormalisation in one batch, as a layer does: every row ends with the target norm.
#[test]
fn norms_then_renormalize_give_rows_of_the_target_norm() {
    let gpu = common::gpu();
    let op = RowNorm::new(gpu).unwrap();
    for (rows, cols) in [(7, 300), (130, 33), (33, 7)] {
        let mut rng = common::rng(&format!("rownorm norms + renormalize {rows}x{cols}"));
        let x_data = common::random_vec(&mut rng, rows * cols);
        let target = (cols as f32).sqrt();
        let x = Tensor::from_slice(gpu, &[rows, cols], &x_data).unwrap();
        let norms = Tensor::<f32>::zeros(gpu, &[rows]).unwrap();
        let y = Tensor::<f32>::zeros(gpu, &[rows, cols]).unwrap();
        norms.poison(gpu).unwrap();
        y.poison(gpu).unwrap();
        let mut batch = Batch::new(gpu);
        op.norms(&mut batch, &x, &norms).unwrap();
        op.renormalize(&mut batch, &x, &norms, target as f64, &y)
            .unwrap();
        batch.submit().unwrap();
        assert_eq!(first_zero_row(&norms.to_vec(gpu).unwrap()), None);
        let y_norms = reference::row_norms(&common::to_f64(&y.to_vec(gpu).unwrap()), rows, cols);
        let rtol = sum_rtol(cols) + 3.0 * EPS32;
        common::assert_close(
            &format!("norms of renormalised rows {rows}x{cols}"),
            &y_norms,
            &vec![target as f64; rows],
            rtol,
            0.0,
            rtol,
        );
    }
}

/// The largest per-row bound on |d_x error| (see renormalize_backward_matches_reference),
/// with the f32 unit roundoff times `scale` (1 for f32, F64_OVER_F32 for f64).
fn backward_atol(
    x64: &[f64],
    d_y64: &[f64],
    norms64: &[f64],
    cols: usize,
    target: f64,
    scale: f64,
) -> f64 {
    (0..norms64.len())
        .map(|i| {
            let row = i * cols..(i + 1) * cols;
            let (xr, gr) = (&x64[row.clone()], &d_y64[row]);
            let r = norms64[i];
            let s = target / r;
            let dot: f64 = xr.iter().zip(gr).map(|(a, b)| a * b).sum();
            let abs_dot: f64 = xr.iter().zip(gr).map(|(a, b)| (a * b).abs()).sum();
            let max_x = xr.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let max_g = gr.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let c = dot / (r * r);
            scale
                * s
                * (sum_rtol(cols) * abs_dot / (r * r) * max_x
                    + 4.0 * EPS32 * (max_g + c.abs() * max_x))
        })
        .fold(0.0f64, f64::max)
}

#[test]
fn renormalize_backward_matches_reference() {
    let gpu = common::gpu();
    let op = RowNorm::new(gpu).unwrap();
    for (rows, cols) in all_sizes() {
        let mut rng = common::rng(&format!("rownorm backward {rows}x{cols}"));
        let x_data = common::random_vec(&mut rng, rows * cols);
        let d_y_data = common::random_vec(&mut rng, rows * cols);
        let x64 = common::to_f64(&x_data);
        let d_y64 = common::to_f64(&d_y_data);
        let norms_data = f32_of(&reference::row_norms(&x64, rows, cols));
        let norms64 = common::to_f64(&norms_data);
        let target = (cols as f32).sqrt();
        let x = Tensor::from_slice(gpu, &[rows, cols], &x_data).unwrap();
        let norms = Tensor::from_slice(gpu, &[rows], &norms_data).unwrap();
        let d_y = Tensor::from_slice(gpu, &[rows, cols], &d_y_data).unwrap();
        let d_x = Tensor::<f32>::zeros(gpu, &[rows, cols]).unwrap();
        d_x.poison(gpu).unwrap();
        let mut batch = Batch::new(gpu);
        op.renormalize_backward(&mut batch, &x, &norms, &d_y, target as f64, &d_x)
            .unwrap();
        batch.submit().unwrap();
        let want =
            reference::renormalize_backward(&x64, &norms64, &d_y64, rows, cols, target as f64);
        // d_x_j = s (d_y_j - c x_j), s = t / r, c = (x . d_y) / r^2. The dot product is off
        // by at most sum_rtol * sum_j |x_j d_y_j|, and the few roundings of the last line
        // by ~4 eps (|d_y_j| + |c x_j|); the projection can cancel, so the bound is
        // absolute, per row, and the largest row bound is the tolerance.
        let atol = backward_atol(&x64, &d_y64, &norms64, cols, target as f64, 1.0);
        // The Frobenius limit the elementwise bound implies: with one column d_x is 0 up
        // to rounding (x_i is parallel to itself), so a relative limit alone would fail.
        let want_norm = want.iter().map(|v| v * v).sum::<f64>().sqrt();
        let rel_frobenius = (atol * (want.len() as f64).sqrt() / want_norm).max(1e-5);
        common::assert_close_f32(
            &format!("rownorm renormalize_backward {rows}x{cols}"),
            &d_x.to_vec(gpu).unwrap(),
            &want,
            rel_frobenius,
            atol,
            0.0,
        );
    }
}

/// The analytic f64 backward against central differences of the f64 function
/// x -> <d_y, renormalize(x, ||x_i||, target)>: a gradient check of the formula the GPU
/// kernel is tested against.
#[test]
fn reference_backward_passes_a_gradient_check() {
    let mut rng = common::rng("rownorm gradient check");
    for (rows, cols) in [(1, 1), (1, 2), (3, 5), (4, 7), (2, 33)] {
        let x = common::to_f64(&common::random_vec(&mut rng, rows * cols));
        let d_y = common::to_f64(&common::random_vec(&mut rng, rows * cols));
        let target = 2.5;
        let loss = |x: &[f64]| -> f64 {
            let y =
                reference::renormalize(x, &reference::row_norms(x, rows, cols), rows, cols, target);
            y.iter().zip(&d_y).map(|(a, b)| a * b).sum()
        };
        let analytic = reference::renormalize_backward(
            &x,
            &reference::row_norms(&x, rows, cols),
            &d_y,
            rows,
            cols,
            target,
        );
        let h = 1e-6;
        for k in 0..rows * cols {
            let (mut plus, mut minus) = (x.clone(), x.clone());
            plus[k] += h;
            minus[k] -= h;
            let fd = (loss(&plus) - loss(&minus)) / (2.0 * h);
            // Truncation ~h^2, cancellation ~eps |loss| / h ~ 1e-9 for these sizes.
            let tol = 1e-7 * (1.0 + analytic[k].abs());
            assert!(
                (fd - analytic[k]).abs() <= tol,
                "{rows}x{cols} element {k}: finite difference {fd}, analytic {}",
                analytic[k]
            );
        }
    }
}

#[test]
fn zero_and_overflowing_rows_are_found() {
    assert_eq!(first_zero_row::<f32>(&[]), None);
    assert_eq!(first_zero_row(&[1.0, 2.0, 1e-30]), None);
    assert_eq!(first_zero_row(&[1.0, 0.0, 3.0, 0.0]), Some(1));
    assert_eq!(first_zero_row(&[1.0, 2.0, f32::NAN]), Some(2));
    assert_eq!(first_zero_row(&[f32::INFINITY]), Some(0));
    assert_eq!(first_zero_row(&[2.0, -1.0]), Some(1));

    // On the GPU: a zero row has norm exactly 0; a row whose squares overflow f32 has an
    // infinite norm; both are caught.
    let gpu = common::gpu();
    let op = RowNorm::new(gpu).unwrap();
    let (rows, cols) = (7, 33);
    for (bad_row, value) in [(5, 0.0f32), (2, 1e20)] {
        let mut rng = common::rng("rownorm zero row");
        let mut x_data = common::random_vec(&mut rng, rows * cols);
        x_data[bad_row * cols..(bad_row + 1) * cols].fill(value);
        let x = Tensor::from_slice(gpu, &[rows, cols], &x_data).unwrap();
        let norms = Tensor::<f32>::zeros(gpu, &[rows]).unwrap();
        norms.poison(gpu).unwrap();
        let mut batch = Batch::new(gpu);
        op.norms(&mut batch, &x, &norms).unwrap();
        batch.submit().unwrap();
        let got = norms.to_vec(gpu).unwrap();
        assert_eq!(first_zero_row(&got), Some(bad_row), "norms {got:?}");
        if value == 0.0 {
            assert_eq!(got[bad_row], 0.0);
        }
    }
}

/// More rows than one grid dimension holds: workgroups split over x and y.
#[test]
fn more_rows_than_one_grid_dimension_are_all_computed() {
    let gpu = common::gpu();
    let op = RowNorm::new(gpu).unwrap();
    let rows = gpu.limits().max_compute_workgroups_per_dimension as usize + 3;
    let cols = 2;
    let mut rng = common::rng("rownorm norms, 2-D grid");
    let x_data = common::random_vec(&mut rng, rows * cols);
    let x = Tensor::from_slice(gpu, &[rows, cols], &x_data).unwrap();
    let norms = Tensor::<f32>::zeros(gpu, &[rows]).unwrap();
    norms.poison(gpu).unwrap();
    let mut batch = Batch::new(gpu);
    op.norms(&mut batch, &x, &norms).unwrap();
    batch.submit().unwrap();
    let want = reference::row_norms(&common::to_f64(&x_data), rows, cols);
    let rtol = sum_rtol(cols);
    common::assert_close_f32(
        &format!("rownorm norms {rows}x{cols}"),
        &norms.to_vec(gpu).unwrap(),
        &want,
        rtol,
        0.0,
        rtol,
    );
}

#[test]
fn mismatched_shapes_are_errors_naming_the_shapes() {
    let gpu = common::gpu();
    let op = RowNorm::new(gpu).unwrap();
    let x = Tensor::<f32>::zeros(gpu, &[3, 4]).unwrap();
    let norms = Tensor::<f32>::zeros(gpu, &[3]).unwrap();
    let wrong_norms = Tensor::<f32>::zeros(gpu, &[4]).unwrap();
    let wrong = Tensor::<f32>::zeros(gpu, &[4, 3]).unwrap();
    let flat = Tensor::<f32>::zeros(gpu, &[12]).unwrap();
    let good = Tensor::<f32>::zeros(gpu, &[3, 4]).unwrap();
    let mut batch = Batch::new(gpu);

    let err = op
        .norms(&mut batch, &x, &wrong_norms)
        .unwrap_err()
        .to_string();
    assert!(err.contains("[3, 4]") && err.contains("[4]"), "{err}");
    let err = op.norms(&mut batch, &flat, &norms).unwrap_err().to_string();
    assert!(err.contains("[12]") && err.contains("matrix"), "{err}");
    let err = op
        .renormalize(&mut batch, &x, &norms, 2.0, &wrong)
        .unwrap_err()
        .to_string();
    assert!(err.contains("[3, 4]") && err.contains("[4, 3]"), "{err}");
    let err = op
        .renormalize_backward(&mut batch, &x, &norms, &wrong, 2.0, &good)
        .unwrap_err()
        .to_string();
    assert!(err.contains("[3, 4]") && err.contains("[4, 3]"), "{err}");
    let err = op
        .renormalize_backward(&mut batch, &x, &norms, &good, 2.0, &flat)
        .unwrap_err()
        .to_string();
    assert!(err.contains("[3, 4]") && err.contains("[12]"), "{err}");
    // One tensor as input and output would be a wgpu validation error: refused up front.
    let err = op
        .renormalize(&mut batch, &x, &norms, 2.0, &x)
        .unwrap_err()
        .to_string();
    assert!(err.contains("same tensor"), "{err}");
}

/// The f64 instantiation: norms, renormalisation and its backward against the f64
/// reference on fresh f64 inputs, with the f32 tests' bounds in f64 ulps (~1e-14).
#[test]
fn f64_norms_renormalize_and_backward_match_reference() {
    if common::skip_without_f64() {
        return;
    }
    let gpu = common::gpu();
    let op = RowNorm::<f64>::new(gpu).unwrap();
    let scale = common::F64_OVER_F32;
    for (rows, cols) in all_sizes() {
        let what = format!("rownorm f64 {rows}x{cols}");
        let mut rng = common::rng(&what);
        let x64: Vec<f64> = common::random_real(&mut rng, rows * cols);
        let d_y64: Vec<f64> = common::random_real(&mut rng, rows * cols);
        let target = (cols as f64).sqrt();
        let x = Tensor::from_slice(gpu, &[rows, cols], &x64).unwrap();
        let d_y = Tensor::from_slice(gpu, &[rows, cols], &d_y64).unwrap();
        let norms = Tensor::<f64>::zeros(gpu, &[rows]).unwrap();
        let y = Tensor::<f64>::zeros(gpu, &[rows, cols]).unwrap();
        let d_x = Tensor::<f64>::zeros(gpu, &[rows, cols]).unwrap();
        for t in [&y, &d_x] {
            t.poison(gpu).unwrap();
        }
        norms.poison(gpu).unwrap();
        let mut batch = Batch::new(gpu);
        op.norms(&mut batch, &x, &norms).unwrap();
        op.renormalize(&mut batch, &x, &norms, target, &y).unwrap();
        op.renormalize_backward(&mut batch, &x, &norms, &d_y, target, &d_x)
            .unwrap();
        batch.submit().unwrap();
        let want_norms = reference::row_norms(&x64, rows, cols);
        let got_norms = norms.to_vec(gpu).unwrap();
        let rtol = scale * sum_rtol(cols);
        common::assert_close_real(
            &format!("{what} norms"),
            &got_norms,
            &want_norms,
            rtol,
            0.0,
            rtol,
        );
        // The rest from the kernel's own norms, as the network uses them.
        let want = reference::renormalize(&x64, &got_norms, rows, cols, target);
        let rtol = scale * 3.0 * EPS32;
        common::assert_close_real(
            &format!("{what} renormalize"),
            &y.to_vec(gpu).unwrap(),
            &want,
            rtol,
            0.0,
            rtol,
        );
        let want = reference::renormalize_backward(&x64, &got_norms, &d_y64, rows, cols, target);
        let atol = backward_atol(&x64, &d_y64, &got_norms, cols, target, scale);
        let want_norm = want.iter().map(|v| v * v).sum::<f64>().sqrt();
        let rel = (atol * (want.len() as f64).sqrt() / want_norm).max(scale * 1e-5);
        common::assert_close_real(
            &format!("{what} backward"),
            &d_x.to_vec(gpu).unwrap(),
            &want,
            rel,
            atol,
            0.0,
        );
    }
}
