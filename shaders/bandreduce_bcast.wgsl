// bandreduce_bcast: the panel kernel of shaders/bandreduce.wgsl with v_j shared between
// the lanes of a subgroup, for CPU drivers, in two forms: `panel_shared` (columns in
// `scratch`) and `panel_private` (columns in private memory, below). Joined after
// bandreduce.wgsl (its bindings, `shape`, `scratch` and helpers) by
// engine/ops/shaders.rs; needs the adapter's SUBGROUP feature, so that bandreduce.wgsl
// itself does not.
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
            let vq = lane_value(vj, q);
            if updates && r + q < shape.m4 {
                scratch[at_s(r + q, l)] -= f * vq;
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

// `panel_private`: `panel_shared` with each invocation's own column in its private
// memory instead of `scratch`. On lavapipe an access to a private array at an index the
// lanes share is one gather with no per-lane branch, where a storage access is a loop
// over the lanes; the products with v_j ran 2.5-3x faster so (docs/PERFORMANCE.md). v_j
// is still shared through `scratch`: its owner copies it there when it forms it. The
// host takes this kernel for panels of at most PRIVATE_VEC4S * 4 rows.

// The rows a panel may have here, in vec4s (ops/bandreduce.rs PRIVATE_ROWS / 4).
const PRIVATE_VEC4S: u32 = 256u;

// The invocation's column of the panel (rows past m zero), while the panel is reduced.
var<private> column: array<vec4<Real>, PRIVATE_VEC4S>;

// Column l of the panel into `column`.
fn load_private(l: u32) {
    var r = 0u;
    for (; r + 2u <= shape.m4; r += 2u) {
        column[r] = four_rows(r, l);
        column[r + 1u] = four_rows(r + 1u, l);
    }
    if r < shape.m4 {
        column[r] = four_rows(r, l);
    }
}

// The sum of squares of `column` below row l, summed as `below_diagonal_squares` sums.
fn private_squares_below(l: u32) -> Real {
    let r0 = (l + 1u) / 4u;
    if r0 >= shape.m4 {
        return Real(0.0);
    }
    let rows = vec4<u32>(4u * r0) + vec4<u32>(0u, 1u, 2u, 3u);
    let below = select(vec4<Real>(Real(0.0)), column[r0], rows > vec4<u32>(l));
    var ss = dot(below, below);
    var r = r0 + 1u;
    for (; r + 2u <= shape.m4; r += 2u) {
        ss += dot(column[r], column[r]) + dot(column[r + 1u], column[r + 1u]);
    }
    if r < shape.m4 {
        ss += dot(column[r], column[r]);
    }
    return ss;
}

// Reflector j from `column` (its owner's), as `form_reflector` does from `scratch`, and
// v_j into column j of `scratch` for the others, from the vec4 holding row j.
fn form_private(j: u32, sigma: Real) {
    var x0 = Real(0.0);
    if j < shape.m {
        x0 = column[j / 4u][j % 4u];
    }
    let reflector = householder(x0, sigma);
    for (var q = 0u; q < min(j, shape.m); q++) {
        work[at_p(q, j)] = column[q / 4u][q % 4u];
        column[q / 4u][q % 4u] = Real(0.0);
    }
    if j < shape.m {
        work[at_p(j, j)] = reflector.x;
        column[j / 4u][j % 4u] = x0 - reflector.x;
    }
    taus[j] = reflector.y;
    for (var r = j / 4u; r < shape.m4; r++) {
        scratch[at_s(r, j)] = column[r];
    }
}

// v_j . `column`, the same sums in the same order as `dot_shared`. The lanes' terms are
// written out, eight of them (the host keeps PANEL_SG <= 8): this family keeps naga's
// loop bounding, which stops the compiler from unrolling a loop over them.
fn dot_private(j: u32, lane: u32) -> Real {
    var d = Real(0.0);
    for (var r = j / 4u; r < shape.m4; r += PANEL_SG) {
        let vj = scratch[at_s(min(r + lane % PANEL_SG, shape.m4 - 1u), j)];
        d = add_private_term(d, vj, r, 0u);
        d = add_private_term(d, vj, r, 1u);
        d = add_private_term(d, vj, r, 2u);
        d = add_private_term(d, vj, r, 3u);
        d = add_private_term(d, vj, r, 4u);
        d = add_private_term(d, vj, r, 5u);
        d = add_private_term(d, vj, r, 6u);
        d = add_private_term(d, vj, r, 7u);
    }
    return d;
}

// d + lane q's vec4 of v_j (rows 4 (r + q) ..) . the same rows of `column`; d itself
// past the panel or past PANEL_SG lanes (as the loop skipped them).
fn add_private_term(d: Real, vj: vec4<Real>, r: u32, q: u32) -> Real {
    // Both tests are the same in every lane, so the broadcast has them all.
    if q < PANEL_SG && r + q < shape.m4 {
        return d + dot(lane_value(vj, q), column[r + q]);
    }
    return d;
}

// `column` -= f v_j where `updates` (as `apply_shared`), written out as `dot_private`.
fn apply_private(j: u32, f: Real, lane: u32, updates: bool, rows_end: u32) {
    for (var r = j / 4u; r < rows_end; r += PANEL_SG) {
        let vj = scratch[at_s(min(r + lane % PANEL_SG, shape.m4 - 1u), j)];
        apply_lane(vj, r, 0u, f, updates);
        apply_lane(vj, r, 1u, f, updates);
        apply_lane(vj, r, 2u, f, updates);
        apply_lane(vj, r, 3u, f, updates);
        apply_lane(vj, r, 4u, f, updates);
        apply_lane(vj, r, 5u, f, updates);
        apply_lane(vj, r, 6u, f, updates);
        apply_lane(vj, r, 7u, f, updates);
    }
}

// column[r + q] -= f (lane q's vec4 of v_j) where `updates`, within the panel and
// PANEL_SG lanes.
fn apply_lane(vj: vec4<Real>, r: u32, q: u32, f: Real, updates: bool) {
    if q < PANEL_SG && r + q < shape.m4 {
        let v = lane_value(vj, q);
        if updates {
            column[r + q] -= f * v;
        }
    }
}

// `column` (v_l) into V, and zeros into the panel below R's diagonal.
fn store_private(l: u32) {
    for (var i = 0u; i < shape.m; i++) {
        store_row(i, l, column[i / 4u][i % 4u]);
    }
}

@compute @workgroup_size(PANEL_COLS)
fn panel_private(
    @builtin(local_invocation_index) l: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let b = params.b;
    panel_shape();
    var sigma = Real(0.0);
    if l < b {
        load_private(l);
        if l == 0u {
            sigma = private_squares_below(0u);
        }
    }
    for (var j = 0u; j < b; j++) {
        if l == j {
            form_private(j, sigma);
        }
        workgroupBarrier();
        storageBarrier();
        let d = dot_private(j, lane);
        if l < j {
            vdots[l * PANEL_COLS + j] = d;
        }
        let updates = l > j && l < b;
        let rows_end = select(j / 4u, shape.m4, subgroupAny(updates));
        apply_private(j, taus[j] * d, lane, updates, rows_end);
        if l == j + 1u && l < b {
            sigma = private_squares_below(l);
        }
    }
    workgroupBarrier();
    if l < b {
        store_private(l);
    }
    t_row(l);
}
