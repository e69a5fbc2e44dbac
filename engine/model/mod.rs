//! FCN forward/backward and the empirical NTK (not yet built).
