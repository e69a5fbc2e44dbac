// loss: per-example losses and their gradients with respect to the logits
// (MEASUREMENTS.md §5), and the plain gradient-descent update, in Real (f32 or f64, from
// the precision prelude).
//
// Entry points:
// - loss_forward_backward: one invocation per example i (1-D over n, x and y).
//   Bindings: logits [n, k] (read), labels [n] u32 (read), losses [n] (read_write),
//   d_logits [n, k] (read_write), params.
//   losses[i] = l_i and d_logits[i, c] = (1/n) d l_i / d f_c, so that d_logits is the
//   gradient of h = (1/n) sum_i l_i. KIND (override): 0 mse, 1 mse_softmax,
//   2 cross_entropy. params.weight multiplies l_i and its gradient: 1 for the
//   half-sum reduction, 2/k for `mean` (PyTorch's MSELoss).
//     mse:           l = 1/2 ||f - y||^2,           dl/df = f - y
//     mse_softmax:   l = 1/2 ||p - y||^2, p = softmax(f),
//                    dl/df = p * (g - p.g), g = p - y
//     cross_entropy: l = logsumexp(f) - f_label,    dl/df = p - y
//   Softmax and log-sum-exp subtract max(f) first (no overflow for any finite f).
// - gd_step: w -= lr * d_w, elementwise. Bindings: d_w [len] (read), w [len] (read_write).

struct Params {
    n: u32,
    k: u32,
    len: u32,
    _pad: u32,
    // Offset 16, a multiple of 8 as f64 needs; the host fills both through RealPair.
    weight: Real,
    lr: Real,
}

@group(0) @binding(0) var<storage, read> logits: array<Real>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read> d_w: array<Real>;
@group(0) @binding(3) var<storage, read_write> losses: array<Real>;
@group(0) @binding(4) var<storage, read_write> d_logits: array<Real>;
@group(0) @binding(5) var<storage, read_write> w: array<Real>;
@group(0) @binding(6) var<uniform> params: Params;

override KIND: u32 = 0u;
const WG: u32 = 64u;

@compute @workgroup_size(WG)
fn loss_forward_backward(id: Invocation) {
    let i = flat_index(id, WG);
    if i >= params.n {
        return;
    }
    let k = params.k;
    let base = i * k;
    let label = labels[i];
    let scale = params.weight / Real(params.n);
    if KIND == 0u {
        var l = Real(0.0);
        for (var c = 0u; c < k; c++) {
            let y = select(Real(0.0), Real(1.0), c == label);
            let r = logits[base + c] - y;
            l += Real(0.5) * r * r;
            d_logits[base + c] = scale * r;
        }
        losses[i] = params.weight * l;
        return;
    }
    var m = logits[base];
    for (var c = 1u; c < k; c++) {
        m = max(m, logits[base + c]);
    }
    var z = Real(0.0);
    for (var c = 0u; c < k; c++) {
        z += real_exp(logits[base + c] - m);
    }
    if KIND == 2u {
        losses[i] = params.weight * (real_log(z) + m - logits[base + label]);
        for (var c = 0u; c < k; c++) {
            let p = real_exp(logits[base + c] - m) / z;
            d_logits[base + c] = scale * (p - select(Real(0.0), Real(1.0), c == label));
        }
        return;
    }
    // mse_softmax: first pass for l and p.g, second for the gradient.
    var l = Real(0.0);
    var pg = Real(0.0);
    for (var c = 0u; c < k; c++) {
        let p = real_exp(logits[base + c] - m) / z;
        let g = p - select(Real(0.0), Real(1.0), c == label);
        l += Real(0.5) * g * g;
        pg += p * g;
    }
    losses[i] = params.weight * l;
    for (var c = 0u; c < k; c++) {
        let p = real_exp(logits[base + c] - m) / z;
        let g = p - select(Real(0.0), Real(1.0), c == label);
        d_logits[base + c] = scale * p * (g - pg);
    }
}

@compute @workgroup_size(WG)
fn gd_step(id: Invocation) {
    let i = flat_index(id, WG);
    if i < params.len {
        w[i] -= params.lr * d_w[i];
    }
}
