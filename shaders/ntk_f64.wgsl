// ntk_f64: ntk_accumulate of shaders/ntk.wgsl in f64, for NTK matrices whose spectra are
// solved in f64 (GA and D come from the f64-accumulating Gram kernel). Keep the two in
// step.
//
//   ntk_accumulate_f64:  K[p, q] += (GA[p / k, q / k] + offset) * D[p, q]
//
// Bindings: ga (read, n x n), dd (read, nk x nk), kernel_matrix (read_write, nk x nk),
// params (uniform: rows = n, k, offset). One element per invocation, grid_1d layout.

struct Params {
    rows: u32,
    cols: u32,
    k: u32,
    _pad: u32,
    offset: f64,
}

@group(0) @binding(0) var<storage, read> ga: array<f64>;
@group(0) @binding(1) var<storage, read> dd: array<f64>;
@group(0) @binding(2) var<storage, read_write> kernel_matrix: array<f64>;
@group(0) @binding(3) var<uniform> params: Params;

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn ntk_accumulate_f64(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let order = params.rows * params.k;
    let index = (wg.x + wg.y * nwg.x) * WG + lid;
    if index >= order * order {
        return;
    }
    let p = index / order;
    let q = index % order;
    let g = ga[(p / params.k) * params.rows + q / params.k] + params.offset;
    kernel_matrix[index] += g * dd[index];
}
