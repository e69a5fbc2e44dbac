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

/// Per-row reduction of X (rows x cols): "sum", "sum_sq" or "max" (engine::ops::reduce).
/// max ranks NaN above every number, like np.max; an empty row gives -inf.
pub fn reduce_rows(kind: &str, x: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    (0..rows)
        .map(|i| {
            let row = &x[i * cols..(i + 1) * cols];
            match kind {
                "sum" => row.iter().sum(),
                "sum_sq" => row.iter().map(|v| v * v).sum(),
                "max" => row.iter().fold(f64::NEG_INFINITY, |m, &v| {
                    if m.is_nan() || v.is_nan() {
                        f64::NAN
                    } else {
                        m.max(v)
                    }
                }),
                _ => panic!("unknown row reduction {kind}"),
            }
        })
        .collect()
}

/// Index of the largest element of each row, the first on ties; NaN beats every
/// number (np.argmax). An empty row gives u32::MAX.
pub fn argmax_rows(x: &[f64], rows: usize, cols: usize) -> Vec<u32> {
    (0..rows)
        .map(|i| {
            let row = &x[i * cols..(i + 1) * cols];
            let mut best: Option<usize> = None;
            for (j, &v) in row.iter().enumerate() {
                let better = match best {
                    None => true,
                    Some(b) => !row[b].is_nan() && (v.is_nan() || v > row[b]),
                };
                if better {
                    best = Some(j);
                }
            }
            best.map_or(u32::MAX, |b| b as u32)
        })
        .collect()
}

/// y + alpha x.
pub fn axpy(alpha: f64, x: &[f64], y: &[f64]) -> Vec<f64> {
    x.iter().zip(y).map(|(a, b)| b + alpha * a).collect()
}

/// x . y, as accurate as if computed in twice f64's precision (Dot2 of Ogita, Rump and
/// Oishi, 2005: exact products by FMA, error-free additions), so that it can referee
/// f64 GPU sums of 1e5 terms, whose rounding a plain f64 loop would match.
pub fn dot(x: &[f64], y: &[f64]) -> f64 {
    let (mut sum, mut err) = (0.0f64, 0.0f64);
    for (a, b) in x.iter().zip(y) {
        let p = a * b;
        let p_err = a.mul_add(*b, -p);
        let t = sum + p;
        let z = t - sum;
        err += (sum - (t - z)) + (p - z) + p_err;
        sum = t;
    }
    sum + err
}

/// ||x||_2
pub fn nrm2(x: &[f64]) -> f64 {
    dot(x, x).sqrt()
}

/// gemv on the first `rows` rows of A (m x n, row-major), as engine::ops::vector:
/// trans = false: y[0..rows] = alpha A[0..rows] x + beta y[0..rows] (rest of y unchanged);
/// trans = true:  y = alpha A[0..rows]^T x[0..rows] + beta y.
/// With beta = 0, y is not read.
#[allow(clippy::too_many_arguments)]
pub fn gemv(
    trans: bool,
    rows: usize,
    n: usize,
    alpha: f64,
    a: &[f64],
    x: &[f64],
    beta: f64,
    y: &[f64],
) -> Vec<f64> {
    let mut out = y.to_vec();
    let outputs = if trans { n } else { rows };
    let depth = if trans { rows } else { n };
    for (i, o) in out.iter_mut().enumerate().take(outputs) {
        let s = if trans {
            let column: Vec<f64> = (0..depth).map(|p| a[p * n + i]).collect();
            dot(&column, &x[..depth])
        } else {
            dot(&a[i * n..(i + 1) * n], &x[..depth])
        };
        let prior = if beta != 0.0 { beta * *o } else { 0.0 };
        *o = alpha * s + prior;
    }
    out
}
