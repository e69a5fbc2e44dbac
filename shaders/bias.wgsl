// bias: the bias of a dense layer (MEASUREMENTS.md section 2, `bias: true`) and its
// gradient, in Real (f32 or f64, from the precision prelude). Z is rows x cols row-major
// (one example per row), b has cols entries.
//
// Entry points:
//   bias_add:   z[i, j] += b[j]                  (forward, after z = a W^T)
//   bias_grad:  d_b[j] = sum_i d_z[i, j]         (backward)
//
// Bindings (each entry point binds only what it uses, in this order):
//   b     (read)        cols (bias_add)
//   d_z   (read)        rows x cols (bias_grad)
//   z     (read_write)  rows x cols (bias_add)
//   d_b   (read_write)  cols (bias_grad)
//   params (uniform)    rows, cols
//
// Work split: bias_add one element per invocation; bias_grad one column per invocation,
// looping over the rows (consecutive invocations read consecutive addresses, and the
// row count is the number of examples, a few thousand at most). Workgroups are laid out
// with grid_1d: linear workgroup index wg.x + wg.y * nwg.x.

struct Params {
    rows: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> b: array<Real>;
@group(0) @binding(1) var<storage, read> d_z: array<Real>;
@group(0) @binding(2) var<storage, read_write> z: array<Real>;
@group(0) @binding(3) var<storage, read_write> d_b: array<Real>;
@group(0) @binding(4) var<uniform> params: Params;

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn bias_add(id: Invocation) {
    let index = flat_index(id, WG);
    if index >= params.rows * params.cols {
        return;
    }
    z[index] += b[index % params.cols];
}

@compute @workgroup_size(WG)
fn bias_grad(id: Invocation) {
    let j = flat_index(id, WG);
    if j >= params.cols {
        return;
    }
    var sum = Real(0.0);
    for (var i = 0u; i < params.rows; i++) {
        sum += d_z[i * params.cols + j];
    }
    d_b[j] = sum;
}
