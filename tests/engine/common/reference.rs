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

/// phi(z) for the activation called `name` (MEASUREMENTS section 2), from the formulas.
pub fn activation(name: &str, z: f64) -> f64 {
    let pi = std::f64::consts::PI;
    match name {
        "relu" => z.max(0.0),
        "tanh" => z.tanh(),
        "relu_normalized" => {
            (z.max(0.0) - 1.0 / (2.0 * pi).sqrt()) / (0.5 - 1.0 / (2.0 * pi)).sqrt()
        }
        "tanh_normalized" => z.tanh() / 0.394294490397841f64.sqrt(),
        _ => panic!("no reference for activation {name}"),
    }
}

/// phi'(z) for the activation called `name`; 0 at the relu kink z = 0.
pub fn activation_derivative(name: &str, z: f64) -> f64 {
    let pi = std::f64::consts::PI;
    let step = if z > 0.0 { 1.0 } else { 0.0 };
    match name {
        "relu" => step,
        "tanh" => 1.0 - z.tanh().powi(2),
        "relu_normalized" => step / (0.5 - 1.0 / (2.0 * pi)).sqrt(),
        "tanh_normalized" => (1.0 - z.tanh().powi(2)) / 0.394294490397841f64.sqrt(),
        _ => panic!("no reference for activation {name}"),
    }
}

/// ||x_i|| for every row of the rows x cols matrix x.
pub fn row_norms(x: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    (0..rows)
        .map(|i| {
            x[i * cols..(i + 1) * cols]
                .iter()
                .map(|v| v * v)
                .sum::<f64>()
                .sqrt()
        })
        .collect()
}

/// y_i = x_i * target / norms[i].
pub fn renormalize(x: &[f64], norms: &[f64], rows: usize, cols: usize, target: f64) -> Vec<f64> {
    let mut y = vec![0.0; rows * cols];
    for i in 0..rows {
        for j in 0..cols {
            y[i * cols + j] = x[i * cols + j] * target / norms[i];
        }
    }
    y
}

/// Backward of renormalize with r_i = norms[i]:
/// d_x_i = (target / r_i) * (d_y_i - ((x_i . d_y_i) / r_i^2) x_i).
pub fn renormalize_backward(
    x: &[f64],
    norms: &[f64],
    d_y: &[f64],
    rows: usize,
    cols: usize,
    target: f64,
) -> Vec<f64> {
    let mut d_x = vec![0.0; rows * cols];
    for (i, &r) in norms.iter().enumerate().take(rows) {
        let row = i * cols..(i + 1) * cols;
        let dot: f64 = x[row.clone()]
            .iter()
            .zip(&d_y[row])
            .map(|(a, b)| a * b)
            .sum();
        for j in 0..cols {
            let k = i * cols + j;
            d_x[k] = (target / r) * (d_y[k] - dot / (r * r) * x[k]);
        }
    }
    d_x
}

/// Forward pass of an FCN in f64: returns F^0 (the input) .. F^D and the logits.
/// `weights[l]` is fan_out x fan_in row-major; `phi` is the activation.
pub fn fcn_forward(
    x: &[f64],
    n: usize,
    weights: &[(usize, usize, Vec<f64>)],
    phi: impl Fn(f64) -> f64,
    renormalize: bool,
) -> (Vec<Vec<f64>>, Vec<f64>) {
    let mut layers = vec![x.to_vec()];
    let last = weights.len() - 1;
    let mut logits = Vec::new();
    for (l, (fan_out, fan_in, w)) in weights.iter().enumerate() {
        let a = layers.last().unwrap();
        let mut z = vec![0.0; n * fan_out];
        for i in 0..n {
            for o in 0..*fan_out {
                z[i * fan_out + o] = (0..*fan_in)
                    .map(|p| a[i * fan_in + p] * w[o * fan_in + p])
                    .sum();
            }
        }
        if l == last {
            logits = z;
            break;
        }
        let mut out: Vec<f64> = z.iter().map(|&v| phi(v)).collect();
        if renormalize {
            for row in out.chunks_mut(*fan_out) {
                let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
                let target = (*fan_out as f64).sqrt();
                row.iter_mut().for_each(|v| *v *= target / norm);
            }
        }
        layers.push(out);
    }
    (layers, logits)
}
