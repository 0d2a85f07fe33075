//! How the frozen projections are packed for inference products on the CPU backend
//! (`icor_kernels::burn_ops::PackedLinear`): f32 by default, f16 to halve the bytes each
//! decoded token streams, or not at all.

use burn::tensor::Device;
use icor_kernels::Precision;

/// The packing a backbone gets at load unless told otherwise: f32 on the CPU backend (the same
/// numbers as burn's product up to the order of the sums), none on a GPU backend.
pub fn default_for(device: &Device) -> Option<Precision> {
    (*device == Device::flex()).then_some(Precision::F32)
}

/// `none`, `f32` or `f16`: how the frozen projections are packed for inference (`none`: every
/// product through burn).
pub fn parse_precision(name: &str) -> crate::Result<Option<Precision>> {
    match name {
        "none" => Ok(None),
        "f32" => Ok(Some(Precision::F32)),
        "f16" => Ok(Some(Precision::F16)),
        other => Err(crate::Error::Llm(format!(
            "unknown decode weights `{other}` (none, f32 or f16)"
        ))),
    }
}
