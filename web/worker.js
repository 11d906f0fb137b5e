// The page's compute worker (ARCHITECTURE.md, "The run driver"; web/src/worker.rs). It loads the
// page's own wasm bundle (the same two files the page loaded, from the browser's cache: no second
// download), whose start function, finding no window, answers the page's messages from here on.
// The first message names the bundle's script and hands over the page's compiled WebAssembly.Module
// (instantiated here without compiling again), or the wasm file's URL when the browser could not.
self.onmessage = async (event) => {
  self.onmessage = null;
  const { js, wasm } = event.data;
  try {
    const bindings = await import(js);
    await bindings.default({ module_or_path: wasm });
  } catch (e) {
    self.postMessage({ kind: 'failed', error: String(e) });
  }
};
