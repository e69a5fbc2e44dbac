// Precision prelude (f64): joined in front of a kernel family's body by engine/ops/shaders.rs
// (`families!`); needs the adapter's SHADER_F64 feature. The body spells its element type `Real`
// and its transcendental functions `real_*`.
//
// Vulkan's GLSL.std.450 has Exp, Log and Tanh for 16- and 32-bit floats only, and HLSL
// has no double sqrt, exp or log, so every function below is written with f64 arithmetic
// (+ - * /, comparisons, conversions), range reduction and a series; each is accurate to a
// few units in the last place of f64 (the tests compare kernels with f64 references to
// 1e-12 relative). f32 builtins appear only for starting guesses (real_sqrt) or to read
// an exponent (real_log), never in a result.
alias Real = f64;

// Bytes of one Real, for bodies that size workgroup memory by it.
const REAL_BYTES: u32 = 8u;

fn real_inf() -> f64 {
    return f64(bitcast<f32>(0x7f800000u));
}

fn real_neg_inf() -> f64 {
    return f64(bitcast<f32>(0xff800000u));
}

// Narrowing keeps NaN a NaN (and maps every other f64 to a number or an infinity), so the
// f32 bit test decides; v != v could be folded to false.
fn real_is_nan(v: f64) -> bool {
    return (bitcast<u32>(f32(v)) & 0x7fffffffu) > 0x7f800000u;
}

// Square root in f64 without an f64 sqrt, which HLSL lacks: an f32 sqrt (relative error
// 6e-8) refined by two Newton steps (error squared each step, below f64 rounding after
// two). v is first scaled by powers of 4 into f32's range, so any v >= 0 works: 0 gives 0,
// inf gives inf, NaN gives NaN.
fn real_sqrt(v_in: f64) -> f64 {
    if v_in == f64(0.0) {
        return v_in;
    }
    var v = v_in;
    var scale = f64(1.0);
    // 17 steps of 2^60 cover f64's exponent range (2^1023 / 2^-1074).
    for (var k = 0u; k < 20u && v > f64(1e30); k++) {
        v *= f64(8.673617379884035e-19); // 2^-60
        scale *= f64(1073741824.0); // 2^30
    }
    for (var k = 0u; k < 20u && v < f64(1e-30); k++) {
        v *= f64(1152921504606846976.0); // 2^60
        scale *= f64(9.313225746154785e-10); // 2^-30
    }
    if v > f64(1e30) {
        return v_in; // inf
    }
    var g = f64(sqrt(f32(v)));
    g = f64(0.5) * (g + v / g);
    g = f64(0.5) * (g + v / g);
    return g * scale;
}

// 2^e exactly, for |e| <= 1022, by binary powering (products of powers of two are exact).
fn real_pow2(e: i32) -> f64 {
    var p = f64(1.0);
    var b = select(f64(0.5), f64(2.0), e >= 0);
    var m = u32(abs(e));
    for (var i = 0u; i < 11u && m > 0u; i++) {
        if (m & 1u) == 1u {
            p *= b;
        }
        b *= b;
        m = m >> 1u;
    }
    return p;
}

// ln 2 split so that e * LN2_HI is exact for |e| < 2^20 (fdlibm's constants).
const LN2_HI: f64 = 6.93147180369123816490e-01;
const LN2_LO: f64 = 1.90821492927058770002e-10;

// exp(v): v = e ln 2 + r with |r| <= ln 2 / 2 (plus rounding), exp(r) by its Taylor series
// to r^14 / 14! (below 1e-18 relative there), times 2^e in two exact halves so that
// subnormal results need no intermediate 2^e below f64's normal range.
fn real_exp(v: f64) -> f64 {
    if v > f64(709.782712893384) {
        return real_inf();
    }
    if v < f64(-745.1332191019412) {
        return f64(0.0);
    }
    let ef = v * f64(1.4426950408889634) + select(f64(-0.5), f64(0.5), v > f64(0.0));
    let e = i32(ef); // truncation toward 0 of v / ln 2 +- 1/2: the nearest integer
    let r = (v - f64(e) * LN2_HI) - f64(e) * LN2_LO;
    var p = f64(1.0);
    for (var i = 14; i >= 1; i--) {
        p = f64(1.0) + p * r / f64(i);
    }
    let e1 = e / 2;
    return p * real_pow2(e1) * real_pow2(e - e1);
}

// exp(v) - 1 without cancellation near 0 (real_tanh's small arguments): the Taylor series
// for |v| < 1/2 (to v^18 / 18!), exp(v) - 1 beyond.
fn real_expm1(v: f64) -> f64 {
    if abs(v) >= f64(0.5) {
        return real_exp(v) - f64(1.0);
    }
    var p = f64(1.0);
    for (var i = 18; i >= 2; i--) {
        p = f64(1.0) + p * v / f64(i);
    }
    return v * p;
}

// log(v): v = m 2^e with m in [sqrt(1/2), sqrt(2)), log(m) = 2 atanh(s), s = (m-1)/(m+1),
// |s| <= 0.172, by its series to s^31 (below 1e-19 relative). e is read from the f32
// exponent of v after scaling v into f32's normal range, then corrected exactly.
fn real_log(v_in: f64) -> f64 {
    if real_is_nan(v_in) || v_in < f64(0.0) {
        return (v_in - v_in) / (v_in - v_in); // NaN
    }
    if v_in == f64(0.0) {
        return real_neg_inf();
    }
    if v_in > f64(1.7976931348623157e308) {
        return v_in; // inf
    }
    var v = v_in;
    var e = 0;
    for (var k = 0u; k < 20u && v > f64(1e30); k++) {
        v *= f64(8.673617379884035e-19); // 2^-60
        e += 60;
    }
    for (var k = 0u; k < 20u && v < f64(1e-30); k++) {
        v *= f64(1152921504606846976.0); // 2^60
        e -= 60;
    }
    let e32 = i32((bitcast<u32>(f32(v)) >> 23u) & 0xffu) - 127;
    var m = v * real_pow2(-e32);
    e += e32;
    // f32 rounding may leave m in [1/2, 2] rather than [1, 2): move it into
    // [sqrt(1/2), sqrt(2)), by exact halvings or doublings.
    for (var k = 0u; k < 3u && m >= f64(1.4142135623730951); k++) {
        m *= f64(0.5);
        e += 1;
    }
    for (var k = 0u; k < 3u && m < f64(0.7071067811865476); k++) {
        m *= f64(2.0);
        e -= 1;
    }
    let s = (m - f64(1.0)) / (m + f64(1.0));
    let s2 = s * s;
    var p = f64(1.0) / f64(31.0);
    for (var i = 29; i >= 1; i -= 2) {
        p = f64(1.0) / f64(i) + s2 * p;
    }
    let fe = f64(e);
    return fe * LN2_HI + (f64(2.0) * s * p + fe * LN2_LO);
}

// tanh(v) = -expm1(-2|v|) / (2 + expm1(-2|v|)), sign restored: accurate for small |v|
// (no 1 - exp cancellation), and 1 once exp(-2|v|) underflows.
fn real_tanh(v: f64) -> f64 {
    let t = real_expm1(f64(-2.0) * abs(v));
    let m = -t / (f64(2.0) + t);
    return select(m, -m, v < f64(0.0));
}
