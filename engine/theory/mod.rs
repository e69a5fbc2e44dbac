//! Plain maths with no GPU: dual activations, PL constants, bounds (not yet built).
