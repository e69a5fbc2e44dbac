// Precision prelude (f32): joined in front of a kernel family's body by engine/ops/shaders.rs
// (`family!`), so one body serves both precisions. The body spells its element type `Real`.
alias Real = f32;
