//! f64 CPU references, named after the engine's ops.

/// C = alpha * op(A) * op(B) + beta * C, row-major, op given by the transposes.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    trans_a: bool,
    trans_b: bool,
    m: usize,
    n: usize,
    k: usize,
    alpha: f64,
    a: &[f64],
    b: &[f64],
    beta: f64,
    c: &[f64],
) -> Vec<f64> {
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0;
            for p in 0..k {
                let av = if trans_a { a[p * m + i] } else { a[i * k + p] };
                let bv = if trans_b { b[j * k + p] } else { b[p * n + j] };
                s += av * bv;
            }
            let prior = if beta != 0.0 {
                beta * c[i * n + j]
            } else {
                0.0
            };
            out[i * n + j] = alpha * s + prior;
        }
    }
    out
}

/// G = scale * X X^T for X of shape rows x cols.
pub fn gram(x: &[f64], rows: usize, cols: usize, scale: f64) -> Vec<f64> {
    let mut g = vec![0.0; rows * rows];
    for i in 0..rows {
        for j in 0..=i {
            let s: f64 = (0..cols).map(|p| x[i * cols + p] * x[j * cols + p]).sum();
            g[i * rows + j] = scale * s;
            g[j * rows + i] = scale * s;
        }
    }
    g
}
