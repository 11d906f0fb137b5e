//! The user's image files as the run's [`ImageSource`]: the browser's `File` handles, kept by
//! name and read only when a batch needs them (`File.arrayBuffer()`), so a folder of all of
//! CelebA (202,599 files) is never held in the tab's memory; only the images the splits pick are
//! ever read.

use std::collections::HashMap;

use biaslens_data::ImageSource;
use biaslens_data::images::ReadFuture;
use send_wrapper::SendWrapper;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Picked files by name (the last path component, as CelebA's lists name bare files).
pub struct PickedFiles {
    /// `File` handles are not `Send`; the page has one thread, and the run's sources must be
    /// `Send + Sync` for the native CLI's sake. `SendWrapper` checks the thread on every use.
    files: SendWrapper<HashMap<String, web_sys::File>>,
    /// Files the page holds in memory (a folder read whole, or images planted here), by name.
    memory: biaslens_data::MemorySource,
    /// Their total size in bytes (for the status line).
    bytes: f64,
}

impl PickedFiles {
    /// Keeps the handles of `files`; reads nothing.
    pub fn new(files: Vec<web_sys::File>) -> Self {
        let bytes = files.iter().map(|f| f.size()).sum();
        let files = files
            .into_iter()
            .map(|f| {
                let name = f.name();
                let key = name.rsplit(['/', '\\']).next().unwrap_or(&name).to_owned();
                (key, f)
            })
            .collect();
        Self { files: SendWrapper::new(files), memory: biaslens_data::MemorySource::default(), bytes }
    }

    /// Files already in memory (a picked folder read whole, images planted in the page).
    pub fn in_memory(memory: biaslens_data::MemorySource) -> Self {
        let bytes = memory.files.values().map(|b| b.len() as f64).sum();
        Self { files: SendWrapper::new(HashMap::new()), memory, bytes }
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len() + self.memory.files.len()
    }

    /// Their total size in megabytes.
    pub fn megabytes(&self) -> f64 {
        self.bytes / 1_048_576.0
    }

    /// As a message field for the compute worker: `{files, memory}`, the `File` handles (cloned
    /// by the browser, nothing read) and the in-memory files (copied; their buffers are added to
    /// `transfer`).
    pub fn to_js(&self, transfer: &mut Vec<JsValue>) -> JsValue {
        let files: js_sys::Array = self.files.values().collect();
        crate::messages::message("files", &[("files", files.into()), ("memory", memory_to_js(&self.memory, transfer))])
    }

    /// What [`PickedFiles::to_js`] made, in the compute worker.
    ///
    /// # Errors
    /// A field that is not what `to_js` writes (a bug).
    pub fn from_js(value: &JsValue) -> Result<Self, String> {
        let files = crate::messages::field(value, "files").dyn_into::<js_sys::Array>().map_err(|_| "the picked files did not arrive")?;
        let files = files.iter().map(|f| f.dyn_into::<web_sys::File>().map_err(|_| "a picked file did not arrive as a file".to_owned())).collect::<Result<Vec<_>, _>>()?;
        let mut picked = Self::new(files);
        picked.memory = memory_from_js(&crate::messages::field(value, "memory"))?;
        picked.bytes += picked.memory.files.values().map(|b| b.len() as f64).sum::<f64>();
        Ok(picked)
    }

    fn file(&self, name: &str) -> Option<&web_sys::File> {
        self.files.get(name.rsplit(['/', '\\']).next().unwrap_or(name))
    }
}

/// In-memory files as a message field: `[[name, bytes], …]` (copied; the buffers are added to
/// `transfer`).
pub fn memory_to_js(memory: &biaslens_data::MemorySource, transfer: &mut Vec<JsValue>) -> JsValue {
    let list = js_sys::Array::new();
    for (name, bytes) in &memory.files {
        list.push(&js_sys::Array::of2(&name.as_str().into(), &crate::messages::transferred(bytes, transfer)));
    }
    list.into()
}

/// What [`memory_to_js`] made.
///
/// # Errors
/// A field that is not what `memory_to_js` writes (a bug).
pub fn memory_from_js(value: &JsValue) -> Result<biaslens_data::MemorySource, String> {
    let list = value.clone().dyn_into::<js_sys::Array>().map_err(|_| "in-memory files did not arrive")?;
    let mut memory = biaslens_data::MemorySource::default();
    for entry in list.iter() {
        let entry = entry.dyn_into::<js_sys::Array>().map_err(|_| "an in-memory file did not arrive")?;
        let name = entry.get(0).as_string().ok_or("an in-memory file without a name")?;
        let bytes = entry.get(1).dyn_into::<js_sys::Uint8Array>().map_err(|_| "an in-memory file without bytes")?.to_vec();
        memory.files.insert(name, bytes);
    }
    Ok(memory)
}

impl ImageSource for PickedFiles {
    /// The browser reads files asynchronously only; the library reads the page's images through
    /// [`ImageSource::read_async`].
    fn read(&self, name: &str) -> Result<Vec<u8>, String> {
        if self.memory.contains(name) {
            return self.memory.read(name);
        }
        Err(format!("{name}: the page reads files asynchronously only (a bug: please report it)"))
    }

    fn contains(&self, name: &str) -> bool {
        self.memory.contains(name) || self.file(name).is_some()
    }

    fn read_async<'a>(&'a self, name: &'a str) -> ReadFuture<'a> {
        if self.memory.contains(name) {
            return Box::pin(std::future::ready(self.memory.read(name)));
        }
        let promise = self.file(name).map(|f| f.array_buffer());
        Box::pin(async move {
            let promise = promise.ok_or_else(|| format!("{name} was not among the selected files"))?;
            let buffer = JsFuture::from(promise).await.map_err(|e| format!("the browser could not read {name} ({e:?})"))?;
            Ok(js_sys::Uint8Array::new(&buffer).to_vec())
        })
    }
}
