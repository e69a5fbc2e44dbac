use rand::Rng;
use wideprobe::gpu::kernel::parse_and_validate;
use wideprobe::gpu::{Batch, Shader, Tensor};
use wideprobe::linalg::Real;
use wideprobe::ops::shaders;
use wideprobe::ops::vector::{GemvSplit, VectorOps, GEMV_ROWS_PER_GROUP, GEMV_ROW_LANES};

use crate::common::{self, reference};

/// Lengths that are not multiples of the 256-invocation workgroup.
const LENGTHS: &[usize] = &[1, 7, 33, 130, 300];

/// Invocations per workgroup in shaders/vector.wgsl.
const WG: usize = 256;

/// Machine epsilon of `T` (twice its unit roundoff).
fn eps<T: Real>() -> f64 {
    2.0 * T::UNIT_ROUNDOFF
}

/// Relative Frobenius error allowed on top of the elementwise rounding bound.
fn rel<T: Real>() -> f64 {
    if T::NEEDS_F64 {
        1e-13
    } else {
        1e-5
    }
}

/// The ops for T, or None (with a check that the error is clear) when the adapter
/// lacks SHADER_F64. lavapipe has it, so on CI the f64 tests run.
fn ops<T: Real>() -> Option<VectorOps<T>> {
    let gpu = common::gpu();
    match VectorOps::<T>::new(gpu) {
        Ok(ops) => Some(ops),
        Err(e) if !gpu.has_f64() && T::NAME == "f64" => {
            let msg = e.to_string();
            assert!(msg.contains("SHADER_F64"), "{msg}");
            eprintln!("skipping f64 on {}: {msg}", gpu.summary.name);
            None
        }
        Err(e) => panic!("VectorOps<{}>::new: {e:#}", T::NAME),
    }
}

/// Uniform in [-1, 1), rounded to T; the f64 copy holds exactly the rounded values.
fn random<T: Real>(rng: &mut impl Rng, len: usize) -> (Vec<T>, Vec<f64>) {
    let v: Vec<T> = (0..len)
        .map(|_| T::from_f64(rng.random_range(-1.0..1.0)))
        .collect();
    let w = v.iter().map(|x| x.to_f64()).collect();
    (v, w)
}

/// `data` as a vector on the GPU.
fn upload<T: Real>(data: &[T]) -> Tensor<T> {
    common::upload(&[data.len()], data)
}

fn download<T: Real>(t: &Tensor<T>) -> Vec<f64> {
    t.to_vec(common::gpu())
        .unwrap()
        .into_iter()
        .map(T::to_f64)
        .collect()
}

/// Compares with the worst-case rounding bound of a sum whose longest chain of
/// additions is `depth` and whose terms add up to at most `abs_sum` in magnitude:
/// |error| <= depth * eps * abs_sum (Higham, Accuracy and Stability, ch. 4), elementwise.
/// On top, the relative Frobenius error must be below rel::<T>() times the condition number
/// abs_sum / |want| (cancellation in a dot product of random vectors can make |want|
/// small): typical errors sit far below the bound, which grows with the length.
fn check<T: Real>(what: &str, got: &[f64], want: &[f64], depth: usize, abs_sum: f64) {
    let atol = (depth as f64 + 2.0) * eps::<T>() * abs_sum.max(1.0);
    let norm = want.iter().map(|w| w * w).sum::<f64>().sqrt();
    let condition = (abs_sum * (want.len() as f64).sqrt() / norm).max(1.0);
    let rel = rel::<T>() * condition;
    common::assert_close(&format!("{what} ({})", T::NAME), got, want, rel, atol, 0.0);
}

/// Longest addition chain of a two-stage dot product of length n on this adapter.
fn dot_depth<T: Real>(ops: &VectorOps<T>, n: usize) -> usize {
    n.div_ceil(ops.partials(n) * WG) + 8 + 10
}

fn axpy_matches_reference<T: Real>() {
    let Some(ops) = ops::<T>() else { return };
    for &n in LENGTHS {
        for alpha in [-0.75, 2.5] {
            let mut rng = common::rng(&format!("axpy {} {n}", T::NAME));
            let (x, x64) = random::<T>(&mut rng, n);
            let (y, y64) = random::<T>(&mut rng, n);
            let (x, y) = (upload(&x), upload(&y));
            common::launch(|b| ops.axpy(b, alpha, &x, &y));
            let want = reference::axpy(alpha, &x64, &y64);
            check::<T>(
                &format!("axpy n {n} alpha {alpha}"),
                &download(&y),
                &want,
                1,
                4.0,
            );
        }
    }
}

precision_tests!(axpy_matches_reference);

fn scale_and_copy_match_reference<T: Real>() {
    let Some(ops) = ops::<T>() else { return };
    for &n in LENGTHS {
        let mut rng = common::rng(&format!("scale {} {n}", T::NAME));
        let (x, x64) = random::<T>(&mut rng, n);
        for alpha in [-1.5, 0.0] {
            let v = upload(&x);
            let copy = common::poisoned::<T>(&[n]);
            common::launch(|b| {
                ops.scale(b, alpha, &v)?;
                ops.copy(b, &v, &copy)
            });
            let want: Vec<f64> = x64.iter().map(|v| alpha * v).collect();
            check::<T>(
                &format!("scale n {n} alpha {alpha}"),
                &download(&v),
                &want,
                1,
                2.0,
            );
            // A copy is exact.
            common::assert_close(
                &format!("copy n {n} ({})", T::NAME),
                &download(&copy),
                &download(&v),
                0.0,
                0.0,
                0.0,
            );
        }
    }
}

precision_tests!(scale_and_copy_match_reference);

fn dot_and_nrm2_match_reference<T: Real>() {
    let Some(ops) = ops::<T>() else { return };
    // The long ones take several workgroups, each summing many elements in sequence on
    // CPU adapters (ops::vector::dot_partials).
    for &n in LENGTHS.iter().chain(&[100_000, 1_000_003]) {
        let mut rng = common::rng(&format!("dot {} {n}", T::NAME));
        let (x, x64) = random::<T>(&mut rng, n);
        let (y, y64) = random::<T>(&mut rng, n);
        let (x, y) = (upload(&x), upload(&y));
        let dot = common::poisoned::<T>(&[1]);
        let dot_xx = common::poisoned::<T>(&[1]);
        let norm = common::poisoned::<T>(&[1]);
        // Three two-stage reductions in one batch share the scratch partials.
        common::launch(|b| {
            ops.dot(b, &x, &y, &dot)?;
            ops.dot(b, &x, &x, &dot_xx)?;
            ops.nrm2(b, &y, &norm)
        });
        let abs_sum: f64 = x64.iter().zip(&y64).map(|(a, b)| (a * b).abs()).sum();
        let depth = dot_depth(&ops, n);
        check::<T>(
            &format!("dot n {n}"),
            &download(&dot),
            &[reference::dot(&x64, &y64)],
            depth,
            abs_sum,
        );
        let sq = reference::dot(&x64, &x64);
        check::<T>(
            &format!("dot(x, x) n {n}"),
            &download(&dot_xx),
            &[sq],
            depth,
            sq,
        );
        // sqrt halves the relative error of the sum of squares.
        let want = reference::nrm2(&y64);
        check::<T>(
            &format!("nrm2 n {n}"),
            &download(&norm),
            &[want],
            depth,
            want,
        );
    }
}

precision_tests!(dot_and_nrm2_match_reference);

#[test]
fn dot_and_nrm2_of_empty_vectors_are_zero() {
    let Some(ops) = ops::<f64>() else { return };
    let gpu = common::gpu();
    let x = Tensor::<f64>::zeros(gpu, &[0]).unwrap();
    let y = Tensor::<f64>::zeros(gpu, &[0]).unwrap();
    let (dot, norm) = (common::poisoned::<f64>(&[1]), common::poisoned::<f64>(&[1]));
    common::launch(|b| {
        ops.dot(b, &x, &y, &dot)?;
        ops.nrm2(b, &x, &norm)
    });
    assert_eq!((download(&dot), download(&norm)), (vec![0.0], vec![0.0]));
}

/// The f64 shader takes square roots by Newton's method from an f32 guess after scaling
/// into f32's range: check sums of squares far outside it, and 0.
#[test]
fn nrm2_f64_is_accurate_far_outside_f32_range() {
    let Some(ops) = ops::<f64>() else { return };
    let mut rng = common::rng("nrm2 f64 scales");
    let (_, base) = random::<f64>(&mut rng, 130);
    for scale in [1e-150, 1e-60, 1e-20, 1.0, 1e20, 1e60, 1e150] {
        let x: Vec<f64> = base.iter().map(|v| v * scale).collect();
        let out = common::poisoned::<f64>(&[1]);
        common::launch(|b| ops.nrm2(b, &upload(&x), &out));
        let want = reference::nrm2(&base) * scale;
        let got = download(&out)[0];
        let rel = (got - want).abs() / want;
        eprintln!("nrm2 f64 at scale {scale:e}: relative error {rel:.2e}");
        assert!(rel < 1e-14, "scale {scale:e}: got {got:e} want {want:e}");
    }
    let (zero, out) = (upload(&[0.0f64; 7]), common::poisoned::<f64>(&[1]));
    common::launch(|b| ops.nrm2(b, &zero, &out));
    assert_eq!(download(&out), vec![0.0]);
}

/// (m, rows, n): rows < m and rows = m, n and rows on both sides of the workgroup.
const GEMV_SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (7, 5, 33),
    (33, 33, 7),
    (130, 129, 300),
    (300, 257, 130),
    (33, 0, 7),
];

#[allow(clippy::too_many_arguments)]
fn check_gemv<T: Real>(
    ops: &VectorOps<T>, split: GemvSplit, trans: bool, m: usize, rows: usize, n: usize, alpha: f64,
    beta: f64,
) {
    let gpu = common::gpu();
    let what =
        format!("gemv {split:?} trans {trans} A {m}x{n} rows {rows} alpha {alpha} beta {beta}");
    let mut rng = common::rng(&what);
    let (x_len, y_len) = if trans { (m, n) } else { (n, m) };
    let (mut a, mut a64) = random::<T>(&mut rng, m * n);
    let (mut x, mut x64) = random::<T>(&mut rng, x_len);
    let (mut y, mut y64) = random::<T>(&mut rng, y_len);
    // The rows of A past `rows`, and of x when transposed, must not be read: poison them.
    for i in rows * n..m * n {
        a[i] = T::poison();
        a64[i] = f64::NAN;
    }
    if trans {
        for i in rows..m {
            x[i] = T::poison();
            x64[i] = f64::NAN;
        }
    }
    // With beta = 0, y must not be read.
    if beta == 0.0 {
        y.iter_mut().for_each(|v| *v = T::poison());
        y64.iter_mut().for_each(|v| *v = f64::NAN);
    }
    let a_t = Tensor::from_slice(gpu, &[m, n], &a).unwrap();
    let (x_t, y_t) = (upload(&x), upload(&y));
    common::launch(|b| ops.gemv(b, trans, rows, alpha, &a_t, &x_t, beta, &y_t));
    let got = download(&y_t);
    let want = reference::gemv(trans, rows, n, alpha, &a64, &x64, beta, &y64);
    // Each output's sum: a sequential part per invocation, then the tree (8 levels) or
    // the row's lanes in order.
    let (outputs, depth, len) = match (trans, split) {
        (true, _) => (n, rows, rows),
        (false, GemvSplit::WorkgroupPerRow) => (rows, n.div_ceil(WG) + 8, n),
        (false, GemvSplit::RowsPerWorkgroup) => {
            (rows, n.div_ceil(GEMV_ROW_LANES) + GEMV_ROW_LANES, n)
        }
    };
    check::<T>(
        &what,
        &got[..outputs],
        &want[..outputs],
        depth + 2,
        alpha.abs() * len as f64 + beta.abs(),
    );
    // y past the written part is untouched (bitwise: it may be poison).
    let rest_same = got[outputs..]
        .iter()
        .zip(&y64[outputs..])
        .all(|(g, w)| g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()));
    assert!(rest_same, "{what}: y past row {outputs} changed");
}

/// Both transposes, and both splits of the rows (the device picks one; each must be
/// right on any device).
fn gemv_both_transposes_match_reference<T: Real>() {
    if ops::<T>().is_none() {
        return;
    }
    for split in [GemvSplit::WorkgroupPerRow, GemvSplit::RowsPerWorkgroup] {
        let ops = VectorOps::<T>::with_gemv_split(common::gpu(), split).unwrap();
        for trans in [false, true] {
            for &(m, rows, n) in GEMV_SHAPES {
                check_gemv(&ops, split, trans, m, rows, n, 1.0, 0.0);
                check_gemv(&ops, split, trans, m, rows, n, -0.5, 0.75);
                check_gemv(&ops, split, trans, m, rows, n, 2.0, 1.0);
            }
        }
    }
    // More workgroups than one grid dimension holds (65,535; grid_1d lays them out in
    // two): the rows split only, a workgroup per row would take minutes on lavapipe.
    let rows = 65_536 * GEMV_ROWS_PER_GROUP + 33;
    let ops = VectorOps::<T>::with_gemv_split(common::gpu(), GemvSplit::RowsPerWorkgroup).unwrap();
    check_gemv(
        &ops,
        GemvSplit::RowsPerWorkgroup,
        false,
        rows,
        rows,
        3,
        1.0,
        0.0,
    );
}

precision_tests!(gemv_both_transposes_match_reference);

fn set_and_get_row_are_exact<T: Real>() {
    let Some(ops) = ops::<T>() else { return };
    let gpu = common::gpu();
    for &(m, n) in &[(1, 1), (7, 33), (33, 7), (5, 300), (3, 130)] {
        for row in [0, m / 2, m - 1] {
            let mut rng = common::rng(&format!("set_row {} {m}x{n} row {row}", T::NAME));
            let (a, a64) = random::<T>(&mut rng, m * n);
            let (x, x64) = random::<T>(&mut rng, n);
            let a_t = Tensor::from_slice(gpu, &[m, n], &a).unwrap();
            let x_t = upload(&x);
            let back = common::poisoned::<T>(&[n]);
            common::launch(|b| {
                ops.set_row(b, &a_t, row, &x_t)?;
                ops.get_row(b, &a_t, row, &back)
            });
            let mut want = a64.clone();
            want[row * n..(row + 1) * n].copy_from_slice(&x64);
            let what = format!("set_row {m}x{n} row {row} ({})", T::NAME);
            common::assert_close(&what, &download(&a_t), &want, 0.0, 0.0, 0.0);
            let what = format!("get_row {m}x{n} row {row} ({})", T::NAME);
            common::assert_close(&what, &download(&back), &x64, 0.0, 0.0, 0.0);
        }
    }
}

precision_tests!(set_and_get_row_are_exact);

/// div_scalar, axpy_scalar (both signs) and normalize read their scalar from a device
/// buffer at `index`: one rounding per element against the f64 reference, and normalize
/// stores its result as row `row` of A with the other rows untouched.
fn device_scalar_ops_match_reference<T: Real>() {
    let Some(ops) = ops::<T>() else { return };
    let gpu = common::gpu();
    let (scalars, index) = ([0.5, -1.75, 3.0].map(T::from_f64), 1);
    let c = scalars[index].to_f64();
    let s = upload(&scalars);
    for &n in LENGTHS {
        let mut rng = common::rng(&format!("device scalar {} {n}", T::NAME));
        let (x, x64) = random::<T>(&mut rng, n);
        let (y, y64) = random::<T>(&mut rng, n);
        let (a, a64) = random::<T>(&mut rng, 3 * n);
        let x = upload(&x);
        let (div, plus, minus) = (common::poisoned::<T>(&[n]), upload(&y), upload(&y));
        let (q, a_t) = (
            common::poisoned::<T>(&[n]),
            Tensor::from_slice(gpu, &[3, n], &a).unwrap(),
        );
        common::launch(|b| {
            ops.div_scalar(b, &x, &s, index, &div)?;
            ops.axpy_scalar(b, &x, &s, index, false, &plus)?;
            ops.axpy_scalar(b, &x, &s, index, true, &minus)?;
            ops.normalize(b, &x, &s, index, &q, &a_t, 2)
        });
        let quotient: Vec<f64> = x64.iter().map(|v| v / c).collect();
        check::<T>(
            &format!("div_scalar n {n}"),
            &download(&div),
            &quotient,
            1,
            1.0,
        );
        let want = reference::axpy(c, &x64, &y64);
        check::<T>(
            &format!("axpy_scalar n {n}"),
            &download(&plus),
            &want,
            1,
            4.0,
        );
        let want = reference::axpy(-c, &x64, &y64);
        check::<T>(
            &format!("axpy_scalar negated n {n}"),
            &download(&minus),
            &want,
            1,
            4.0,
        );
        check::<T>(
            &format!("normalize n {n}"),
            &download(&q),
            &quotient,
            1,
            1.0,
        );
        let mut want = a64.clone();
        want[2 * n..].copy_from_slice(&download(&q));
        let what = format!("normalize row 2 of 3x{n} ({})", T::NAME);
        common::assert_close(&what, &download(&a_t), &want, 0.0, 0.0, 0.0);
    }
}

precision_tests!(device_scalar_ops_match_reference);

/// The Lanczos use: orthonormalise random vectors against the rows of V with two passes
/// of classical Gram-Schmidt (h = V[0..j] w, w -= V[0..j]^T h), normalise, store as
/// row j. The rows must come out orthonormal to f64 rounding.
#[test]
fn gram_schmidt_with_gemv_gives_orthonormal_rows_f64() {
    let Some(ops) = ops::<f64>() else { return };
    let gpu = common::gpu();
    let (m, n) = (12, 130);
    let mut rng = common::rng("gram schmidt f64");
    let v = Tensor::<f64>::zeros(gpu, &[m, n]).unwrap();
    v.poison(gpu).unwrap(); // rows not yet written must never be read
    let h = Tensor::<f64>::zeros(gpu, &[m]).unwrap();
    let norm = Tensor::<f64>::zeros(gpu, &[1]).unwrap();
    for j in 0..m {
        let (w, _) = random::<f64>(&mut rng, n);
        let w = upload(&w);
        let mut batch = Batch::new(gpu);
        for _ in 0..2 {
            ops.gemv(&mut batch, false, j, 1.0, &v, &w, 0.0, &h)
                .unwrap();
            ops.gemv(&mut batch, true, j, -1.0, &v, &h, 1.0, &w)
                .unwrap();
        }
        ops.nrm2(&mut batch, &w, &norm).unwrap();
        batch.submit().unwrap();
        let r = download(&norm)[0];
        common::launch(|b| {
            ops.scale(b, 1.0 / r, &w)?;
            ops.set_row(b, &v, j, &w)
        });
    }
    let v = download(&v);
    let mut worst = 0.0f64;
    for i in 0..m {
        for k in 0..m {
            let d = reference::dot(&v[i * n..(i + 1) * n], &v[k * n..(k + 1) * n]);
            worst = worst.max((d - if i == k { 1.0 } else { 0.0 }).abs());
        }
    }
    eprintln!("gram schmidt f64: max |V V^T - I| = {worst:.2e}");
    assert!(worst < 1e-13, "max |V V^T - I| = {worst:e}");
}

#[test]
fn mismatched_shapes_are_errors_naming_them() {
    let Some(ops) = ops::<f32>() else { return };
    let gpu = common::gpu();
    let z = |shape: &[usize]| Tensor::<f32>::zeros(gpu, shape).unwrap();
    let (x7, y8, out2, a) = (z(&[7]), z(&[8]), z(&[2]), z(&[5, 7]));
    let (x5, y5, one) = (z(&[5]), z(&[5]), z(&[1]));
    let mut b = Batch::new(gpu);
    let errors = [
        (ops.axpy(&mut b, 1.0, &x7, &y8), &["[7]", "[8]"][..]),
        (ops.copy(&mut b, &x7, &y8), &["[7]", "[8]"]),
        (ops.dot(&mut b, &x7, &y8, &one), &["[7]", "[8]"]),
        (ops.dot(&mut b, &x7, &x7, &out2), &["[2]"]),
        (ops.nrm2(&mut b, &x7, &out2), &["[2]"]),
        (
            ops.gemv(&mut b, false, 6, 1.0, &a, &x7, 0.0, &y8),
            &["rows = 6", "[5, 7]"],
        ),
        (
            ops.gemv(&mut b, false, 5, 1.0, &a, &x5, 0.0, &y5),
            &["[5, 7]", "[5]"],
        ),
        (
            ops.gemv(&mut b, false, 5, 1.0, &a, &x7, 0.0, &one),
            &["[5, 7]", "[1]"],
        ),
        (
            ops.gemv(&mut b, true, 5, 1.0, &a, &x7, 0.0, &y8),
            &["[5, 7]", "[7]", "[8]"],
        ),
        (
            ops.gemv(&mut b, true, 3, 1.0, &a, &one, 0.0, &x7),
            &["[5, 7]", "[1]"],
        ),
        (ops.set_row(&mut b, &a, 5, &x7), &["row 5", "[5, 7]"]),
        (ops.get_row(&mut b, &a, 0, &y8), &["[5, 7]", "[8]"]),
        (
            ops.gemv(&mut b, false, 1, 1.0, &a, &x7, 0.0, &a),
            &["same tensor"],
        ),
        (ops.axpy(&mut b, 1.0, &x7, &x7), &["same tensor"]),
        (ops.div_scalar(&mut b, &x7, &out2, 2, &y8), &["[7]", "[8]"]),
        (
            ops.div_scalar(&mut b, &x5, &out2, 2, &y5),
            &["index 2", "[2]"],
        ),
        (
            ops.axpy_scalar(&mut b, &x5, &y5, 0, true, &y5),
            &["same tensor"],
        ),
        (
            ops.normalize(&mut b, &x7, &one, 0, &x7, &a, 5),
            &["row 5", "[5, 7]"],
        ),
        (
            ops.normalize(&mut b, &x7, &one, 0, &y8, &a, 4),
            &["[7]", "[8]"],
        ),
    ];
    for (i, (result, needles)) in errors.into_iter().enumerate() {
        let err = result
            .expect_err(&format!("case {i} should fail"))
            .to_string();
        for needle in needles {
            assert!(err.contains(needle), "case {i}: `{needle}` not in: {err}");
        }
    }
}

/// The f32 and f64 instantiations of the one body expose the same entry points, each
/// binding the same names in the same order, so one host wrapper drives both.
#[test]
fn f32_and_f64_shaders_have_the_same_interface() {
    let interface = |shader: &Shader| {
        let (module, _) = parse_and_validate(shader, naga::valid::Capabilities::all()).unwrap();
        let globals: Vec<(Option<u32>, Option<String>)> = module
            .global_variables
            .iter()
            .map(|(_, g)| (g.binding.as_ref().map(|b| b.binding), g.name.clone()))
            .collect();
        let entries: Vec<String> = module.entry_points.iter().map(|e| e.name.clone()).collect();
        (entries, globals)
    };
    assert_eq!(
        interface(&shaders::VECTOR.f32),
        interface(&shaders::VECTOR.f64)
    );
}

/// The length the two-stage reduction is sized for: MAX_PARTIALS workgroups, each
/// invocation summing ~100 products in sequence on a GPU (~128 on CPU adapters,
/// `dot_partials`). f64 is capped at the adapter's binding limit (16.7 million
/// on lavapipe's 128 MiB). Ignored by default (seconds on lavapipe):
/// `cargo test --test engine -- --ignored dot_of_25_million`.
#[test]
#[ignore]
fn dot_of_25_million_elements_is_accurate() {
    fn run<T: Real>() {
        let Some(ops) = ops::<T>() else { return };
        let gpu = common::gpu();
        let fits = gpu.max_binding_bytes() as usize / std::mem::size_of::<T>();
        let n = fits.min(25_000_000);
        let mut rng = common::rng(&format!("dot {n} {}", T::NAME));
        let (x, x64) = random::<T>(&mut rng, n);
        let (y, y64) = random::<T>(&mut rng, n);
        let (x, y) = (upload(&x), upload(&y));
        let out = common::poisoned::<T>(&[1]);
        common::launch(|b| ops.dot(b, &x, &y, &out));
        let want = reference::dot(&x64, &y64);
        let abs_sum: f64 = x64.iter().zip(&y64).map(|(a, b)| (a * b).abs()).sum();
        check::<T>(
            &format!("dot n {n}"),
            &download(&out),
            &[want],
            dot_depth(&ops, n),
            abs_sum,
        );
    }
    run::<f32>();
    run::<f64>();
}
