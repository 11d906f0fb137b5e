// Times the explorer's default run: page open → the full default report, in headless Chromium on
// the CPU fallback or on WebGPU. A benchmark, not a test (timings are never asserted).
//
//   BIASLENS_DIST=target/dist-ci node bench_explorer.mjs cpu|webgpu [phis, e.g. -0.8]
//   BIASLENS_PROFILE=1 …   also samples the page's own thread and prints its busiest stretches
//   BIASLENS_LANES=N …     at most N compute workers at once (the URL's lanes=N; 1: one worker)
//
// Prints the wall time from navigation to "done", the page's own run time, the longest hold of
// the event loop, the longest tasks and the longest gaps between timer ticks (with the progress
// line when each ended), and the
// per-stage times of the run (from the exported results).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { serveStatic, launchChromium, watchPage } from './harness.mjs';

const mode = process.argv[2] ?? 'cpu';
const phis = process.argv[3]?.split(',').map(Number);
const server = await serveStatic(process.env.BIASLENS_DIST);
const ctx = await launchChromium(chromium, { webgpu: mode === 'webgpu' });
try {
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  const watch = watchPage(page);
  // Where the event loop was held: every task over 50 ms (the Long Tasks API's floor), with what the progress line said
  // when it ended (the browser's Long Tasks API).
  await page.addInitScript(() => {
    window.__longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        if (e.duration < 50) continue;
        const progress = document.querySelector('.progress span')?.textContent ?? '';
        window.__longTasks.push({ at_s: +(e.startTime / 1000).toFixed(1), ms: Math.round(e.duration), progress: progress.slice(0, 120), status: document.querySelector('#status')?.textContent ?? '' });
      }
    }).observe({ type: 'longtask', buffered: true });
    // The page's watchdog (web/src/pace.rs) as a script: the gaps between 50 ms timer ticks, less
    // the period, with what the progress line said; a long gap made of several short tasks shows
    // here and not among the long tasks.
    window.__gaps = [];
    let last = performance.now();
    setInterval(() => {
      const now = performance.now();
      const gap = now - last - 50;
      last = now;
      if (gap < 50) return;
      const progress = document.querySelector('.progress span')?.textContent ?? '';
      window.__gaps.push({ at_s: +(now / 1000).toFixed(1), ms: Math.round(gap), progress: progress.slice(0, 120), status: document.querySelector('#status')?.textContent ?? '' });
    }, 50);
  });
  const opened = Date.now();
  await page.goto(process.env.BIASLENS_LANES ? `${server.url}#lanes=${process.env.BIASLENS_LANES}` : server.url);
  await page.waitForSelector(`#device[data-kind="${mode}"]`, { timeout: 120_000 });
  if (phis) {
    await page.evaluate(() => { document.querySelector('details.json').open = true; });
    const json = JSON.parse(await page.inputValue('#config-json'));
    json.phis = phis;
    await page.fill('#config-json', JSON.stringify(json));
    await page.click('#apply-json');
  }
  // BIASLENS_PROFILE=1: sample the page's own thread (not the worker) with the CDP profiler and
  // print what its longest busy stretches ran (self time per function; `(program)` is the
  // browser's own work: style, layout, paint, image decoding).
  const cdp = process.env.BIASLENS_PROFILE ? await page.context().newCDPSession(page) : null;
  if (cdp) {
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
    await cdp.send('Profiler.start');
  }
  await page.click('#run-button');
  let last = 0;
  for (;;) {
    await page.waitForTimeout(2000);
    const status = await page.textContent('#status');
    if (status !== 'running') break;
    if (Date.now() - last > 60_000) {
      last = Date.now();
      console.error(`${((Date.now() - opened) / 1000).toFixed(0)} s: ${await page.$eval('.progress span', (e) => e.textContent).catch(() => '')}`);
    }
  }
  const wall = (Date.now() - opened) / 1000;
  if (cdp) console.log(JSON.stringify(busiestStretches((await cdp.send('Profiler.stop')).profile), null, 1));
  const status = await page.textContent('#status');
  const hold = await page.getAttribute('#responsiveness', 'data-ms');
  const longTasks = (await page.evaluate(() => window.__longTasks)).sort((a, b) => b.ms - a.ms).slice(0, 8);
  const longGaps = (await page.evaluate(() => window.__gaps)).sort((a, b) => b.ms - a.ms).slice(0, 8);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-report')]);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'biaslens-bench-')), 'report.html');
  await download.saveAs(file);
  const html = fs.readFileSync(file, 'utf8');
  const results = JSON.parse(html.match(/<script type="application\/json" id="biaslens-results">([\s\S]*?)<\/script>/)[1]);
  const stages = {};
  for (const t of results.timings) stages[t.stage] = (stages[t.stage] ?? 0) + t.seconds;
  console.log(JSON.stringify({
    mode, status, device: results.device, workers: (await page.textContent('#responsiveness')).match(/(\d+) of them at once/)?.[1] ?? '1', phis: results.config.phis, page_open_to_done_s: wall,
    run_s: results.total_seconds, longest_hold_ms: Number(hold), longest_tasks: longTasks, longest_timer_gaps: longGaps, stages_s: stages,
    errors: watch.errors, foreign_requests: watch.foreignRequests(server.origin),
  }, null, 1));
} finally {
  await ctx.close();
  await server.close();
}

/** The five longest stretches of back-to-back non-idle samples in a CDP CPU profile, each with
 * its ten largest self-time functions and ten largest inclusive ones (ms). */
function busiestStretches(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const name = (n) => `${n.callFrame.functionName || '(anonymous)'}`;
  const stretches = [];
  let current = null;
  let t = profile.startTime;
  profile.samples.forEach((id, i) => {
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    t += dt * 1000;
    const n = byId.get(id);
    const idle = name(n) === '(idle)';
    if (idle) { if (current) stretches.push(current); current = null; return; }
    current ??= { start_ms: t / 1000, ms: 0, self: {}, inclusive: {} };
    current.ms += dt;
    current.self[name(n)] = (current.self[name(n)] ?? 0) + dt;
    const seen = new Set();
    for (let m = id; m !== undefined; m = parent.get(m)) {
      const k = name(byId.get(m));
      if (seen.has(k)) continue;
      seen.add(k);
      current.inclusive[k] = (current.inclusive[k] ?? 0) + dt;
    }
  });
  if (current) stretches.push(current);
  const top = (o) => Object.entries(o).sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, v]) => `${v.toFixed(1)} ${k.slice(0, 90)}`);
  return stretches.sort((a, b) => b.ms - a.ms).slice(0, 5)
    .map((s) => ({ at_s: +((s.start_ms - profile.startTime / 1000) / 1000).toFixed(1), ms: +s.ms.toFixed(1), self: top(s.self), inclusive: top(s.inclusive) }));
}
