// Precision prelude (f64): joined in front of a kernel family's body by engine/ops/shaders.rs
// (`family!`); needs the adapter's SHADER_F64 feature. The body spells its element type `Real`.
alias Real = f64;

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

