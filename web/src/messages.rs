//! The messages between the page and its compute worker ([`crate::worker`],
//! [`crate::explorer::remote`]): plain JavaScript objects with a `kind` and named fields; the
//! results and progress travel as their JSON, a unit's maps and kept model as transferred bytes
//! (`biaslens_experiment::transfer`).
//!
//! | from | kind | fields |
//! |---|---|---|
//! | worker | `ready` | (the bundle started) |
//! | worker.js | `failed` | `error`: the bundle could not start |
//! | page | `choose` | `cpu`? (`true`: an extra CPU lane of a parallel run, no GPU probe) |
//! | worker | `device` | `device_kind` (`webgpu`/`cpu`), `why`, `max_buffer`, `memory` |
//! | page | `run` | `config` (JSON, fitted), `inspect_bytes`, `vanilla`?, `pretrained`? (bytes), `gpu_loss_at`?, `own`? (the user's data: `explorer::own`), `shard`? (`I/N`: only that unit, for a parallel run's lane) |
//! | page | `cancel` | |
//! | worker | `progress` | `event` (a `RunProgress`'s JSON) |
//! | worker | `unit-starting` | `unit` (its index in run order) |
//! | worker | `unit-finished` | `results` (the joined results' JSON), `extras`: `[{key, header, arrays}]` of units not sent before (a header and its `Float32Array`s) |
//! | worker | `fallback` | `error`: WebGPU failed; the worker redoes the unit on the CPU |
//! | worker | `end` | `results`?, `extras` (only if the last `unit-finished` did not hold them), `cancelled`, `error`? |

use biaslens_experiment::results::PhiResult;
use wasm_bindgen::JsValue;

/// A message of `kind` with `fields`.
pub fn message(kind: &str, fields: &[(&str, JsValue)]) -> JsValue {
    let object = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&object, &"kind".into(), &kind.into());
    for (key, value) in fields {
        let _ = js_sys::Reflect::set(&object, &(*key).into(), value);
    }
    object.into()
}

/// The field `key` of `value` (`undefined` if absent).
pub fn field(value: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(value, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// The bytes of the field `key` of `value` (a `Uint8Array`), copied into this module's memory;
/// `None` if absent or not bytes.
pub fn bytes(value: &JsValue, key: &str) -> Option<Vec<u8>> {
    use wasm_bindgen::JsCast;
    field(value, key).dyn_into::<js_sys::Uint8Array>().ok().map(|a| a.to_vec())
}

/// `bytes` copied into a new `Uint8Array` whose buffer is added to `transfer` (handed over by the
/// message, not copied again).
pub fn transferred(bytes: &[u8], transfer: &mut Vec<JsValue>) -> JsValue {
    let array = js_sys::Uint8Array::from(bytes);
    transfer.push(array.buffer().into());
    array.into()
}

/// The text field `key` of `value`.
pub fn text(value: &JsValue, key: &str) -> Option<String> {
    field(value, key).as_string()
}

/// Which unit a result's extras belong to: its φ (exact bits) and seed (as text: seeds are
/// 64-bit, JavaScript numbers are not).
pub fn unit_key(phi: &PhiResult) -> String {
    format!("{}:{}", phi.phi.to_bits(), phi.seed)
}
