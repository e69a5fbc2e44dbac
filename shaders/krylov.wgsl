// krylov: the vector updates of Krylov solvers whose scalars stay on the GPU. A step's
// norm or Rayleigh quotient is written to a device buffer `s` by a reduction
// (ops/vector.rs), and these kernels read it from there, so a block of steps is
// recorded into one submission with no readback in between (engine/ops/krylov.rs).
// One body in `Real`, instantiated per precision by a prelude (ops/shaders.rs).
//
// Entry points:
//   krylov_normalize:   q[i] = w[i] / s[index];  basis[row, i] = q[i],  i < n
//   krylov_div_scalar:  y[i] = x[i] / s[index],                           i < n
//   krylov_axpy_scalar: y[i] += c * s[index] * x[i], c = -1 if negate else 1, i < n
// A zero or non-finite divisor gives Inf/NaN, as IEEE arithmetic does: the host reads
// the divisor back with the block and discards what followed it (breakdown) or stops
// with an error (non-finite).
//
// Bindings (each entry point binds only what it uses, in this order):
//   w / x     (read)        n
//   s         (read)        at least index + 1 device scalars
//   q / y     (read_write)  n
//   basis     (read_write)  at least (row + 1) x n, row-major
//   params    (uniform)     n, index, row, negate
//
// Work split: one invocation per element, WG per workgroup, laid out by grid_1d, so
// element (wg.x + wg.y * nwg.x) * WG + lid. Every invocation reads the same scalar.

struct Params {
    n: u32,
    index: u32,
    row: u32,
    negate: u32,
}

@group(0) @binding(0) var<storage, read> x: array<Real>;
@group(0) @binding(1) var<storage, read> s: array<Real>;
@group(0) @binding(2) var<storage, read_write> y: array<Real>;
@group(0) @binding(3) var<storage, read_write> basis: array<Real>;
@group(0) @binding(4) var<uniform> params: Params;

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn krylov_normalize(id: Invocation) {
    let i = flat_index(id, WG);
    if i < params.n {
        let v = x[i] / s[params.index];
        y[i] = v;
        basis[params.row * params.n + i] = v;
    }
}

@compute @workgroup_size(WG)
fn krylov_div_scalar(id: Invocation) {
    let i = flat_index(id, WG);
    if i < params.n {
        y[i] = x[i] / s[params.index];
    }
}

@compute @workgroup_size(WG)
fn krylov_axpy_scalar(id: Invocation) {
    let i = flat_index(id, WG);
    if i < params.n {
        var c = s[params.index];
        if params.negate != 0u {
            c = -c;
        }
        y[i] += c * x[i];
    }
}
