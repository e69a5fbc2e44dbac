use wideprobe::gpu::{Batch, Tensor};
use wideprobe::linalg::Real;
use wideprobe::ops::gram::{Gram, SMALL_TILE_UP_TO};
use wideprobe::ops::matmul::{split_depth, MatmulVariant};

use crate::common::{self, reference};

/// (n, d): n straddles the 32- and 64-row tiles (1 tile, partial tiles, several tiles;
/// 32 x 32 tiles up to SMALL_TILE_UP_TO, 64 x 64 beyond), d the 16-deep slices; the last
/// four are deep enough for few tiles to be split over d.
const SHAPES: &[(usize, usize)] = &[
    (1, 1),
    (1, 33),
    (7, 130),
    (33, 7),
    (64, 16),
    (65, 17),
    (130, 33),
    (257, 300),
    (1, 600),
    (33, 1_031),
    (65, 513),
    (130, 5_000),
];

/// Output tiles of 64 x 64 on or above the diagonal of an n x n Gram matrix: what the
/// split over the depth follows, whichever tile runs.
fn upper_tiles(n: usize) -> usize {
    let t = n.div_ceil(64);
    t * (t + 1) / 2
}

/// The tiled kernels and, where the adapter has subgroups, the broadcast one: each test
/// below runs on both.
fn variants() -> Vec<Gram> {
    let gpu = common::gpu();
    let mut all = vec![Gram::with_broadcast(gpu, false).unwrap()];
    if MatmulVariant::Broadcast.available(gpu) {
        all.push(Gram::with_broadcast(gpu, true).unwrap());
    } else {
        eprintln!(
            "the broadcast Gram kernel skipped: {} has no subgroups",
            gpu.summary.name
        );
    }
    all
}

#[test]
fn deep_shapes_are_split() {
    for &(n, d) in &SHAPES[8..] {
        assert!(split_depth(upper_tiles(n), d).1 > 1, "{n}x{d}");
    }
}

/// An f64 network's features (f64 X, f64 sums), split over a deep d and not.
#[test]
fn f64_input_gram_matches_reference_split_or_not() {
    if common::skip_without_f64() {
        return;
    }
    for (gram, (n, d)) in variants()
        .iter()
        .flat_map(|g| [(33, 130), (65, 2_000), (130, 33), (32, 64)].map(|s| (g, s)))
    {
        let what = format!("gram {} f64 input {n}x{d}", gram.variant_name());
        let mut rng = common::rng(&what);
        let x: Vec<f64> = common::random_real(&mut rng, n * d);
        let (xt, g) = (
            common::upload(&[n, d], &x),
            common::poisoned::<f64>(&[n, n]),
        );
        common::launch(|b| gram.record(b, &xt, 0.25, &g));
        let got: Vec<f64> = common::download(&g);
        let want = reference::gram(&x, n, d, 0.25);
        // Products of f64 values round (unlike f32 ones): an entry that cancels to a
        // small value keeps an absolute error up to d u |x|² scale.
        let atol = d as f64 * f64::EPSILON * 0.25;
        common::assert_close(&what, &got, &want, 1e-13, atol, 1e-13);
        assert_exactly_symmetric(&what, &got, n);
    }
}

/// G = scale X Xᵀ of `x` [n, d] (f32) on the GPU, summed and stored in `T`, poisoned first.
fn gpu_gram<T: Real>(gram: &Gram, x: &[f32], (n, d): (usize, usize), scale: f64) -> Vec<T> {
    let (xt, g) = (common::upload(&[n, d], x), common::poisoned::<T>(&[n, n]));
    common::launch(|b| gram.record(b, &xt, scale, &g));
    common::download(&g)
}

/// G[i, j] and G[j, i] are the same bits: the kernel computes one and mirrors it.
fn assert_exactly_symmetric<T: Real>(what: &str, g: &[T], n: usize) {
    for i in 0..n {
        for j in 0..i {
            let (lower, upper) = (g[i * n + j].to_f64(), g[j * n + i].to_f64());
            assert_eq!(
                lower.to_bits(),
                upper.to_bits(),
                "{what}: G[{i},{j}] != G[{j},{i}]"
            );
        }
    }
}

/// The 32 x 32 tile (order SMALL_TILE_UP_TO) and the 64 x 64 one (one row more) give the
/// same bits where they overlap, unsplit and split over the depth (both orders split the
/// same way at d = 5000), in each precision of the sums.
fn both_tiles_give_the_same_bits<T: Real>() {
    let gram = Gram::with_broadcast(common::gpu(), false).unwrap();
    let mut rng = common::rng(&format!("gram tiles {}", T::NAME));
    let n = SMALL_TILE_UP_TO;
    for d in [40, 5_000] {
        let (small_split, large_split) = (
            split_depth(upper_tiles(n), d).1,
            split_depth(upper_tiles(n + 1), d).1,
        );
        assert_eq!(small_split, large_split, "d = {d}: the premise");
        let x = common::random_vec(&mut rng, (n + 1) * d);
        let scale = 1.0 / d as f64;
        let small = gpu_gram::<T>(&gram, &x[..n * d], (n, d), scale);
        let large = gpu_gram::<T>(&gram, &x, (n + 1, d), scale);
        for i in 0..n {
            for j in 0..n {
                let (a, b) = (small[i * n + j].to_f64(), large[i * (n + 1) + j].to_f64());
                assert_eq!(
                    a.to_bits(),
                    b.to_bits(),
                    "{} d = {d} ({small_split} splits): G[{i},{j}] {a:e} (order {n}) != {b:e} \
                     (order {})",
                    T::NAME,
                    n + 1
                );
            }
        }
    }
}

precision_tests!(both_tiles_give_the_same_bits);

/// `check(gram, what, x, (n, d))` for each variant and each of [`SHAPES`], on fresh
/// random f32 features.
fn each_variant_and_shape(name: &str, mut check: impl FnMut(&Gram, &str, &[f32], (usize, usize))) {
    let mut rng = common::rng(name);
    for gram in variants() {
        for &(n, d) in SHAPES {
            let what = format!("{name} {} {n}x{d}", gram.variant_name());
            let x = common::random_vec(&mut rng, n * d);
            check(&gram, &what, &x, (n, d));
        }
    }
}

#[test]
fn f32_gram_matches_reference_and_is_exactly_symmetric() {
    each_variant_and_shape("gram f32", |gram, what, x, (n, d)| {
        let scale = 1.0 / d as f32;
        let got = gpu_gram::<f32>(gram, x, (n, d), scale as f64);
        let want = reference::gram(&common::to_f64(x), n, d, scale as f64);
        let atol = 1e-6 * (d as f64).sqrt() * scale as f64 + 1e-7;
        common::assert_close_f32(what, &got, &want, 1e-5, atol, 1e-5);
        assert_exactly_symmetric(what, &got, n);
    });
}

#[test]
fn f64_gram_is_exact_to_f64_rounding() {
    if common::skip_without_f64() {
        return;
    }
    each_variant_and_shape("gram f64", |gram, what, x, (n, d)| {
        let got = gpu_gram::<f64>(gram, x, (n, d), 0.5);
        let want = reference::gram(&common::to_f64(x), n, d, 0.5);
        common::assert_close(what, &got, &want, 1e-13, 1e-14, 1e-13);
        assert_exactly_symmetric(what, &got, n);
    });
}

#[test]
fn f64_accumulation_resolves_what_f32_cannot() {
    // Rows sharing a large common component with tiny differences: the Gram matrix is
    // a huge constant plus a small structured part that f32 sums lose.
    if common::skip_without_f64() {
        return;
    }
    let gpu = common::gpu();
    let mut rng = common::rng("gram cancellation");
    let (n, d) = (33, 300);
    let noise = common::random_vec(&mut rng, n * d);
    let x: Vec<f32> = noise.iter().map(|e| 1.0 + 1e-3 * e).collect();
    let want = reference::gram(&common::to_f64(&x), n, d, 1.0);
    let xt = Tensor::from_slice(gpu, &[n, d], &x).unwrap();
    for gram in variants() {
        let (g32, g64) = (
            common::poisoned::<f32>(&[n, n]),
            common::poisoned::<f64>(&[n, n]),
        );
        common::launch(|b| {
            gram.record(b, &xt, 1.0, &g32)?;
            gram.record(b, &xt, 1.0, &g64)
        });
        // Error in the part that matters: G minus its mean (the common component).
        let centred_err = |got: &[f64]| {
            let mean = want.iter().sum::<f64>() / want.len() as f64;
            let num: f64 = got.iter().zip(&want).map(|(g, w)| (g - w).powi(2)).sum();
            let den: f64 = want.iter().map(|w| (w - mean).powi(2)).sum();
            (num / den).sqrt()
        };
        let e32 = centred_err(&common::to_f64(&g32.to_vec(gpu).unwrap()));
        let e64 = centred_err(&g64.to_vec(gpu).unwrap());
        let name = gram.variant_name();
        eprintln!(
            "{name}: relative error of the centred Gram matrix: f32 {e32:.1e}, f64 {e64:.1e}"
        );
        assert!(e64 < 1e-9, "{name}: f64 accumulation error {e64:e}");
        assert!(
            e32 > 1e3 * e64,
            "the f32 error {e32:e} should be far larger"
        );
    }
}

#[test]
fn zero_width_gives_zero_and_shape_errors_name_shapes() {
    for gram in variants() {
        let g = gpu_gram::<f32>(&gram, &[], (5, 0), 1.0);
        assert!(
            g.iter().all(|&v| v == 0.0),
            "{}: {g:?}",
            gram.variant_name()
        );
        let wrong = common::zeros::<f32>(&[4, 5]);
        let x = common::zeros::<f32>(&[5, 3]);
        let mut batch = Batch::new(common::gpu());
        let err = gram.record(&mut batch, &x, 1.0, &wrong);
        common::assert_error_names(err, &["[5, 3]", "[4, 5]"]);
    }
}
