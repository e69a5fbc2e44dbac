// bandreduce_bcast: the panel kernel of shaders/bandreduce.wgsl with v_j shared between
// the lanes of a subgroup, for CPU drivers. Joined after bandreduce.wgsl (its bindings,
// `shape`, `scratch` and helpers) by engine/ops/shaders.rs; needs the adapter's SUBGROUP
// feature, so that bandreduce.wgsl itself does not.
//
// In `panel`, every invocation reads all of v_j, the same vec4s, each through lavapipe's
// loop over the lanes of its SIMD group (docs/PERFORMANCE.md, ninth session). Here lane q
// of each subgroup reads vec4 r + q of v_j and the others take it by subgroupBroadcast,
// one load per PANEL_SG vec4s instead of one per vec4. Every invocation takes part in
// every product (broadcasts need the whole subgroup); those without a column to update
// store nothing. Same reflectors; the products sum in another order than `panel`'s.

// Lanes every subgroup has: the adapter's smallest subgroup size, at most 8 (the host
// sets it, and takes this kernel only where the workgroup, PANEL_COLS, is a multiple of
// every subgroup size the adapter may use).
override PANEL_SG: u32 = 8u;

// v_j . column l of `scratch`, from the vec4 holding row j.
fn dot_shared(j: u32, l: u32, lane: u32) -> Real {
    var d = Real(0.0);
    for (var r = j / 4u; r < shape.m4; r += PANEL_SG) {
        let vj = scratch[at_s(min(r + lane % PANEL_SG, shape.m4 - 1u), j)];
        for (var q = 0u; q < PANEL_SG; q++) {
            if r + q < shape.m4 {
                d += dot(lane_value(vj, q), scratch[at_s(r + q, l)]);
            }
        }
    }
    return d;
}

// Column l of `scratch` -= f v_j where `updates`; every lane of the subgroup runs the loop
// (rows from `rows_end` on are left: the caller ends it early for a subgroup with no
// lane to update).
fn apply_shared(j: u32, l: u32, f: Real, lane: u32, updates: bool, rows_end: u32) {
    for (var r = j / 4u; r < rows_end; r += PANEL_SG) {
        let vj = scratch[at_s(min(r + lane % PANEL_SG, shape.m4 - 1u), j)];
        for (var q = 0u; q < PANEL_SG; q++) {
            let v = lane_value(vj, q);
            if updates && r + q < shape.m4 {
                scratch[at_s(r + q, l)] -= f * v;
            }
        }
    }
}

@compute @workgroup_size(PANEL_COLS)
fn panel_shared(
    @builtin(local_invocation_index) l: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let b = params.b;
    var sigma = panel_begin(l);
    for (var j = 0u; j < b; j++) {
        publish_reflector(l, j, sigma);
        // Lanes past the band read v_j, which no lane writes in this step; they store
        // nothing.
        let column = select(l, j, l >= b);
        let d = dot_shared(j, column, lane);
        if l < j {
            vdots[l * PANEL_COLS + j] = d;
        }
        let updates = l > j && l < b;
        // A subgroup left of the reflector has nothing to update: no loop at all.
        let rows_end = select(j / 4u, shape.m4, subgroupAny(updates));
        apply_shared(j, column, taus[j] * d, lane, updates, rows_end);
        if l == j + 1u && l < b {
            sigma = below_diagonal_squares(l);
        }
    }
    panel_end(l);
}
