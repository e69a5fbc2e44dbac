//! The NTK assembly kernels (shaders/ntk.wgsl, f32 and f64) against f64 references at
//! awkward sizes, outputs poisoned first: row repetition and the Hadamard accumulation.

use wideprobe::gpu::{Batch, Tensor};
use wideprobe::ops::ntk::NtkOps;

use crate::common;

#[test]
fn repeat_rows_copies_each_row_k_times() {
    let gpu = common::gpu();
    let op = NtkOps::new(gpu).unwrap();
    for (rows, cols, k) in [(1, 1, 1), (7, 33, 10), (33, 7, 3), (130, 5, 2), (3, 300, 7)] {
        let mut rng = common::rng(&format!("repeat {rows}x{cols}x{k}"));
        let x = common::random_vec(&mut rng, rows * cols);
        let xt = Tensor::from_slice(gpu, &[rows, cols], &x).unwrap();
        let out = Tensor::<f32>::zeros(gpu, &[rows * k, cols]).unwrap();
        out.poison(gpu).unwrap();
        let mut batch = Batch::new(gpu);
        op.repeat_rows(&mut batch, &xt, k, &out).unwrap();
        batch.submit().unwrap();
        let got = out.to_vec(gpu).unwrap();
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
    k0: &[f64],
    ga: &[f64],
    dd: &[f64],
    n: usize,
    k: usize,
    offset: f64,
) -> Vec<f64> {
    let order = n * k;
    (0..order * order)
        .map(|idx| {
            let (p, q) = (idx / order, idx % order);
            k0[idx] + (ga[(p / k) * n + q / k] + offset) * dd[idx]
        })
        .collect()
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
        let gat = Tensor::from_slice(gpu, &[n, n], &ga).unwrap();
        let ddt = Tensor::from_slice(gpu, &[order, order], &dd).unwrap();
        let kt = Tensor::from_slice(gpu, &[order, order], &k0).unwrap();
        let mut batch = Batch::new(gpu);
        op.accumulate(&mut batch, &gat, &ddt, k, offset, &kt)
            .unwrap();
        batch.submit().unwrap();
        common::assert_close_f32(&what, &kt.to_vec(gpu).unwrap(), &want, 1e-6, 1e-6, 1e-6);
        if gpu.has_f64() {
            let to64 = |v: &[f32]| common::to_f64(v);
            let gat = Tensor::from_slice(gpu, &[n, n], &to64(&ga)).unwrap();
            let ddt = Tensor::from_slice(gpu, &[order, order], &to64(&dd)).unwrap();
            let kt = Tensor::from_slice(gpu, &[order, order], &to64(&k0)).unwrap();
            let mut batch = Batch::new(gpu);
            op.accumulate(&mut batch, &gat, &ddt, k, offset, &kt)
                .unwrap();
            batch.submit().unwrap();
            common::assert_close(
                &format!("{what} f64"),
                &kt.to_vec(gpu).unwrap(),
                &want,
                1e-15,
                1e-15,
                1e-15,
            );
        }
    }
}

#[test]
fn accumulate_rejects_mismatched_shapes() {
    let gpu = common::gpu();
    let op = NtkOps::new(gpu).unwrap();
    let ga = Tensor::<f32>::zeros(gpu, &[3, 3]).unwrap();
    let dd = Tensor::<f32>::zeros(gpu, &[6, 6]).unwrap();
    let kt = Tensor::<f32>::zeros(gpu, &[6, 6]).unwrap();
    let mut batch = Batch::new(gpu);
    let err = op
        .accumulate(&mut batch, &ga, &dd, 3, 0.0, &kt)
        .unwrap_err()
        .to_string();
    assert!(err.contains("k = 3") && err.contains("[6, 6]"), "{err}");
}
