//! The last finished run kept in this browser: its results (numbers, charts' data, config; never
//! images) and each unit's trained vanilla model, in the origin private file system (OPFS,
//! `navigator.storage.getDirectory()`), so a reload can restore them. The page says when it
//! stores, offers the restore on open, and forgets on request (Share panel).
//!
//! Layout: a folder `biaslens-last-run` holding `results.json` (the results document, as
//! `biaslens run --json` writes it), `vanilla-<k>.safetensors` per unit `k` (torchvision
//! weights) and `meta.json` ([`Kept`]), written last, so a run half written (a closed tab) is
//! never offered.

use std::sync::Arc;

use biaslens_experiment::{ExperimentResults, import_report};
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// The folder of the kept run.
const DIR: &str = "biaslens-last-run";
const RESULTS: &str = "results.json";
const META: &str = "meta.json";

/// What is kept: enough to describe it without reading the results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kept {
    /// When it was stored (ms since the epoch).
    pub saved_ms: f64,
    /// The config's name.
    pub name: String,
    /// Units (φ, seed) of the run.
    pub units: usize,
    /// Bytes stored (results and weights).
    pub bytes: usize,
    /// Per unit with a kept vanilla model: (φ, seed, file name).
    pub weights: Vec<(f64, u64, String)>,
}

impl Kept {
    /// `"e2e-small, 1 unit, 2.3 MB, stored 14:05"`.
    pub fn describe(&self) -> String {
        let date = js_sys::Date::new(&JsValue::from_f64(self.saved_ms));
        let when: String = date.to_locale_string("default", &JsValue::UNDEFINED).into();
        format!(
            "{}, {} unit{}, {:.1} MB, stored {when}",
            self.name,
            self.units,
            if self.units == 1 { "" } else { "s" },
            self.bytes as f64 / (1024.0 * 1024.0)
        )
    }
}

fn js_err(what: &str) -> impl Fn(JsValue) -> String + '_ {
    move |e| {
        let text = e
            .dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            .or_else(|| e.as_string())
            .unwrap_or_else(|| format!("{e:?}"));
        format!("{what}: {text}")
    }
}

/// The origin's private folder (an error where the browser has none, e.g. outside a secure
/// context).
async fn root() -> Result<web_sys::FileSystemDirectoryHandle, String> {
    let window = web_sys::window().ok_or("no window")?;
    let storage = window.navigator().storage();
    let handle = JsFuture::from(storage.get_directory()).await.map_err(js_err("this browser offers no private storage to the page"))?;
    handle.dyn_into().map_err(|_| "the browser's storage folder is not a folder".into())
}

async fn folder(create: bool) -> Result<Option<web_sys::FileSystemDirectoryHandle>, String> {
    let root = root().await?;
    let options = web_sys::FileSystemGetDirectoryOptions::new();
    options.set_create(create);
    match JsFuture::from(root.get_directory_handle_with_options(DIR, &options)).await {
        Ok(h) => Ok(h.dyn_into().ok()),
        // NotFoundError: nothing kept.
        Err(_) if !create => Ok(None),
        Err(e) => Err(js_err("the page could not make its storage folder")(e)),
    }
}

async fn write(dir: &web_sys::FileSystemDirectoryHandle, name: &str, bytes: &[u8]) -> Result<(), String> {
    let options = web_sys::FileSystemGetFileOptions::new();
    options.set_create(true);
    let file: web_sys::FileSystemFileHandle = JsFuture::from(dir.get_file_handle_with_options(name, &options))
        .await
        .map_err(js_err("the page could not create a stored file"))?
        .dyn_into()
        .map_err(|_| "not a file")?;
    let stream: web_sys::FileSystemWritableFileStream =
        JsFuture::from(file.create_writable()).await.map_err(js_err("the page could not write to its storage"))?.dyn_into().map_err(|_| "not a stream")?;
    let array = js_sys::Uint8Array::from(bytes);
    let written = stream.write_with_js_u8_array(&array).map_err(js_err("the page could not write to its storage"))?;
    JsFuture::from(written).await.map_err(js_err("the browser refused to store the run (is its storage full?)"))?;
    JsFuture::from(stream.close()).await.map_err(js_err("the page could not finish writing to its storage"))?;
    Ok(())
}

async fn read(dir: &web_sys::FileSystemDirectoryHandle, name: &str) -> Result<Vec<u8>, String> {
    let file: web_sys::FileSystemFileHandle =
        JsFuture::from(dir.get_file_handle(name)).await.map_err(js_err("a stored file is missing"))?.dyn_into().map_err(|_| "not a file")?;
    let blob: web_sys::File = JsFuture::from(file.get_file()).await.map_err(js_err("a stored file could not be read"))?.dyn_into().map_err(|_| "not a file")?;
    let buffer = JsFuture::from(blob.array_buffer()).await.map_err(js_err("a stored file could not be read"))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// Stores `results` (without images) and each unit's vanilla model it carries, replacing what
/// was kept; returns the description of what is now kept.
pub async fn save(results: &ExperimentResults) -> Result<Kept, String> {
    forget().await?;
    let dir = folder(true).await?.ok_or("the page could not make its storage folder")?;
    let json = serde_json::to_vec(results).map_err(|e| e.to_string())?;
    let mut bytes = json.len();
    write(&dir, RESULTS, &json).await?;
    let mut weights = Vec::new();
    for (k, p) in results.phis.iter().enumerate() {
        if let Some(w) = &p.vanilla_weights {
            let name = format!("vanilla-{k}.safetensors");
            write(&dir, &name, w).await?;
            bytes += w.len();
            weights.push((p.phi, p.seed, name));
        }
    }
    let kept = Kept { saved_ms: js_sys::Date::now(), name: results.config.name.clone(), units: results.phis.len(), bytes, weights };
    let meta = serde_json::to_vec(&kept).map_err(|e| e.to_string())?;
    write(&dir, META, &meta).await?;
    Ok(kept)
}

/// What is kept, if anything (a folder without its `meta.json` was never finished: nothing).
pub async fn kept() -> Result<Option<Kept>, String> {
    let Some(dir) = folder(false).await? else { return Ok(None) };
    let Ok(meta) = read(&dir, META).await else { return Ok(None) };
    serde_json::from_slice(&meta).map(Some).map_err(|e| format!("the stored run's description is unreadable ({e}); forget it and run again"))
}

/// The kept results, read as an imported report is (same checks, same messages).
pub async fn restore() -> Result<ExperimentResults, String> {
    let dir = folder(false).await?.ok_or("nothing is kept in this browser")?;
    let bytes = read(&dir, RESULTS).await?;
    import_report(&String::from_utf8_lossy(&bytes)).map_err(|e| e.to_string())
}

/// The kept vanilla model stored as `name`.
pub async fn weights(name: &str) -> Result<Arc<[u8]>, String> {
    let dir = folder(false).await?.ok_or("nothing is kept in this browser")?;
    Ok(read(&dir, name).await?.into())
}

/// Deletes everything kept (nothing kept is not an error).
pub async fn forget() -> Result<(), String> {
    let root = root().await?;
    let options = web_sys::FileSystemRemoveOptions::new();
    options.set_recursive(true);
    match JsFuture::from(root.remove_entry_with_options(DIR, &options)).await {
        Ok(_) => Ok(()),
        Err(e) if e.dyn_ref::<web_sys::DomException>().is_some_and(|d| d.name() == "NotFoundError") => Ok(()),
        Err(e) => Err(js_err("the page could not delete what it kept")(e)),
    }
}
