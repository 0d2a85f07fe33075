//! Backend selection: burn 0.22 dispatches devices at run time, so every model and training
//! loop is written once against `Tensor<D>` and runs on whichever device is chosen here.

use burn::tensor::Device;

use crate::error::{Error, Result};

/// The compute backends this build knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// burn's pure-Rust CPU backend (`flex`), always compiled.
    Cpu,
    /// wgpu (Vulkan / Metal / DX12), compiled with the `wgpu` feature.
    Wgpu,
}

impl std::str::FromStr for Backend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(Backend::Cpu),
            "wgpu" => Ok(Backend::Wgpu),
            other => Err(Error::Backend(
                other.into(),
                "known backends: cpu, wgpu".into(),
            )),
        }
    }
}

impl Backend {
    /// Every backend compiled into this build.
    pub fn compiled() -> Vec<Backend> {
        let mut v = vec![Backend::Cpu];
        if cfg!(feature = "wgpu") {
            v.push(Backend::Wgpu);
        }
        v
    }

    /// The autodiff-enabled device of this backend.
    pub fn device(self) -> Result<Device> {
        match self {
            Backend::Cpu => Ok(Device::flex().autodiff()),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice).autodiff()),
            #[cfg(not(feature = "wgpu"))]
            Backend::Wgpu => Err(Error::Backend(
                "wgpu".into(),
                "rebuild with `--features wgpu`".into(),
            )),
        }
    }
}
