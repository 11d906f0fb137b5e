//! The user's image files as the run's [`ImageSource`]: the browser's `File` handles, kept by
//! name and read only when a batch needs them (`File.arrayBuffer()`), so a folder of all of
//! CelebA (202,599 files) is never held in the tab's memory; only the images the splits pick are
//! ever read.

use std::collections::HashMap;

use biaslens_data::ImageSource;
use biaslens_data::images::ReadFuture;
use send_wrapper::SendWrapper;
use wasm_bindgen_futures::JsFuture;

/// Picked files by name (the last path component, as CelebA's lists name bare files).
pub struct PickedFiles {
    /// `File` handles are not `Send`; the page has one thread, and the run's sources must be
    /// `Send + Sync` for the native CLI's sake. `SendWrapper` checks the thread on every use.
    files: SendWrapper<HashMap<String, web_sys::File>>,
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
        Self { files: SendWrapper::new(files), bytes }
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Their total size in megabytes.
    pub fn megabytes(&self) -> f64 {
        self.bytes / 1_048_576.0
    }

    fn file(&self, name: &str) -> Option<&web_sys::File> {
        self.files.get(name.rsplit(['/', '\\']).next().unwrap_or(name))
    }
}

impl ImageSource for PickedFiles {
    /// The browser reads files asynchronously only; the library reads the page's images through
    /// [`ImageSource::read_async`].
    fn read(&self, name: &str) -> Result<Vec<u8>, String> {
        Err(format!("{name}: the page reads files asynchronously only (a bug: please report it)"))
    }

    fn contains(&self, name: &str) -> bool {
        self.file(name).is_some()
    }

    fn read_async<'a>(&'a self, name: &'a str) -> ReadFuture<'a> {
        let promise = self.file(name).map(|f| f.array_buffer());
        Box::pin(async move {
            let promise = promise.ok_or_else(|| format!("{name} was not among the selected files"))?;
            let buffer = JsFuture::from(promise).await.map_err(|e| format!("the browser could not read {name} ({e:?})"))?;
            Ok(js_sys::Uint8Array::new(&buffer).to_vec())
        })
    }
}
