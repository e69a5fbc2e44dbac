// Precision prelude (f32): joined in front of a kernel family's body by engine/ops/shaders.rs
// (`family!`), so one body serves both precisions. The body spells its element type `Real`.
alias Real = f32;

// Square root in the prelude's precision (vector_finish's nrm2).
fn real_sqrt(v: Real) -> Real {
    return sqrt(v);
}

