//! Choosing the compute device: WebGPU when the browser offers an adapter, else the flex CPU.
//!
//! burn's wgpu runtime must be initialised once, asynchronously, before any tensor is created on
//! it; the probe below asks the browser first so that a missing adapter becomes
//! a clear reason instead of an error deep inside wgpu.

use biaslens_experiment::resources::DeviceLimits;
use burn::prelude::Device;
use burn::tensor::wgpu::WgpuBackend;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Which backend a [`Chosen`] device runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// burn's wgpu runtime on the browser's WebGPU.
    WebGpu,
    /// burn's flex backend on the CPU (WebAssembly SIMD, one thread).
    Cpu,
}

impl Kind {
    /// Short machine-readable name, also used by the browser tests.
    pub fn id(self) -> &'static str {
        match self {
            Kind::WebGpu => "webgpu",
            Kind::Cpu => "cpu",
        }
    }

    /// Words for the user.
    pub fn label(self) -> &'static str {
        match self {
            Kind::WebGpu => "WebGPU",
            Kind::Cpu => "the CPU",
        }
    }
}

/// What the page knows of the compute device: its kind, why it was chosen and its limits. The
/// burn device itself lives where the computation runs (the compute worker, or the main thread
/// when the worker cannot start); see [`choose`].
#[derive(Debug, Clone)]
pub struct Chosen {
    /// Backend kind.
    pub kind: Kind,
    /// One sentence for the user: what runs where, and why.
    pub why: String,
    /// What the device allows (configs are checked against it before a run).
    pub limits: DeviceLimits,
}

impl Kind {
    /// The kind [`Kind::id`] names.
    pub fn from_id(id: &str) -> Option<Self> {
        [Kind::WebGpu, Kind::Cpu].into_iter().find(|k| k.id() == id)
    }
}

/// The URL's test hook (`simulate=gpu-loss@K`): on WebGPU, the unit at index `at` fails as a lost
/// device would, to exercise the switch to the CPU (whichever thread hosts the run).
///
/// # Errors
/// The device error that unit fails with.
pub fn simulated_loss(kind: Kind, at: Option<usize>, unit: &biaslens_experiment::Unit) -> Result<(), biaslens_experiment::RunError> {
    if kind == Kind::WebGpu && at == Some(unit.index) {
        return Err(biaslens_experiment::RunError::Device("the GPU device was lost (simulated by the URL's test hook)".into()));
    }
    Ok(())
}

/// The flex CPU (device [`Device::flex`]), with the reason we are on it.
pub fn cpu(why: impl Into<String>) -> Chosen {
    Chosen { kind: Kind::Cpu, why: why.into(), limits: DeviceLimits::WASM_CPU }
}

/// Ask the browser for a WebGPU adapter; `Ok(None)` when there is none. Works on the page and
/// in a worker (both have `navigator.gpu` in Chromium).
async fn browser_adapter() -> Result<Option<JsValue>, String> {
    let navigator = js_sys::Reflect::get(&js_sys::global(), &"navigator".into()).map_err(|_| "no navigator")?;
    let gpu = js_sys::Reflect::get(&navigator, &"gpu".into()).map_err(|_| "navigator unreadable")?;
    if gpu.is_undefined() || gpu.is_null() {
        return Ok(None);
    }
    let request: js_sys::Function = js_sys::Reflect::get(&gpu, &"requestAdapter".into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or("navigator.gpu.requestAdapter is not a function")?;
    let promise: js_sys::Promise =
        request.call0(&gpu).map_err(|e| format!("requestAdapter threw {e:?}"))?.dyn_into().map_err(|_| "requestAdapter returned no promise")?;
    let adapter = JsFuture::from(promise).await.map_err(|e| format!("requestAdapter failed: {e:?}"))?;
    Ok((!adapter.is_null() && !adapter.is_undefined()).then_some(adapter))
}

/// Pick WebGPU when it works here, else the CPU, and say why: the device and what the page shows.
pub async fn choose() -> (Chosen, Device) {
    let on_cpu = |why: String| (cpu(why), Device::flex());
    match browser_adapter().await {
        Ok(None) => return on_cpu("This browser offers no WebGPU adapter, so the CPU computes (burn flex, WebAssembly SIMD).".into()),
        Err(e) => return on_cpu(format!("WebGPU could not be queried ({e}), so the CPU computes.")),
        Ok(Some(_)) => {}
    }
    match Device::wgpu_options().graphics_api(WgpuBackend::WebGpu).init_with_setup_async().await {
        Ok((device, setup)) => {
            let info = setup.adapter.get_info();
            let why = if info.device_type == burn::tensor::wgpu::wgpu::DeviceType::Cpu {
                "WebGPU is available through a software adapter (it emulates a GPU on the CPU, so it is slow), \
                 and computes here."
                    .to_string()
            } else {
                let name = if info.name.is_empty() { "an unnamed adapter".to_string() } else { info.name.clone() };
                format!("WebGPU is available ({name}), so the GPU computes.")
            };
            let l = setup.device.limits();
            let limits = DeviceLimits::webgpu(u64::from(l.max_storage_buffer_binding_size), l.max_buffer_size);
            (Chosen { kind: Kind::WebGpu, why, limits }, device)
        }
        Err(e) => on_cpu(format!("WebGPU is present but could not start ({e}), so the CPU computes.")),
    }
}
