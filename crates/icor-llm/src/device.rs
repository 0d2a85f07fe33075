//! Picking the burn device the backbone runs on.

use burn::tensor::Device;

use crate::{Error, Result};

/// Names accepted by [`device_by_name`]: `flex` (pure-Rust CPU, always built, the default)
/// and `wgpu` (Vulkan/Metal/DX12; only with this crate's `wgpu` feature).
pub const DEVICE_NAMES: &str = "flex, wgpu (with the `wgpu` feature)";

/// The device called `name`.
pub fn device_by_name(name: &str) -> Result<Device> {
    match name {
        "flex" | "cpu" => Ok(Device::flex()),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        other => Err(Error::Llm(format!(
            "unknown or not compiled device `{other}` (available: {DEVICE_NAMES})"
        ))),
    }
}
