//! What the tables say: statistics, the findings' rules, figures and the report.

pub mod figures;
pub mod figures_conditioning;
pub mod figures_training;
pub mod findings;
mod findings_conditioning;
mod findings_training;
pub mod report;
pub mod runs;
pub mod stats;
