//! Eigenvalue machinery: GPU Krylov solvers over `ops`, and their small host-side
//! f64 subproblems.

pub mod tridiag;
