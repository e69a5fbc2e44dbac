// Precision prelude (f32): joined in front of a kernel family's body by engine/ops/shaders.rs
// (`families!`), so one body serves both precisions. The body spells its element type `Real`
// and its transcendental functions `real_*`; here they are the builtins.
alias Real = f32;

// Bytes of one Real, for bodies that size workgroup memory by it.
const REAL_BYTES: u32 = 4u;

// Square root in the prelude's precision (vector_finish's nrm2).
fn real_sqrt(v: Real) -> Real {
    return sqrt(v);
}

fn real_exp(v: Real) -> Real {
    return exp(v);
}

fn real_log(v: Real) -> Real {
    return log(v);
}

fn real_tanh(v: Real) -> Real {
    return tanh(v);
}

// NaN from the bits, not v != v, which WGSL lets a compiler fold to false.
fn real_is_nan(v: Real) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

fn real_neg_inf() -> Real {
    return bitcast<f32>(0xff800000u);
}
