// The page's memory with a large own-images folder (issue 18, item 5): a folder exported in
// CelebA's layout (`biaslens data export`) is given to the folder picker, N files at once, with
// its attribute list cut to those N images, and a small run goes through it. A benchmark, run by
// hand, not in CI; nothing is asserted.
//
//   BIASLENS_DIST=target/dist-big node tests/e2e/bench_big_folder.mjs /work/big-celeba/200k 20000 [200000 …]
//
// For each N it prints, once the files are picked, once the labels are read, and at the end of
// the run: the wasm module's linear memory (it only grows, so the last value is its peak), the
// JS heap (CDP Performance.getMetrics), and the peak resident memory of the renderer process and
// of all of Chromium's processes, sampled every 500 ms from /proc (descendants of this node
// process only). One fresh browser per N, so the numbers do not accumulate.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import { serveStatic, launchChromium, watchPage } from './harness.mjs';

const [folder, ...counts] = process.argv.slice(2);
if (!folder || counts.length === 0) {
  console.error('usage: BIASLENS_DIST=… node bench_big_folder.mjs <exported CelebA folder> <N> [N …]');
  process.exit(2);
}
const images = path.join(folder, 'img_align_celeba');
const lines = fs.readFileSync(path.join(folder, 'list_attr_celeba.txt'), 'utf8').split('\n');

/** The run: one φ, a small network, few images (what is measured is the data path). */
const config = {
  name: 'big-folder',
  seed: 7,
  phis: [-0.5],
  data: { synthetic: { size: 32, attribute: 'necktie' }, pool: 20000 },
  splits: { train: 256, debias: 64, test: 64 },
  model: { block: 'Basic', layers: [1, 1, 1, 1], width: 8 },
  train: { learning_rate: 0.002, batch_size: 64, epochs: 1, seed: 1 },
  methods: [{ method: 'thr_opt' }],
  attribution: { images: 16, batch_size: 8, methods: [{ method: 'lrp' }] },
};

/** RSS (kB) of every process descended from this one, and of the renderers among them. */
function chromiumRss() {
  const rows = execFileSync('ps', ['-e', '-o', 'pid=,ppid=,rss=,args='], { encoding: 'utf8', maxBuffer: 1 << 26 })
    .split('\n').filter(Boolean).map((l) => {
      const m = l.trim().match(/^(\d+)\s+(\d+)\s+(\d+)\s+(.*)$/);
      return m && { pid: +m[1], ppid: +m[2], rss: +m[3], args: m[4] };
    }).filter(Boolean);
  const mine = new Set([process.pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const r of rows) if (!mine.has(r.pid) && mine.has(r.ppid)) { mine.add(r.pid); grew = true; }
  }
  const ours = rows.filter((r) => r.pid !== process.pid && mine.has(r.pid));
  const renderer = Math.max(0, ...ours.filter((r) => r.args.includes('--type=renderer')).map((r) => r.rss));
  return { total: ours.reduce((s, r) => s + r.rss, 0), renderer };
}

const mb = (bytes) => (bytes / 1048576).toFixed(0);

async function measure(n) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'biaslens-big-'));
  const names = fs.readdirSync(images).sort().slice(0, n);
  if (names.length < n) throw new Error(`${images} holds ${names.length} images, fewer than ${n}`);
  // The attribute list of exactly these images (the export lists them in this order).
  fs.writeFileSync(path.join(dir, 'list_attr_celeba.txt'), [String(n), lines[1], ...lines.slice(2, 2 + n)].join('\n') + '\n');
  const server = await serveStatic(process.env.BIASLENS_DIST);
  const ctx = await launchChromium(chromium, { webgpu: false });
  const peak = { renderer: 0, total: 0 };
  const sampler = setInterval(() => {
    const r = chromiumRss();
    peak.renderer = Math.max(peak.renderer, r.renderer);
    peak.total = Math.max(peak.total, r.total);
  }, 500);
  const rows = [];
  try {
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    const watch = watchPage(page);
    await page.addInitScript(() => {
      addEventListener('TrunkApplicationStarted', (e) => { window.__wasmMemory = e.detail.wasm.memory; });
    });
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('Performance.enable');
    const snapshot = async (when, t0) => {
      const metrics = Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
      const wasm = await page.evaluate(() => window.__wasmMemory?.buffer.byteLength ?? 0);
      const rss = chromiumRss();
      const row = {
        n, when, seconds: +((Date.now() - t0) / 1000).toFixed(1), wasm_mb: +mb(wasm), js_heap_used_mb: +mb(metrics.JSHeapUsedSize),
        js_heap_total_mb: +mb(metrics.JSHeapTotalSize), renderer_rss_mb: +(rss.renderer / 1024).toFixed(0), chromium_rss_mb: +(rss.total / 1024).toFixed(0),
        peak_renderer_rss_mb: +(peak.renderer / 1024).toFixed(0), peak_chromium_rss_mb: +(peak.total / 1024).toFixed(0),
      };
      rows.push(row);
      console.log(JSON.stringify(row));
    };
    const t0 = Date.now();
    await page.goto(server.url);
    await page.waitForSelector('#device[data-kind="cpu"]', { timeout: 120_000 });
    await snapshot('page open', t0);
    await page.evaluate(() => { document.querySelector('details.json').open = true; });
    await page.fill('#config-json', JSON.stringify(config));
    await page.click('#apply-json');
    await page.evaluate(() => { document.querySelector('details.own').open = true; });
    const t1 = Date.now();
    await page.setInputFiles('#own-images', names.map((f) => path.join(images, f)), { timeout: 0 });
    await page.waitForFunction((k) => document.getElementById('own-status')?.textContent.includes(`${k} image files`), n, { timeout: 0, polling: 500 });
    await snapshot('files picked', t1);
    await page.setInputFiles('#own-labels', path.join(dir, 'list_attr_celeba.txt'));
    await page.waitForFunction(() => document.getElementById('own-status')?.textContent.startsWith('using list_attr_celeba.txt'), null, { timeout: 0, polling: 500 });
    await snapshot('labels read', t1);
    const t2 = Date.now();
    await page.click('#run-button');
    let last = 0;
    for (;;) {
      await page.waitForTimeout(1000);
      const status = await page.textContent('#status');
      if (Date.now() - last > 15_000) {
        last = Date.now();
        console.error(`${((Date.now() - t2) / 1000).toFixed(0)} s: ${await page.$eval('.progress span', (e) => e.textContent).catch(() => status)}`);
      }
      if (status !== 'running') break;
    }
    const status = await page.textContent('#status');
    await snapshot(`run ${status}`, t2);
    if (status !== 'done') console.error(await page.textContent('#notes'));
    if (watch.errors.length) console.error(watch.errors.join('\n'));
  } finally {
    clearInterval(sampler);
    await ctx.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

const all = [];
for (const n of counts.map(Number)) all.push(...(await measure(n)));
console.log(JSON.stringify(all, null, 1));
