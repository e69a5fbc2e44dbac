//! f64 CPU references, named after the engine's ops.

/// C = alpha * op(A) * op(B) + beta * C, row-major, op given by the transposes.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    trans_a: bool, trans_b: bool, m: usize, n: usize, k: usize, alpha: f64, a: &[f64], b: &[f64],
    beta: f64, c: &[f64],
) -> Vec<f64> {
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            // Compensated (Neumaier) sums: an f64 kernel is checked against this, and a
            // plain sum's rounding (growing like u k, the kernel's own order) would
            // count against the kernel (a 9001-deep f64 product failed on it).
            let (mut s, mut carry) = (0.0f64, 0.0f64);
            for p in 0..k {
                let av = if trans_a { a[p * m + i] } else { a[i * k + p] };
                let bv = if trans_b { b[j * k + p] } else { b[p * n + j] };
                let term = av * bv;
                let t = s + term;
                carry += if s.abs() >= term.abs() {
                    (s - t) + term
                } else {
                    (term - t) + s
                };
                s = t;
            }
            let s = s + carry;
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
    x: &[f64], norms: &[f64], d_y: &[f64], rows: usize, cols: usize, target: f64,
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
    x: &[f64], n: usize, weights: &[(usize, usize, Vec<f64>)], phi: impl Fn(f64) -> f64,
    renormalize: bool,
) -> (Vec<Vec<f64>>, Vec<f64>) {
    fcn_forward_biased(x, n, weights, None, phi, renormalize)
}

/// [`fcn_forward`] with a bias per layer (z = a Wᵀ + b) when `biases` is given.
pub fn fcn_forward_biased(
    x: &[f64], n: usize, weights: &[(usize, usize, Vec<f64>)], biases: Option<&[Vec<f64>]>,
    phi: impl Fn(f64) -> f64, renormalize: bool,
) -> (Vec<Vec<f64>>, Vec<f64>) {
    let mut layers = vec![x.to_vec()];
    let last = weights.len() - 1;
    let mut logits = Vec::new();
    for (l, (fan_out, fan_in, w)) in weights.iter().enumerate() {
        let a = layers.last().unwrap();
        let mut z = vec![0.0; n * fan_out];
        for i in 0..n {
            for o in 0..*fan_out {
                let b = biases.map_or(0.0, |b| b[l][o]);
                z[i * fan_out + o] = b
                    + (0..*fan_in)
                        .map(|p| a[i * fan_in + p] * w[o * fan_in + p])
                        .sum::<f64>();
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
    trans: bool, rows: usize, n: usize, alpha: f64, a: &[f64], x: &[f64], beta: f64, y: &[f64],
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

/// An FCN in f64 with its parameters as one list, in the engine's order
/// (`ParamTensors::tensors`: the weights of every layer, then the biases, if any).
#[derive(Clone)]
pub struct Network {
    /// (fan_out, fan_in) per layer, the output layer last.
    pub shapes: Vec<(usize, usize)>,
    pub params: Vec<Vec<f64>>,
    pub activation: String,
    pub renormalize: bool,
    pub bias: bool,
}

impl Network {
    /// Logits [n, k] of inputs x [n, d].
    pub fn logits(&self, x: &[f64], n: usize) -> Vec<f64> {
        let layers = self.shapes.len();
        let weights: Vec<(usize, usize, Vec<f64>)> = self
            .shapes
            .iter()
            .zip(&self.params)
            .map(|(&(o, i), w)| (o, i, w.clone()))
            .collect();
        let biases = self.bias.then(|| self.params[layers..].to_vec());
        fcn_forward_biased(
            x,
            n,
            &weights,
            biases.as_deref(),
            |z| activation(&self.activation, z),
            self.renormalize,
        )
        .1
    }

    /// The Jacobian of the logits (rows i·k + c) with respect to every parameter (columns
    /// in list order), by central differences in f64.
    pub fn jacobian(&self, x: &[f64], n: usize, step: f64) -> (Vec<f64>, usize) {
        let total: usize = self.params.iter().map(Vec::len).sum();
        let rows = n * self.shapes.last().unwrap().0;
        let mut j = vec![0.0; rows * total];
        let mut net = self.clone();
        let mut column = 0;
        for t in 0..net.params.len() {
            for p in 0..net.params[t].len() {
                let orig = net.params[t][p];
                net.params[t][p] = orig + step;
                let up = net.logits(x, n);
                net.params[t][p] = orig - step;
                let down = net.logits(x, n);
                net.params[t][p] = orig;
                for r in 0..rows {
                    j[r * total + column] = (up[r] - down[r]) / (2.0 * step);
                }
                column += 1;
            }
        }
        (j, total)
    }
}

/// The f64 network's forward pass kept for [`Network::vjp`]: each layer's input a^l,
/// and each hidden layer's z and phi(z).
struct Cached {
    inputs: Vec<Vec<f64>>,
    zs: Vec<Vec<f64>>,
    phis: Vec<Vec<f64>>,
}

impl Network {
    fn dense(&self, l: usize, a: &[f64], n: usize) -> Vec<f64> {
        let (o, i) = self.shapes[l];
        let w = &self.params[l];
        let layers = self.shapes.len();
        let mut z = vec![0.0; n * o];
        for e in 0..n {
            for u in 0..o {
                let mut s = if self.bias {
                    self.params[layers + l][u]
                } else {
                    0.0
                };
                for p in 0..i {
                    s += w[u * i + p] * a[e * i + p];
                }
                z[e * o + u] = s;
            }
        }
        z
    }

    fn forward_cached(&self, x: &[f64], n: usize) -> (Cached, Vec<f64>) {
        let layers = self.shapes.len();
        let mut c = Cached {
            inputs: vec![x.to_vec()],
            zs: Vec::new(),
            phis: Vec::new(),
        };
        for l in 0..layers - 1 {
            let o = self.shapes[l].0;
            let z = self.dense(l, c.inputs.last().unwrap(), n);
            let phi: Vec<f64> = z.iter().map(|&v| activation(&self.activation, v)).collect();
            let out = if self.renormalize {
                renormalize(&phi, &row_norms(&phi, n, o), n, o, (o as f64).sqrt())
            } else {
                phi.clone()
            };
            c.zs.push(z);
            c.phis.push(phi);
            c.inputs.push(out);
        }
        let logits = self.dense(layers - 1, c.inputs.last().unwrap(), n);
        (c, logits)
    }

    /// Gradients of <d_logits, logits(x)> with respect to every parameter, in list order
    /// (a VJP by plain backprop in f64; `d_logits` is [n, k]).
    pub fn vjp(&self, x: &[f64], n: usize, d_logits: &[f64]) -> Vec<Vec<f64>> {
        let layers = self.shapes.len();
        let (c, _) = self.forward_cached(x, n);
        let mut grads: Vec<Vec<f64>> = self.params.iter().map(|p| vec![0.0; p.len()]).collect();
        let mut d_z = d_logits.to_vec();
        for l in (0..layers).rev() {
            let (o, i) = self.shapes[l];
            let a = &c.inputs[l];
            let mut d_a = vec![0.0; n * i];
            for e in 0..n {
                for u in 0..o {
                    let g = d_z[e * o + u];
                    if self.bias {
                        grads[layers + l][u] += g;
                    }
                    for p in 0..i {
                        grads[l][u * i + p] += g * a[e * i + p];
                        d_a[e * i + p] += g * self.params[l][u * i + p];
                    }
                }
            }
            if l == 0 {
                break;
            }
            let (phi, z) = (&c.phis[l - 1], &c.zs[l - 1]);
            let d_phi = if self.renormalize {
                renormalize_backward(phi, &row_norms(phi, n, i), &d_a, n, i, (i as f64).sqrt())
            } else {
                d_a
            };
            d_z = d_phi
                .iter()
                .zip(z)
                .map(|(g, &v)| g * activation_derivative(&self.activation, v))
                .collect();
        }
        grads
    }

    /// How far inputs x [n, d] keep the network from where tests of it stop being
    /// meaningful, from one forward pass (NaN counts as 0 in both):
    /// - the smallest |z| over every hidden pre-activation: near the relu kink a
    ///   one-sided derivative and central differences (or f32 and f64 signs) disagree;
    /// - the smallest root mean square of a hidden row phi(z) that renormalisation divides
    ///   by (infinite without renormalisation): near 0 it multiplies every rounding error,
    ///   and at 0 the forward pass fails (an all-zero raw relu row).
    pub fn margins(&self, x: &[f64], n: usize) -> (f64, f64) {
        let at_least_0 = |m: f64, v: f64| if v.is_nan() { 0.0 } else { m.min(v) };
        let (c, _) = self.forward_cached(x, n);
        let kink =
            c.zs.iter()
                .flatten()
                .fold(f64::INFINITY, |m, z| at_least_0(m, z.abs()));
        let mut row = f64::INFINITY;
        if self.renormalize {
            for phi in &c.phis {
                let width = phi.len() / n;
                for norm in row_norms(phi, n, width) {
                    row = at_least_0(row, norm / (width as f64).sqrt());
                }
            }
        }
        (kink, row)
    }

    /// The features a^D of the last hidden layer ([n, w_D]; the inputs without one).
    pub fn last_hidden(&self, x: &[f64], n: usize) -> Vec<f64> {
        self.forward_cached(x, n).0.inputs.pop().unwrap()
    }
}
