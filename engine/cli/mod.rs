//! One module per command of the `wideprobe` binary; main.rs only parses and dispatches.

pub mod args;
pub mod bench;
pub mod data;
pub mod experiment;
pub mod info;
pub mod output;
pub mod spectrum;
