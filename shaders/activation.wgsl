// activation: a = phi(z) and d_z = d_a * phi'(z), elementwise over Real (f32 or f64, from
// the precision prelude) tensors of any shape (MEASUREMENTS.md section 2 defines phi).
//
// ACTIVATION (override) picks phi, with the codes of `Activation::code` in
// engine/ops/activation.rs: 0 relu, 1 tanh, 2 relu_normalized, 3 tanh_normalized.
// An override rather than a uniform: a layer's activation is fixed for a whole run, so
// each kind gets its own pipeline (built once) with the switch compiled away, and the
// params carry only the length.
//
// Bindings (each entry point binds only what it uses, in this order):
//   z    (read)        len elements, the pre-activations
//   d_a  (read)        len elements, gradient w.r.t. a (backward only)
//   a    (read_write)  len elements, phi(z) (forward only)
//   d_z  (read_write)  len elements, d_a * phi'(z) (backward only)
//   params (uniform)   len
//
// Work split: one element per invocation, WG invocations per workgroup; the host lays
// the workgroups out with grid_1d over x then y, so the linear workgroup index is
// wg.x + wg.y * nwg.x and invocations past len do nothing.

struct Params {
    len: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> z: array<Real>;
@group(0) @binding(1) var<storage, read> d_a: array<Real>;
@group(0) @binding(2) var<storage, read_write> a: array<Real>;
@group(0) @binding(3) var<storage, read_write> d_z: array<Real>;
@group(0) @binding(4) var<uniform> params: Params;

override ACTIVATION: u32 = 0u;

const WG: u32 = 256u;

// Mirror RELU_NORMALIZED_MEAN, RELU_NORMALIZED_STD and TANH_NORMALIZED_DIVISOR of
// engine/ops/activation.rs; the tests compare against references computed from the
// formulas, so a drift between the two fails them.
const RELU_NORMALIZED_MEAN: Real = 0.3989422804014327; // 1 / sqrt(2 pi) = E[relu(g)]
const RELU_NORMALIZED_STD: Real = 0.5838193701035489; // sqrt(1/2 - 1/(2 pi))
const TANH_NORMALIZED_DIVISOR: Real = 0.627928730349107; // sqrt(E[tanh(g)^2])

// tanh(z), safe for any finite z. Some drivers evaluate tanh through exp(2z) and return
// NaN (inf / inf) once exp overflows, near |z| > 44 in f32. tanh(20) already rounds to
// exactly 1 in f32 and in f64 (1 - tanh(20) ~ 8e-18, below half an ulp of 1 in both), so
// clamping to [-20, 20] changes no result and keeps exp in range.
fn safe_tanh(v: Real) -> Real {
    return real_tanh(clamp(v, Real(-20.0), Real(20.0)));
}

// tanh'(z) = 1 - tanh(z)^2, computed as sech(z)^2 = 4 s / (1 + s)^2 with s = exp(-2|z|).
// 1 - tanh^2 cancels to exactly 0 once tanh rounds to 1 in f32 (|z| > ~9), losing every
// small gradient; this form keeps its relative accuracy, and s lies in [0, 1], so
// nothing overflows for any z.
fn tanh_derivative(v: Real) -> Real {
    let s = real_exp(Real(-2.0) * abs(v));
    let one_plus_s = Real(1.0) + s;
    return Real(4.0) * s / (one_plus_s * one_plus_s);
}

fn phi(v: Real) -> Real {
    switch ACTIVATION {
        case 0u: {
            return max(v, Real(0.0));
        }
        case 1u: {
            return safe_tanh(v);
        }
        case 2u: {
            return (max(v, Real(0.0)) - RELU_NORMALIZED_MEAN) / RELU_NORMALIZED_STD;
        }
        default: {
            return safe_tanh(v) / TANH_NORMALIZED_DIVISOR;
        }
    }
}

// phi'(z). At the relu kink z = 0 the derivative is taken as 0 (the subgradient most
// frameworks use), so a unit that is exactly 0 passes no gradient.
fn phi_derivative(v: Real) -> Real {
    switch ACTIVATION {
        case 0u: {
            return select(Real(0.0), Real(1.0), v > Real(0.0));
        }
        case 1u: {
            return tanh_derivative(v);
        }
        case 2u: {
            return select(Real(0.0), Real(1.0) / RELU_NORMALIZED_STD, v > Real(0.0));
        }
        default: {
            return tanh_derivative(v) / TANH_NORMALIZED_DIVISOR;
        }
    }
}

@compute @workgroup_size(WG)
fn activation_forward(id: Invocation) {
    let i = flat_index(id, WG);
    if i >= params.len {
        return;
    }
    a[i] = phi(z[i]);
}

@compute @workgroup_size(WG)
fn activation_backward(id: Invocation) {
    let i = flat_index(id, WG);
    if i >= params.len {
        return;
    }
    d_z[i] = d_a[i] * phi_derivative(z[i]);
}
