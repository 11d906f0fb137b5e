// Shared pieces of the browser tests: a static file server on 127.0.0.1, a Chromium launch with
// the flags this machine needs, and a watcher for requests and console errors.
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.wasm': 'application/wasm',
  '.css': 'text/css', '.json': 'application/json', '.png': 'image/png', '.svg': 'image/svg+xml',
};

/** Serve `root` on 127.0.0.1 at a free port; resolves to { url, origin, close }. */
export function serveStatic(root) {
  const base = path.resolve(root);
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    let file = path.join(base, rel.endsWith('/') ? rel + 'index.html' : rel);
    if (!file.startsWith(base) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const origin = `http://127.0.0.1:${server.address().port}`;
      resolve({ url: origin + '/', origin, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

/** Headless Debian Chromium; WebGPU through SwiftShader only when `webgpu` is set. */
export async function launchChromium(chromium, { webgpu }) {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'biaslens-chromium-'));
  const args = ['--headless=new', '--no-sandbox', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'];
  if (webgpu) args.push('--enable-unsafe-webgpu');
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.BIASLENS_CHROMIUM ?? '/usr/bin/chromium',
    headless: true, ignoreDefaultArgs: ['--headless'], args, viewport: { width: 1280, height: 900 },
  });
}

/** Record every request URL and every console error / uncaught page error. */
export function watchPage(page) {
  const requests = [];
  const errors = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return {
    errors,
    requests,
    foreignRequests: (origin) => requests.filter((u) => !(u.startsWith(origin + '/') || u.startsWith('data:') || u.startsWith('blob:'))),
  };
}
