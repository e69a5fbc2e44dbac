//! The NTK assembly kernels (shaders/ntk.wgsl, f32 and f64) against f64 references at
//! awkward sizes, outputs poisoned first: row repetition and the Hadamard accumulation.

use wideprobe::gpu::Batch;
use wideprobe::linalg::Real;
use wideprobe::ops::ntk::NtkOps;

use crate::common;

#[test]
fn repeat_rows_copies_each_row_k_times() {
    let op = NtkOps::new(common::gpu()).unwrap();
    for (rows, cols, k) in [(1, 1, 1), (7, 33, 10), (33, 7, 3), (130, 5, 2), (3, 300, 7)] {
        let mut rng = common::rng(&format!("repeat {rows}x{cols}x{k}"));
        let x = common::random_vec(&mut rng, rows * cols);
        let xt = common::upload(&[rows, cols], &x);
        let out = common::poisoned::<f32>(&[rows * k, cols]);
        common::launch(|b| op.repeat_rows(b, &xt, k, &out));
        let got = common::download(&out);
        for p in 0..rows * k {
            for j in 0..cols {
                assert_eq!(
                    got[p * cols + j],
                    x[(p / k) * cols + j],
                    "{rows}x{cols} k {k}: row {p} col {j}"
                );
            }
        }
    }
}

fn reference_accumulate(
    k0: &[f64], ga: &[f64], dd: &[f64], n: usize, k: usize, offset: f64,
) -> Vec<f64> {
    let order = n * k;
    (0..order * order)
        .map(|idx| {
            let (p, q) = (idx / order, idx % order);
            k0[idx] + (ga[(p / k) * n + q / k] + offset) * dd[idx]
        })
        .collect()
}

/// K += (G_A ⊗ 1 1ᵀ + offset) ∘ D on the GPU in `T`, from the f32 inputs.
fn gpu_accumulate<T: Real>(
    op: &NtkOps, (ga, dd, k0): (&[f32], &[f32], &[f32]), n: usize, k: usize, offset: f64,
) -> Vec<f64> {
    let order = n * k;
    let rounded = |v: &[f32]| -> Vec<T> { v.iter().map(|&x| T::from_f64(x as f64)).collect() };
    let gat = common::upload(&[n, n], &rounded(ga));
    let ddt = common::upload(&[order, order], &rounded(dd));
    let kt = common::upload(&[order, order], &rounded(k0));
    common::launch(|b| op.accumulate(b, &gat, &ddt, k, offset, &kt));
    common::real_to_f64(&common::download(&kt))
}

#[test]
fn accumulate_matches_reference_f32_and_f64() {
    let gpu = common::gpu();
    let op = NtkOps::new(gpu).unwrap();
    for (n, k, offset) in [(1, 1, 0.0), (7, 10, 1.0), (13, 3, 0.0), (33, 4, 1.0)] {
        let what = format!("accumulate n {n} k {k} offset {offset}");
        let mut rng = common::rng(&what);
        let order = n * k;
        let ga = common::random_vec(&mut rng, n * n);
        let dd = common::random_vec(&mut rng, order * order);
        let k0 = common::random_vec(&mut rng, order * order);
        let want = reference_accumulate(
            &common::to_f64(&k0),
            &common::to_f64(&ga),
            &common::to_f64(&dd),
            n,
            k,
            offset,
        );
        let inputs = (&ga[..], &dd[..], &k0[..]);
        let got = gpu_accumulate::<f32>(&op, inputs, n, k, offset);
        common::assert_close(&what, &got, &want, 1e-6, 1e-6, 1e-6);
        if gpu.has_f64() {
            let got = gpu_accumulate::<f64>(&op, inputs, n, k, offset);
            common::assert_close(&format!("{what} f64"), &got, &want, 1e-15, 1e-15, 1e-15);
        }
    }
}

#[test]
fn accumulate_rejects_mismatched_shapes() {
    let op = NtkOps::new(common::gpu()).unwrap();
    let ga = common::zeros::<f32>(&[3, 3]);
    let dd = common::zeros::<f32>(&[6, 6]);
    let kt = common::zeros::<f32>(&[6, 6]);
    let mut batch = Batch::new(common::gpu());
    let err = op.accumulate(&mut batch, &ga, &dd, 3, 0.0, &kt);
    common::assert_error_names(err, &["k = 3", "[6, 6]"]);
}
