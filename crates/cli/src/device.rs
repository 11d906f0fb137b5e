//! `--device cpu|wgpu`: where the CLI computes.
//!
//! `cpu` is burn's flex backend on every core. `wgpu` is burn's wgpu runtime on the first adapter
//! wgpu finds natively (Vulkan, Metal or DX12); it is the same runtime and the same WGSL kernels as
//! the page's WebGPU, so a native `--device wgpu` run checks the GPU code path without a browser.
//! On a Linux machine without a GPU, Mesa's lavapipe (`mesa-vulkan-drivers`) is a Vulkan adapter
//! that runs on the CPU: correct, and slower than `cpu` (ARCHITECTURE.md, "Known device
//! differences"; BENCHMARKS.md).

use biaslens_experiment::resources::DeviceLimits;
use burn::prelude::Device;

/// Which backend to compute on.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kind {
    /// burn's flex backend on the CPU (SIMD, all cores).
    #[default]
    Cpu,
    /// burn's wgpu runtime on the first native adapter (Vulkan, Metal, DX12).
    Wgpu,
}

/// The `--device` option, shared by every command that computes.
#[derive(clap::Args, Clone, Copy, Debug)]
pub struct DeviceArgs {
    /// Where to compute: `cpu` (burn flex, all cores) or `wgpu` (the first GPU adapter wgpu finds
    /// natively: Vulkan, Metal or DX12; Mesa's lavapipe counts, and is slow).
    #[arg(long, value_enum, default_value_t)]
    pub device: Kind,
}

/// An opened device and what it is.
#[derive(Debug, Clone)]
pub struct Chosen {
    /// The burn device.
    pub device: Device,
    /// A reader's name: `"CPU (burn flex)"` or `"wgpu: <adapter> (<API>, <type>)"`.
    pub name: String,
    /// What the device allows, for [`biaslens_experiment::resources::fit`]; `None` on the CPU,
    /// where the machine's memory is the only limit.
    pub limits: Option<DeviceLimits>,
}

impl DeviceArgs {
    /// Open the chosen device.
    ///
    /// # Errors
    /// `wgpu` when this binary was built without it or no adapter starts; the message says
    /// what to do.
    pub fn open(self) -> anyhow::Result<Chosen> {
        match self.device {
            Kind::Cpu => Ok(Chosen { device: Device::flex(), name: "CPU (burn flex)".into(), limits: None }),
            Kind::Wgpu => open_wgpu(),
        }
    }
}

#[cfg(feature = "wgpu")]
fn open_wgpu() -> anyhow::Result<Chosen> {
    use std::sync::OnceLock;
    // burn registers a wgpu runtime once per process; a second init of the same selector fails,
    // so the first one is kept (the native tests open it from several threads).
    static OPENED: OnceLock<Result<Chosen, String>> = OnceLock::new();
    let opened = OPENED.get_or_init(|| {
        let (device, setup) = Device::wgpu_options().init_with_setup().map_err(|e| {
            format!(
                "no wgpu adapter could be started ({e}). Install a GPU driver with Vulkan, Metal or DX12 support \
                 (on Linux without a GPU, Mesa's lavapipe: `apt install mesa-vulkan-drivers`), or use --device cpu"
            )
        })?;
        let info = setup.adapter.get_info();
        let adapter = if info.name.is_empty() { "unnamed adapter".to_string() } else { info.name.clone() };
        let kind = match info.device_type {
            burn::tensor::wgpu::wgpu::DeviceType::Cpu => "software, runs on the CPU",
            burn::tensor::wgpu::wgpu::DeviceType::DiscreteGpu => "discrete GPU",
            burn::tensor::wgpu::wgpu::DeviceType::IntegratedGpu => "integrated GPU",
            burn::tensor::wgpu::wgpu::DeviceType::VirtualGpu => "virtual GPU",
            burn::tensor::wgpu::wgpu::DeviceType::Other => "other",
        };
        let l = setup.device.limits();
        // The buffer limits are the adapter's own. wgpu does not report how much memory an
        // adapter has, so natively only the buffer sizes are checked before a run.
        let limits = DeviceLimits {
            memory_bytes: u64::MAX,
            ..DeviceLimits::webgpu(l.max_storage_buffer_binding_size, l.max_buffer_size)
        };
        Ok(Chosen { device, name: format!("wgpu: {adapter} ({:?}, {kind})", info.backend), limits: Some(limits) })
    });
    opened.clone().map_err(|e| anyhow::anyhow!(e))
}

#[cfg(not(feature = "wgpu"))]
fn open_wgpu() -> anyhow::Result<Chosen> {
    anyhow::bail!("this biaslens was built without the `wgpu` feature; rebuild with default features, or use --device cpu")
}
