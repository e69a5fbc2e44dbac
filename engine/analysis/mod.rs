//! What the tables say: statistics, the findings' rules, figures and the report.

pub mod figures;
pub mod figures_training;
pub mod report;
