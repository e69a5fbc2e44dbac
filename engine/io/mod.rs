//! Files people use elsewhere: NumPy tensors and CSV tables.

pub mod npy;
pub mod table;
pub mod tables;
