use wideprobe::gpu::Batch;
use wideprobe::linalg::Real;
use wideprobe::ops::reduce::{Reduce, RowReduction};

use crate::common::{self, reference};

/// (rows, cols): columns straddle the 256-invocation workgroup (1 column, fewer than
/// one per invocation, 300 and 513 wrap around once and twice), rows cover 1, 7, 33, 130.
const SHAPES: &[(usize, usize)] = &[
    (1, 1),
    (7, 1),
    (1, 7),
    (33, 130),
    (130, 33),
    (7, 300),
    (300, 7),
    (3, 513),
];

/// Invocations per workgroup in shaders/reduce.wgsl.
const WG: usize = 256;

/// Worst-case rounding of a row sum: each invocation adds ceil(cols / WG) terms in
/// sequence, then a tree of log2(WG) = 8 levels, so no chain of additions is longer
/// than `depth`, and |error| <= depth * eps * sum |terms| (Higham, Accuracy and
/// Stability, ch. 4). Entries are below 1, so sum |terms| <= cols.
fn sum_atol(cols: usize) -> f64 {
    let depth = cols.div_ceil(WG) + 8;
    depth as f64 * f32::EPSILON as f64 * cols as f64
}

fn run_rows<T: Real>(kind: RowReduction, x: &[T], rows: usize, cols: usize) -> Vec<T> {
    let (x, out) = (
        common::upload(&[rows, cols], x),
        common::poisoned::<T>(&[rows]),
    );
    let reduce = Reduce::<T>::new(common::gpu()).unwrap();
    common::launch(|b| reduce.rows(b, kind, &x, &out));
    common::download(&out)
}

fn run_argmax<T: Real>(x: &[T], rows: usize, cols: usize) -> Vec<u32> {
    let (x, out) = (
        common::upload(&[rows, cols], x),
        common::poisoned::<u32>(&[rows]),
    );
    let reduce = Reduce::<T>::new(common::gpu()).unwrap();
    common::launch(|b| reduce.argmax_rows(b, &x, &out));
    common::download(&out)
}

#[test]
fn every_reduction_matches_reference_on_ragged_shapes() {
    for kind in RowReduction::ALL {
        for &(rows, cols) in SHAPES {
            let mut rng = common::rng(&format!("reduce {} {rows}x{cols}", kind.name()));
            let x = common::random_vec(&mut rng, rows * cols);
            let got = run_rows(kind, &x, rows, cols);
            let want = reference::reduce_rows(kind.name(), &common::to_f64(&x), rows, cols);
            // max is exact: it picks one of the inputs.
            let (rel, atol) = match kind {
                RowReduction::Max => (0.0, 0.0),
                _ => (1e-5, sum_atol(cols)),
            };
            common::assert_close_f32(
                &format!("reduce {} {rows}x{cols}", kind.name()),
                &got,
                &want,
                rel,
                atol,
                0.0,
            );
        }
    }
}

#[test]
fn argmax_matches_reference_on_ragged_shapes() {
    for &(rows, cols) in SHAPES {
        let mut rng = common::rng(&format!("argmax {rows}x{cols}"));
        let x = common::random_vec(&mut rng, rows * cols);
        let got = run_argmax(&x, rows, cols);
        let want = reference::argmax_rows(&common::to_f64(&x), rows, cols);
        assert_eq!(got, want, "argmax {rows}x{cols}");
    }
}

/// One row of 600 columns per case: `value` at `at`, -5 elsewhere. Positions are chosen
/// so that ties meet in the sequential loop of one invocation (44 and 300 are both
/// invocation 44) and in the tree (200 vs 259: invocation 3 holds the later one).
#[test]
fn argmax_ties_resolve_to_the_smallest_index() {
    let cols = 600;
    let cases: &[(&[usize], f32, u32)] = &[
        (&[517, 261, 300, 44], -0.5, 44),
        (&[259, 200], -0.5, 200),
        (&[599, 598], 3.0, 598),
        (&[256, 512], -4.0, 256),
        (&[], -5.0, 0), // all equal: the first
    ];
    let mut x = Vec::new();
    for (positions, value, _) in cases {
        let mut row = vec![-5.0f32; cols];
        for &p in *positions {
            row[p] = *value;
        }
        x.extend(row);
    }
    let got = run_argmax(&x, cases.len(), cols);
    let want: Vec<u32> = cases.iter().map(|c| c.2).collect();
    assert_eq!(got, want);
    assert_eq!(
        reference::argmax_rows(&common::to_f64(&x), cases.len(), cols),
        want
    );
}

#[test]
fn argmax_and_max_of_negative_rows() {
    let rows: &[&[f32]] = &[
        &[-3.0, -1.0, -1.0, -2.0],
        &[-1e30, -2e30, -1e-30, -0.5],
        &[-7.0, -7.5, -8.0, -7.0],
    ];
    let cols = 4;
    let x: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    assert_eq!(run_argmax(&x, rows.len(), cols), vec![1, 2, 0]);
    let got = run_rows(RowReduction::Max, &x, rows.len(), cols);
    assert_eq!(got, vec![-1.0, -1e-30, -7.0]);
}

/// NaN ranks above every number (np.max / np.argmax), in the sequential part and in the
/// tree; infinities are ordinary values.
#[test]
fn nan_wins_max_and_argmax_at_its_first_position() {
    let cols = 300;
    let mut x = vec![0.25f32; 4 * cols];
    x[10] = f32::NAN; // row 0: NaNs at 10 and 266 (both invocation 10) beat the 7
    x[266] = f32::NAN;
    x[100] = 7.0;
    x[cols + 290] = f32::NAN; // row 1: one NaN, in the wrapped part
    x[cols + 3] = f32::INFINITY;
    for v in &mut x[2 * cols..3 * cols] {
        *v = f32::NEG_INFINITY; // row 2: all -inf
    }
    x[3 * cols + 299] = f32::INFINITY; // row 3: +inf is the max
    let got = run_argmax(&x, 4, cols);
    assert_eq!(got, vec![10, 290, 0, 299]);
    assert_eq!(reference::argmax_rows(&common::to_f64(&x), 4, cols), got);
    let max = run_rows(RowReduction::Max, &x, 4, cols);
    assert!(max[0].is_nan() && max[1].is_nan(), "{max:?}");
    assert_eq!(&max[2..], &[f32::NEG_INFINITY, f32::INFINITY]);
    let sum = run_rows(RowReduction::Sum, &x, 4, cols);
    assert!(
        sum[0].is_nan() && sum[1].is_nan(),
        "sums propagate NaN: {sum:?}"
    );
}

#[test]
fn empty_rows_give_the_identities() {
    let x: Vec<f32> = Vec::new();
    assert_eq!(run_rows(RowReduction::Sum, &x, 3, 0), vec![0.0; 3]);
    assert_eq!(run_rows(RowReduction::SumSq, &x, 3, 0), vec![0.0; 3]);
    assert_eq!(
        run_rows(RowReduction::Max, &x, 3, 0),
        vec![f32::NEG_INFINITY; 3]
    );
    assert_eq!(run_argmax(&x, 3, 0), vec![u32::MAX; 3]);
}

#[test]
fn mismatched_shapes_are_errors_naming_them() {
    let reduce = Reduce::new(common::gpu()).unwrap();
    let x = common::zeros::<f32>(&[5, 9]);
    let out = common::zeros::<f32>(&[9]);
    let out_index = common::zeros::<u32>(&[4]);
    let vector = common::zeros::<f32>(&[45]);
    let mut batch = Batch::new(common::gpu());
    let sums = reduce.rows(&mut batch, RowReduction::Sum, &x, &out);
    common::assert_error_names(sums, &["[5, 9]", "[9]"]);
    let argmax = reduce.argmax_rows(&mut batch, &x, &out_index);
    common::assert_error_names(argmax, &["[5, 9]", "[4]"]);
    let max = reduce.rows(&mut batch, RowReduction::Max, &vector, &out);
    common::assert_error_names(max, &["[45]", "matrix"]);
}

/// The f64 instantiation on fresh f64 inputs: sums to the f32 bound in f64 ulps, max and
/// argmax exactly, and NaN ranked above every number as in f32.
#[test]
fn f64_every_reduction_and_argmax_match_reference() {
    if common::skip_without_f64() {
        return;
    }
    for &(rows, cols) in SHAPES {
        let what = format!("reduce f64 {rows}x{cols}");
        let mut rng = common::rng(&what);
        let mut x: Vec<f64> = common::random_real(&mut rng, rows * cols);
        for kind in RowReduction::ALL {
            let got = run_rows(kind, &x, rows, cols);
            let want = reference::reduce_rows(kind.name(), &x, rows, cols);
            let (rel, atol) = match kind {
                RowReduction::Max => (0.0, 0.0),
                _ => (1e-13, common::F64_OVER_F32 * sum_atol(cols)),
            };
            common::assert_close_real(
                &format!("{what} {}", kind.name()),
                &got,
                &want,
                rel,
                atol,
                0.0,
            );
        }
        assert_eq!(
            run_argmax(&x, rows, cols),
            reference::argmax_rows(&x, rows, cols),
            "{what} argmax"
        );
        // A NaN in the last row wins max and argmax there.
        let at = (rows - 1) * cols + cols / 2;
        x[at] = f64::NAN;
        let max = run_rows(RowReduction::Max, &x, rows, cols);
        assert!(
            max[rows - 1].is_nan(),
            "{what}: max with a NaN is {}",
            max[rows - 1]
        );
        assert_eq!(
            run_argmax(&x, rows, cols)[rows - 1],
            (cols / 2) as u32,
            "{what} argmax NaN"
        );
    }
}
