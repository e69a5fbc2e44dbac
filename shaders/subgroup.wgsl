// Helpers for the kernels that need the adapter's SUBGROUP feature (the bodies joined
// after a family's by `with_subgroups!` in engine/ops/shaders.rs).

// Lane q's v, for q < 16: subgroupBroadcast takes its lane as a constant, and with q an
// unrolled loop's index the switch folds to one broadcast.
fn lane_value(v: vec4<Real>, q: u32) -> vec4<Real> {
    switch q {
        case 1u: { return subgroupBroadcast(v, 1u); }
        case 2u: { return subgroupBroadcast(v, 2u); }
        case 3u: { return subgroupBroadcast(v, 3u); }
        case 4u: { return subgroupBroadcast(v, 4u); }
        case 5u: { return subgroupBroadcast(v, 5u); }
        case 6u: { return subgroupBroadcast(v, 6u); }
        case 7u: { return subgroupBroadcast(v, 7u); }
        case 8u: { return subgroupBroadcast(v, 8u); }
        case 9u: { return subgroupBroadcast(v, 9u); }
        case 10u: { return subgroupBroadcast(v, 10u); }
        case 11u: { return subgroupBroadcast(v, 11u); }
        case 12u: { return subgroupBroadcast(v, 12u); }
        case 13u: { return subgroupBroadcast(v, 13u); }
        case 14u: { return subgroupBroadcast(v, 14u); }
        case 15u: { return subgroupBroadcast(v, 15u); }
        default: { return subgroupBroadcast(v, 0u); }
    }
}

// The multiply-adds of one depth step of a broadcast tile (shaders/matmul_bcast.wgsl,
// shaders/gram_bcast.wgsl): lane q of each subgroup holds in a4[j] tile row
// j * lanes + q of op(A) at four depths, bd[d] the invocation's four columns of op(B) at
// depth d; every lane adds row r's products into part[r] for all 16 rows.
fn broadcast_tile_step(
    part: ptr<function, array<vec4<Real>, 16>>,
    a4: array<vec4<Real>, 4>,
    bd: array<vec4<Real>, 4>,
    lanes: u32,
) {
    for (var j = 0u; j < 16u / lanes; j++) {
        for (var q = 0u; q < lanes; q++) {
            let a = lane_value(a4[j], q);
            let row = j * lanes + q;
            for (var d = 0u; d < 4u; d++) {
                (*part)[row] += a[d] * bd[d];
            }
        }
    }
}
