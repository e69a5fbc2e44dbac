//! What the experiments measure, between the network (`nn`) and the experiments: Gram
//! and NTK spectra in the resolved precision, parameter norms and distances, and the
//! per-example Lipschitz term. Both experiment kinds call these; neither reaches into
//! `ops`.

pub mod gather;
pub mod layers;
pub mod params;
pub mod recorded;
pub mod spectral;

pub use gather::{Gather, Gathered, Part};
pub use layers::LayerSpectrum;
pub use params::ParamMeasure;
pub use recorded::PendingGram;
pub use spectral::{GershgorinProxies, GramMeasurement, GramTensor, SpectralOps};
