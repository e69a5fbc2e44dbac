use wideprobe::gpu::Batch;
use wideprobe::linalg::Real;
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

/// `v` rounded to `T`.
fn rounded<T: Real>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::from_f64(x)).collect()
}

/// Norms of random rows of `T` against the reference, to the bound of the kernel's sum.
fn check_norms<T: Real>(op: &RowNorm<T>, rows: usize, cols: usize) {
    let what = format!("rownorm {} norms {rows}x{cols}", T::NAME);
    let mut rng = common::rng(&what);
    let x_data: Vec<T> = common::random_real(&mut rng, rows * cols);
    let x = common::upload(&[rows, cols], &x_data);
    let norms = common::poisoned::<T>(&[rows]);
    common::launch(|b| op.norms(b, &x, &norms));
    let want = reference::row_norms(&common::real_to_f64(&x_data), rows, cols);
    let rtol = common::ulp_scale::<T>() * sum_rtol(cols);
    common::assert_close_real(&what, &common::download(&norms), &want, rtol, 0.0, rtol);
}

fn norms_match_reference<T: Real>() {
    let op = RowNorm::<T>::new(common::gpu()).unwrap();
    for (rows, cols) in all_sizes() {
        check_norms(&op, rows, cols);
    }
}

precision_tests!(norms_match_reference);

fn renormalize_matches_reference<T: Real>() {
    let op = RowNorm::<T>::new(common::gpu()).unwrap();
    for (rows, cols) in all_sizes() {
        let what = format!("rownorm {} renormalize {rows}x{cols}", T::NAME);
        let mut rng = common::rng(&what);
        let x_data: Vec<T> = common::random_real(&mut rng, rows * cols);
        let x64 = common::real_to_f64(&x_data);
        // The kernel takes the norms as given: feed it rounded exact ones and check it
        // against the reference with those same norms.
        let norms_data: Vec<T> = rounded(&reference::row_norms(&x64, rows, cols));
        let target = T::from_f64((cols as f64).sqrt()).to_f64();
        let x = common::upload(&[rows, cols], &x_data);
        let norms = common::upload(&[rows], &norms_data);
        let y = common::poisoned::<T>(&[rows, cols]);
        common::launch(|b| op.renormalize(b, &x, &norms, target, &y));
        let norms64 = common::real_to_f64(&norms_data);
        let want = reference::renormalize(&x64, &norms64, rows, cols, target);
        // target / norm, then times x: two roundings.
        let rtol = common::ulp_scale::<T>() * 3.0 * EPS32;
        common::assert_close_real(&what, &common::download(&y), &want, rtol, 0.0, rtol);
    }
}

precision_tests!(renormalize_matches_reference);

/// Norms then renormalisation in one batch, as a layer does: every row ends with the target norm.
#[test]
fn norms_then_renormalize_give_rows_of_the_target_norm() {
    let op = RowNorm::new(common::gpu()).unwrap();
    for (rows, cols) in [(7, 300), (130, 33), (33, 7)] {
        let mut rng = common::rng(&format!("rownorm norms + renormalize {rows}x{cols}"));
        let x_data = common::random_vec(&mut rng, rows * cols);
        let target = (cols as f32).sqrt();
        let x = common::upload(&[rows, cols], &x_data);
        let norms = common::poisoned::<f32>(&[rows]);
        let y = common::poisoned::<f32>(&[rows, cols]);
        common::launch(|b| {
            op.norms(b, &x, &norms)?;
            op.renormalize(b, &x, &norms, target as f64, &y)
        });
        assert_eq!(first_zero_row(&common::download(&norms)), None);
        let y_norms = reference::row_norms(&common::to_f64(&common::download(&y)), rows, cols);
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
    x64: &[f64], d_y64: &[f64], norms64: &[f64], cols: usize, target: f64, scale: f64,
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

fn renormalize_backward_matches_reference<T: Real>() {
    let op = RowNorm::<T>::new(common::gpu()).unwrap();
    let scale = common::ulp_scale::<T>();
    for (rows, cols) in all_sizes() {
        let what = format!("rownorm {} renormalize_backward {rows}x{cols}", T::NAME);
        let mut rng = common::rng(&what);
        let x_data: Vec<T> = common::random_real(&mut rng, rows * cols);
        let d_y_data: Vec<T> = common::random_real(&mut rng, rows * cols);
        let x64 = common::real_to_f64(&x_data);
        let d_y64 = common::real_to_f64(&d_y_data);
        let norms_data: Vec<T> = rounded(&reference::row_norms(&x64, rows, cols));
        let norms64 = common::real_to_f64(&norms_data);
        let target = T::from_f64((cols as f64).sqrt()).to_f64();
        let x = common::upload(&[rows, cols], &x_data);
        let norms = common::upload(&[rows], &norms_data);
        let d_y = common::upload(&[rows, cols], &d_y_data);
        let d_x = common::poisoned::<T>(&[rows, cols]);
        common::launch(|b| op.renormalize_backward(b, &x, &norms, &d_y, target, &d_x));
        let want = reference::renormalize_backward(&x64, &norms64, &d_y64, rows, cols, target);
        // d_x_j = s (d_y_j - c x_j), s = t / r, c = (x . d_y) / r^2. The dot product is off
        // by at most sum_rtol * sum_j |x_j d_y_j|, and the few roundings of the last line
        // by ~4 eps (|d_y_j| + |c x_j|); the projection can cancel, so the bound is
        // absolute, per row, and the largest row bound is the tolerance.
        let atol = backward_atol(&x64, &d_y64, &norms64, cols, target, scale);
        // The Frobenius limit the elementwise bound implies: with one column d_x is 0 up
        // to rounding (x_i is parallel to itself), so a relative limit alone would fail.
        let want_norm = want.iter().map(|v| v * v).sum::<f64>().sqrt();
        let rel_frobenius = (atol * (want.len() as f64).sqrt() / want_norm).max(scale * 1e-5);
        common::assert_close_real(
            &what,
            &common::download(&d_x),
            &want,
            rel_frobenius,
            atol,
            0.0,
        );
    }
}

precision_tests!(renormalize_backward_matches_reference);

/// The analytic f64 backward against central differences of the f64 function
/// x -> <d_y, renormalize(x, ||x_i||, target)>: a gradient check of the formula the GPU
/// kernel is tested against.
#[test]
fn reference_backward_passes_a_gradient_check() {
    let mut rng = common::rng("rownorm gradient check");
    for (rows, cols) in [(1, 1), (1, 2), (3, 5), (4, 7), (2, 33)] {
        // Rows of norm at least 0.1: the function's third derivative grows like 1 / |x|³
        // (and a 1 x 1 row is a sign, whose differences straddle 0 when |x| < h).
        let x = loop {
            let x = common::to_f64(&common::random_vec(&mut rng, rows * cols));
            if reference::row_norms(&x, rows, cols)
                .iter()
                .all(|&r| r >= 0.1)
            {
                break x;
            }
        };
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
    let op = RowNorm::new(common::gpu()).unwrap();
    let (rows, cols) = (7, 33);
    for (bad_row, value) in [(5, 0.0f32), (2, 1e20)] {
        let mut rng = common::rng("rownorm zero row");
        let mut x_data = common::random_vec(&mut rng, rows * cols);
        x_data[bad_row * cols..(bad_row + 1) * cols].fill(value);
        let x = common::upload(&[rows, cols], &x_data);
        let norms = common::poisoned::<f32>(&[rows]);
        common::launch(|b| op.norms(b, &x, &norms));
        let got = common::download(&norms);
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
    let rows = gpu.limits().max_compute_workgroups_per_dimension as usize + 3;
    check_norms(&RowNorm::<f32>::new(gpu).unwrap(), rows, 2);
}

#[test]
fn mismatched_shapes_are_errors_naming_the_shapes() {
    let op = RowNorm::new(common::gpu()).unwrap();
    let (x, norms) = (common::zeros::<f32>(&[3, 4]), common::zeros::<f32>(&[3]));
    let tensor = |shape: &[usize]| common::zeros::<f32>(shape);
    let mut batch = Batch::new(common::gpu());
    let b = &mut batch;

    common::assert_error_names(op.norms(b, &x, &tensor(&[4])), &["[3, 4]", "[4]"]);
    common::assert_error_names(op.norms(b, &tensor(&[12]), &norms), &["[12]", "matrix"]);
    let renormalize = op.renormalize(b, &x, &norms, 2.0, &tensor(&[4, 3]));
    common::assert_error_names(renormalize, &["[3, 4]", "[4, 3]"]);
    let (good, wrong) = (tensor(&[3, 4]), tensor(&[4, 3]));
    let backward = op.renormalize_backward(b, &x, &norms, &wrong, 2.0, &good);
    common::assert_error_names(backward, &["[3, 4]", "[4, 3]"]);
    let backward = op.renormalize_backward(b, &x, &norms, &good, 2.0, &tensor(&[12]));
    common::assert_error_names(backward, &["[3, 4]", "[12]"]);
    // One tensor as input and output would be a wgpu validation error: refused up front.
    common::assert_error_names(op.renormalize(b, &x, &norms, 2.0, &x), &["same tensor"]);
}
