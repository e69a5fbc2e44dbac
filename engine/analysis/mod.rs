//! What the tables say: statistics, the findings' rules, figures and the report.

pub mod figures;
mod figures_axes;
pub mod figures_conditioning;
mod figures_epochs;
mod figures_legend;
pub mod figures_training;
pub mod findings;
mod findings_conditioning;
mod findings_training;
pub mod report;
mod report_figures;
pub mod runs;
pub mod stats;
