//! Files people use elsewhere: NumPy tensors and CSV tables.

pub mod atomic;
pub mod claim;
pub mod fingerprint;
pub mod npy;
pub mod table;
pub mod tables;
