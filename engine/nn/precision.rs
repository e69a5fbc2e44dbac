//! The network's precision (`network_precision`, MEASUREMENTS.md §7): f32 (default) or
//! f64 for the weights, forward, backward, JVP, NTK assembly and update. Spectral solves
//! have their own `precision` (`linalg::Precision`).

use std::str::FromStr;

use anyhow::{bail, Result};

use crate::gpu::Gpu;
use crate::linalg::Precision;
use crate::ops::parse_name;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkPrecision {
    #[default]
    F32,
    F64,
}

impl NetworkPrecision {
    pub const ALL: [NetworkPrecision; 2] = [NetworkPrecision::F32, NetworkPrecision::F64];

    pub fn name(self) -> &'static str {
        match self {
            NetworkPrecision::F32 => "f32",
            NetworkPrecision::F64 => "f64",
        }
    }

    /// Whether this is the default (f32): configs serialise the key only when it is not,
    /// so the fingerprints of f32 runs written before the key existed still match.
    pub fn is_f32(&self) -> bool {
        *self == NetworkPrecision::F32
    }

    /// Refuses f64 on `gpu` when it lacks SHADER_F64 ([`check_network_precision`]).
    pub fn check(self, gpu: &Gpu) -> Result<()> {
        check_network_precision(self, gpu.features(), &gpu.summary.name)
    }
}

/// Something built in the precision a sweep's networks run in: the f32 or the f64
/// instance of a generic set of kernels (`A` and `B` are one type at f32 and f64).
pub enum InNetworkPrecision<A, B> {
    F32(A),
    F64(B),
}

impl<A, B> InNetworkPrecision<A, B> {
    /// Builds the instance of `network`'s precision; f64 is refused on an adapter
    /// without SHADER_F64.
    pub fn build(
        gpu: &Gpu, network: NetworkPrecision, f32: impl FnOnce(&Gpu) -> Result<A>,
        f64: impl FnOnce(&Gpu) -> Result<B>,
    ) -> Result<Self> {
        network.check(gpu)?;
        Ok(match network {
            NetworkPrecision::F32 => InNetworkPrecision::F32(f32(gpu)?),
            NetworkPrecision::F64 => InNetworkPrecision::F64(f64(gpu)?),
        })
    }

    pub fn precision(&self) -> NetworkPrecision {
        match self {
            InNetworkPrecision::F32(_) => NetworkPrecision::F32,
            InNetworkPrecision::F64(_) => NetworkPrecision::F64,
        }
    }
}

/// An f64 network needs `SHADER_F64` among `features` (those of the adapter called
/// `adapter`): otherwise an error that names the adapter and the fix.
pub fn check_network_precision(
    precision: NetworkPrecision, features: wgpu::Features, adapter: &str,
) -> Result<()> {
    if precision == NetworkPrecision::F64 && !features.contains(wgpu::Features::SHADER_F64) {
        bail!(
            "network_precision: f64 needs an adapter with SHADER_F64 ({adapter} has none, e.g. \
             Apple GPUs or the GL backend): use network_precision: f32"
        );
    }
    Ok(())
}

/// An f64 network computes every number in f64, so its spectra cannot be f32: refuses
/// `network_precision: f64` with `precision: f32`.
pub fn check_precisions(precision: Precision, network: NetworkPrecision) -> Result<()> {
    if network == NetworkPrecision::F64 && precision == Precision::F32 {
        bail!(
            "network_precision: f64 computes every number in f64, so its Gram and NTK spectra \
             need f64 too: use precision: auto or f64 (or network_precision: f32)"
        );
    }
    Ok(())
}

impl FromStr for NetworkPrecision {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        parse_name("network precision", s, &Self::ALL, Self::name)
    }
}

impl std::fmt::Display for NetworkPrecision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f64_without_shader_f64_is_an_error_naming_the_adapter_and_the_fix() {
        let none = wgpu::Features::empty();
        let err = check_network_precision(NetworkPrecision::F64, none, "Apple M2")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("SHADER_F64")
                && err.contains("Apple M2")
                && err.contains("network_precision: f32"),
            "{err}"
        );
        check_network_precision(NetworkPrecision::F32, none, "Apple M2").unwrap();
        let f64 = wgpu::Features::SHADER_F64 | wgpu::Features::TIMESTAMP_QUERY;
        check_network_precision(NetworkPrecision::F64, f64, "lavapipe").unwrap();
    }

    #[test]
    fn an_f64_network_refuses_f32_spectra() {
        let err = check_precisions(Precision::F32, NetworkPrecision::F64)
            .unwrap_err()
            .to_string();
        assert!(err.contains("precision: auto or f64"), "{err}");
        for p in [Precision::Auto, Precision::F64] {
            check_precisions(p, NetworkPrecision::F64).unwrap();
        }
        check_precisions(Precision::F32, NetworkPrecision::F32).unwrap();
    }

    #[test]
    fn names_parse_back() {
        for p in [NetworkPrecision::F32, NetworkPrecision::F64] {
            assert_eq!(p.name().parse::<NetworkPrecision>().unwrap(), p);
        }
        assert!("f16".parse::<NetworkPrecision>().is_err());
    }
}
