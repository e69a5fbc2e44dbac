// Precision prelude (f64): joined in front of a kernel family's body by engine/ops/shaders.rs
// (`family!`); needs the adapter's SHADER_F64 feature. The body spells its element type `Real`.
alias Real = f64;
