//! Criterion benches live in `benches/`; see `Cargo.toml`. This library holds what they share:
//! which backends are compiled and whether one can run here.

use burn::tensor::{Device, Tensor, TensorData};

/// The compiled backends, by the names `icor_llm::device_by_name` takes.
pub const BACKENDS: &[&str] = &[
    "flex",
    #[cfg(feature = "wgpu")]
    "wgpu",
];

/// `device` if it can run a tensor op here (a round trip of `[1.0]`), else why not: a build
/// with `--features wgpu` on a machine without a Vulkan driver gets a note, not a crash.
pub fn check_device(device: Device) -> Result<Device, String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let probe = std::panic::catch_unwind(|| {
        icor_llm::tensor_util::to_vec_f32(Tensor::<1>::from_data(
            TensorData::new(vec![1.0f32], [1]),
            &device,
        ))
    });
    std::panic::set_hook(hook);
    match probe {
        Ok(v) if v == [1.0] => Ok(device),
        Ok(v) => Err(format!("a round trip of [1.0] gave {v:?}")),
        Err(e) => Err(e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a tensor op panicked".into())),
    }
}

/// The device called `name` if it is compiled and usable here.
pub fn usable_device(name: &str) -> Result<Device, String> {
    icor_llm::device_by_name(name)
        .map_err(|e| e.to_string())
        .and_then(check_device)
}
