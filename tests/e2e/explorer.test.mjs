// Browser tests of the explorer (issue 9): the default run completes and every chart renders; a
// link reproduces identical numbers; the page's numbers equal the native CLI's on the same
// config; the paper's claims are shown graded with the ground-truth reliance; seeds and presets
// work; a bad file shows an error and keeps the results; the ROI is edited with the keyboard
// alone; report export and import; nothing leaves 127.0.0.1; an artifact planted in the page or
// by `biaslens plant` runs with per-image boxes, masks and counterfactuals as `biaslens run` does.
//
// Inputs (set by `cargo xtask test`): BIASLENS_DIST = built page, BIASLENS_CLI = native binary.
// BIASLENS_FULL_DEMO=1 also runs the full default demo (every φ and method) on the CPU fallback;
// by default the default page runs a one-φ cut of it, to keep CI short on two cores.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import zlib from 'node:zlib';
import { chromium } from 'playwright-core';
import { serveStatic, launchChromium, watchPage } from './harness.mjs';

const dist = process.env.BIASLENS_DIST;
const cli = process.env.BIASLENS_CLI;
const outDir = path.join(import.meta.dirname, 'out');

/** The small config of the round-trip and native-agreement tests: the demo's settings (as the
 * CLI prints them) cut to one φ, small splits, ThrOpt and RR-ClArC. 64 training steps at 48×48
 * give a model well above chance (accuracy 0.77–0.95 natively): a model near chance has near-tied
 * logits, and then float rounding of another backend flips many predictions. */
function smallConfig() {
  const demo = JSON.parse(execFileSync(cli, ['demo', '--print-config'], { encoding: 'utf8' }));
  const rr = demo.methods.find((m) => m.method === 'rr_clarc');
  return {
    ...demo,
    name: 'e2e-small',
    seed: 7,
    // The benchmark's default faces (an obvious smile, distractors on), not the demo's subtler
    // ones: on those 64 steps leave models nearer chance, where the two backends' rounding decides
    // more predictions (the page–native gap reached 0.99 of the intervals there).
    data: { ...demo.data, synthetic: { ...demo.data.synthetic, size: 48, seed: 7, open_mouth_rate: 0.5, expression: 1.0, distractors: true }, pool: 8000 },
    phis: [-0.8],
    splits: { ...demo.splits, train: 512, debias: 128, test: 128 },
    train: { ...demo.train, epochs: 4, batch_size: 32, learning_rate: 0.003 },
    methods: [demo.methods.find((m) => m.method === 'thr_opt'), { ...rr, config: { ...rr.config, batch_size: 32 } }],
    attribution: {
      ...demo.attribution,
      images: 16,
      batch_size: 8,
      methods: demo.attribution.methods.map((a) => (a.method === 'ig' ? { ...a, config: { ...a.config, steps: 8, steps_per_chunk: 8 } } : a)),
    },
    metrics: { ...demo.metrics, bootstrap: { ...demo.metrics.bootstrap, resamples: 100 } },
  };
}

/** The entries of a zip whose entries are stored (not compressed), by name. */
function readStoredZip(buf) {
  const files = new Map();
  let o = 0;
  while (o + 30 <= buf.length && buf.readUInt32LE(o) === 0x04034b50) {
    const flags = buf.readUInt16LE(o + 6);
    const method = buf.readUInt16LE(o + 8);
    const size = buf.readUInt32LE(o + 18);
    const nameLength = buf.readUInt16LE(o + 26);
    const extraLength = buf.readUInt16LE(o + 28);
    const name = buf.toString('utf8', o + 30, o + 30 + nameLength);
    assert.equal(method, 0, `${name} is stored`);
    assert.equal(flags & 8, 0, `${name} has its size in the local header`);
    const start = o + 30 + nameLength + extraLength;
    files.set(name, buf.subarray(start, start + size));
    o = start + size;
  }
  assert.equal(buf.readUInt32LE(o), 0x02014b50, 'the central directory follows the entries');
  return files;
}

/** Every file under `root`, as `/`-separated relative paths. */
function listFiles(root, prefix = '') {
  return fs.readdirSync(path.join(root, prefix), { withFileTypes: true }).flatMap((e) => {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    return e.isDirectory() ? listFiles(root, rel) : [rel];
  });
}

async function waitForRun(page, timeout) {
  await page.waitForFunction(() => {
    const s = document.getElementById('status')?.textContent ?? '';
    return s === 'done' || s.startsWith('error') || s === 'cancelled';
  }, null, { timeout, polling: 250 });
  return page.textContent('#status');
}

/** Every number of the model table: { model: { metric: value } }. */
async function tableNumbers(page) {
  return page.$$eval('#model-table tbody tr', (rows) => Object.fromEntries(rows.map((r) => [
    r.dataset.model,
    Object.fromEntries([...r.querySelectorAll('td[data-value]')].map((td) => [td.dataset.metric, Number(td.dataset.value)])),
  ])));
}

/** Apply a config through the JSON editor (as a user would paste one). */
async function applyConfig(page, config) {
  await page.evaluate(() => { document.querySelector('details.json').open = true; });
  await page.fill('#config-json', JSON.stringify(config));
  await page.click('#apply-json');
}

/** Export the report and return { html, results } (the embedded JSON). */
async function exportReport(page) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-report')]);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'biaslens-report-')), download.suggestedFilename());
  await download.saveAs(file);
  const html = fs.readFileSync(file, 'utf8');
  const m = html.match(/<script type="application\/json" id="biaslens-results">([\s\S]*?)<\/script>/);
  assert.ok(m, 'the report embeds its results');
  return { file, html, results: JSON.parse(m[1]) };
}

/** The results without what legitimately varies between runs (timings, device name). */
function stable(results) {
  const r = structuredClone(results);
  r.total_seconds = 0;
  r.device = '';
  for (const t of r.timings) t.seconds = 0;
  for (const p of r.phis) for (const m of p.models) m.seconds = 0;
  return r;
}

/** Serve the page, open it in a fresh Chromium (the CPU fallback, or WebGPU through
 * SwiftShader), run `body({ page, ctx, server })`, then check that in every page it opened no
 * request left 127.0.0.1 and no console or page error happened. */
async function withPage(mode, body) {
  assert.ok(dist && fs.existsSync(path.join(dist, 'index.html')), 'BIASLENS_DIST must point at a built page');
  const server = await serveStatic(dist);
  const ctx = await launchChromium(chromium, { webgpu: mode === 'webgpu' });
  const watches = [];
  ctx.on('page', (p) => watches.push(watchPage(p)));
  try {
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    if (!watches.length) watches.push(watchPage(page));
    await body({ page, ctx, server });
    for (const w of watches) {
      assert.deepEqual(w.foreignRequests(server.origin), [], 'no request may leave 127.0.0.1');
      assert.deepEqual(w.errors, [], 'no console error or page error');
    }
  } finally {
    await ctx.close();
    await server.close();
  }
}

test('default explorer run on the CPU: charts, inspector by keyboard, export, import, bad file', { timeout: 900_000 }, async () => {
  await withPage('cpu', async ({ page, ctx, server }) => {
    const opened = Date.now();
    await page.goto(server.url);
    await page.waitForSelector('#device[data-kind="cpu"]');
    // The data panel shows the split counts before anything runs.
    const demoPhis = JSON.parse(await page.inputValue('#config-json')).phis;
    assert.ok((await page.locator('#split-counts tbody tr').count()) >= 3 * demoPhis.length, 'three splits per φ');
    if (process.env.BIASLENS_FULL_DEMO !== '1') {
      // One φ of the default demo (its first): the same methods and sizes, a fraction of the work.
      await page.evaluate(() => { document.querySelector('details.json').open = true; });
      const json = JSON.parse(await page.inputValue('#config-json'));
      json.phis = json.phis.slice(0, 1);
      await page.fill('#config-json', JSON.stringify(json));
      await page.click('#apply-json');
    }
    const phis = JSON.parse(await page.inputValue('#config-json')).phis;
    // The FineTune control runs too (it is in the registry; tick it if the demo leaves it out).
    const fineTune = page.locator('input[data-method="fine_tune"]');
    if (!(await fineTune.isChecked())) await fineTune.check();
    assert.ok(JSON.parse(await page.inputValue('#config-json')).methods.some((m) => m.method === 'fine_tune'), 'FineTune is in the config');
    await page.click('#run-button');
    // Responsive while computing: the page answers a click (switching the colour map) and the
    // status shows progress.
    await page.waitForSelector('#progress');
    assert.equal(await page.textContent('#status'), 'running');
    const status = await waitForRun(page, 840_000);
    const seconds = (Date.now() - opened) / 1000;
    assert.equal(status, 'done', await page.textContent('#notes'));
    const hold = Number(await page.getAttribute('#responsiveness', 'data-ms'));
    fs.mkdirSync(outDir, { recursive: true });
    await page.screenshot({ path: path.join(outDir, 'explorer-cpu.png'), fullPage: true });
    console.log(`# explorer default run on the CPU: page open → results ${seconds.toFixed(1)} s; longest hold of the event loop ${hold} ms`);

    // Every chart rendered.
    for (const id of ['#figure2', '#figure3', '#tradeoff', '#loss-curve']) {
      assert.ok(await page.locator(`${id} svg`).count() >= 1, `${id} is an SVG chart`);
    }
    // The loss curve is drawn by biaslens-viz: labelled axes and a legend entry for the unit.
    const lossText = (await page.locator('#loss-curve svg text').allTextContents()).map((t) => t.trim());
    for (const label of ['training step', 'cross-entropy']) assert.ok(lossText.includes(label), `loss curve axis "${label}" in ${JSON.stringify(lossText)}`);
    assert.ok(lossText.some((t) => /^φ = -?\d(\.\d+)?: loss \d\.\d{3}, batch accuracy \d\.\d{2}$/.test(t)), `a legend entry per unit in ${JSON.stringify(lossText)}`);
    const numbers = await tableNumbers(page);
    assert.deepEqual(Object.keys(numbers), ['Vanilla', 'ThrOpt', 'SavaniAFT', 'ZhangAL', 'A-ClArC', 'RR-ClArC', 'FineTune']);
    const models = Object.keys(numbers).length;
    // Vanilla learned (above chance on the balanced test split even while it leans on the tie);
    // a method may fall to chance (A-ClArC removes the tie a vanilla model at φ = −0.9 mostly
    // decides by: 0.50–0.66 natively on ten seeds), so the others are only checked to be rates.
    assert.ok(numbers.Vanilla.accuracy > 0.5, `Vanilla accuracy ${numbers.Vanilla.accuracy}`);
    for (const [model, m] of Object.entries(numbers)) {
      assert.ok(m.accuracy >= 0 && m.accuracy <= 1, `${model} accuracy ${m.accuracy}`);
      assert.ok(m.eo >= 0 && m.eo <= 1 && m.rrf >= 0 && m.rrf <= 1, `${model}: ${JSON.stringify(m)}`);
    }
    // The phenomenon is there: the ground truth says vanilla relies on the tie (the premise holds).
    assert.ok((await page.locator('#findings .premise.ok').count()) >= 1, await page.textContent('#findings'));
    assert.ok((await page.locator('#findings li').count()) >= 5, 'findings listed');
    // Verdicts: graded claims (a grade in words on each), the one-line summary, FineTune as a
    // control, ThrOpt's sanity check shown as a check, not a claim.
    const grades = await page.$$eval('#findings [data-grade]', (els) => els.map((e) => ({ grade: e.dataset.grade, method: e.dataset.method, text: e.textContent })));
    assert.ok(grades.length >= 5, `${grades.length} graded claims`);
    const words = { holds: 'holds', direction_only: 'direction only', no_effect: 'no effect', opposite: 'opposite', not_testable: 'not testable' };
    for (const g of grades) {
      assert.ok(g.grade in words, `grade ${g.grade}`);
      assert.ok(g.text.includes(words[g.grade]) && /p = /.test(g.text) && /Holm-adjusted p = /.test(g.text), `a claim in words: ${g.text}`);
    }
    assert.ok(grades.some((g) => g.method === 'FineTune' && g.text.includes('(control)')), 'FineTune is graded as a control');
    // Where vanilla's map looks (MRR over all faces and over those wearing the tie), beside the premise.
    const attention = await page.textContent('#findings .attention');
    assert.match(attention, /relevance per pixel is \d+\.\d\d× as high inside the ROI as outside it on the \d+ explained faces with the attribute \(\d+\.\d\d× over all of them; a description, not a test\)/);
    assert.ok(!grades.some((g) => g.method === 'ThrOpt' && /relevance out of the ROI/.test(g.text)), "ThrOpt's maps are a check, not a claim");
    assert.match(await page.textContent('#findings li.sanity'), /ThrOpt.*leaves the network untouched.*: equal/);
    assert.match(await page.textContent('#verdict-summary'), /In short: \d+ of \d+ claims hold/);
    assert.match(await page.textContent('#findings .premise'), /Premise/);
    // Ground truth: one row per model with its |Δ logit|, flips and shortcut effect; RQ1 tracking.
    const reliance = await page.$$eval('#reliance tbody tr', (rows) => rows.map((r) => [
      r.dataset.model,
      Object.fromEntries([...r.querySelectorAll('td[data-value]')].map((td) => [td.dataset.metric, Number(td.dataset.value)])),
    ]));
    assert.deepEqual(reliance.map(([m]) => m), Object.keys(numbers), 'a reliance row per model');
    for (const [model, r] of reliance) {
      assert.ok(r['logit-change'] >= 0 && Number.isFinite(r['logit-change']), `${model} |Δ logit| ${r['logit-change']}`);
      assert.ok(r.flips >= 0 && r.flips <= 1, `${model} flips ${r.flips}`);
      assert.ok(r.shortcut >= -1 && r.shortcut <= 1, `${model} shortcut ${r.shortcut}`);
    }
    assert.match(await page.textContent('#tracking'), /LRP RRF: ρ = (undefined|[+−-]\d\.\d\d) over \d+ models/);
    await page.locator('#findings').screenshot({ path: path.join(outDir, 'explorer-verdicts.png') });
    await page.locator('#reliance').screenshot({ path: path.join(outDir, 'explorer-reliance.png') });
    // Hovering a Figure 3 bar names its value: vanilla's RRF bar says the table's number.
    const tips = await page.locator('#figure3 svg title').allTextContents();
    const tip = tips.find((t) => t.startsWith(`Vanilla, φ = ${String(phis[0]).replace('-', '−')}: RRF `));
    assert.ok(tip, `a tooltip for vanilla's RRF bar among ${tips.length}`);
    const shown = Number(tip.split(': RRF ')[1].split(' ')[0].replace('−', '-'));
    assert.ok(Math.abs(shown - numbers.Vanilla.rrf) < 5e-5, `tooltip "${tip}" vs table ${numbers.Vanilla.rrf}`);
    assert.equal(await page.locator('#tradeoff svg title').count(), models, 'one tooltip per trade-off point');

    // A Figure 2 cell opens the inspector on an image of its group: row 3 is (attribute, target)
    // = (1, 0), columns are the mean input and the models.
    await page.locator('#figure2 image.cell').nth(2 * (models + 1) + 3).click();
    await page.waitForSelector('#inspector-metrics tbody tr');
    assert.match(await page.textContent('#inspector p.explain'), /not smiling, with the attribute/);

    // Inspector, keyboard only: focus an explained image, open it with Enter, Tab to the ROI.
    await page.focus('#explained .thumb-button');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#inspector-metrics tbody tr');
    // The inspector's mean RRF over the kept images, recomputed in the page from the kept maps,
    // equals the run's pooled RRF (the runner computed it from the full-precision maps).
    const meanRrf = Number(await page.getAttribute('#inspector-metrics tr[data-kind="LRP"][data-model="Vanilla"] td[data-metric="mean-rrf"]', 'data-value'));
    assert.ok(Math.abs(meanRrf - numbers.Vanilla.rrf) < 1e-6, `inspector ${meanRrf} vs table ${numbers.Vanilla.rrf}`);
    let tabs = 0;
    while ((await page.evaluate(() => document.activeElement?.id)) !== 'roi-editor') {
      await page.keyboard.press('Tab');
      assert.ok(++tabs < 200, 'the ROI editor is reachable with Tab');
    }
    const before = await page.textContent('#roi-text');
    const rrf = () => page.getAttribute('#inspector-metrics tr[data-kind="LRP"][data-model="Vanilla"] td[data-metric="rrf"]', 'data-value');
    const rrfBefore = await rrf();
    // Move right 3 and up 2, then grow 2 taller (the necktie box touches the bottom edge).
    for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowRight');
    for (let i = 0; i < 2; i++) await page.keyboard.press('ArrowUp');
    for (let i = 0; i < 2; i++) await page.keyboard.press('Shift+ArrowDown');
    const after = await page.textContent('#roi-text');
    const parse = (t) => t.match(/region (\d+)×(\d+) at \((\d+), (\d+)\)/).slice(1).map(Number);
    const [w0, h0, x0, y0] = parse(before);
    assert.deepEqual(parse(after), [w0, h0 + 2, x0 + 3, y0 - 2], `${before} → ${after}`);
    assert.notEqual(await rrf(), rrfBefore, 'RRF recomputed for the moved region');
    for (let i = 0; i < 2; i++) await page.keyboard.press('Shift+ArrowUp');
    for (let i = 0; i < 2; i++) await page.keyboard.press('ArrowDown');
    for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowLeft');
    assert.equal(await page.textContent('#roi-text'), before);
    assert.equal(await rrf(), rrfBefore, 'the same region gives the same RRF');
    await page.screenshot({ path: path.join(outDir, 'explorer-inspector.png'), fullPage: true });

    // Export, then a bad file: an error is shown and the results stay.
    const { file, results } = await exportReport(page);
    assert.equal(results.phis.length, process.env.BIASLENS_FULL_DEMO === '1' ? demoPhis.length : 1);
    const bad = path.join(os.tmpdir(), 'biaslens-bad-report.html');
    fs.writeFileSync(bad, '<html><body>this is not a biaslens report</body></html>');
    await page.setInputFiles('#import-file', bad);
    await page.waitForSelector('.note.error');
    assert.match(await page.textContent('.note.error'), /biaslens-bad-report\.html was not imported: .*Earlier results are kept/);
    assert.deepEqual(await tableNumbers(page), numbers, 'earlier results kept');
    // Import the good report: the same numbers, marked as imported.
    await page.setInputFiles('#import-file', file);
    await page.waitForFunction(() => document.getElementById('results-source')?.textContent.includes('imported from'));
    assert.deepEqual(await tableNumbers(page), numbers, 'an imported report shows the same numbers');

  });
});

/** Run the small config natively: { results, dir }. */
function nativeSmall(config) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'biaslens-small-'));
  fs.writeFileSync(path.join(dir, 'small.json'), JSON.stringify(config));
  execFileSync(cli, ['run', '--quiet', '--config', path.join(dir, 'small.json'), '--out', path.join(dir, 'native.html'), '--json', path.join(dir, 'native.json')]);
  return JSON.parse(fs.readFileSync(path.join(dir, 'native.json'), 'utf8'));
}

/** Page against native on the same config: the same library on another backend. Splits are
 * label-only and must be identical. Training is not bit-reproducible across backends: wasm SIMD
 * or WebGPU sum in another order than native rayon, and 64 Adam steps amplify those rounding
 * differences (16 steps still agreed to every printed digit; the self-test proves 4 steps agree
 * to 1e-4), so after training page and CLI are two runs of the same seeded recipe. What must hold
 * is that they agree within the experiment's own uncertainty: for each accuracy, EO gap and pooled
 * LRP RRF the two 95 % bootstrap intervals overlap. Returns the worst |Δ| as a share of the sum
 * of the two half-widths (1 = the intervals just touch). */
function compareWithNative(page, native) {
  let worst = 0;
  let worstWhat = '';
  const check = (what, a, b) => {
    assert.ok(a.ci && b.ci, `${what}: both runs carry intervals`);
    const va = a.value ?? a.mean;
    const vb = b.value ?? b.mean;
    const overlap = a.ci.low <= b.ci.high + 1e-12 && b.ci.low <= a.ci.high + 1e-12;
    assert.ok(overlap, `${what}: page ${va} [${a.ci.low}, ${a.ci.high}] and native ${vb} [${b.ci.low}, ${b.ci.high}] do not overlap`);
    const width = (a.ci.high - a.ci.low + b.ci.high - b.ci.low) / 2;
    if (width > 0 && Math.abs(va - vb) / width > worst) {
      worst = Math.abs(va - vb) / width;
      worstWhat = `${what}: page ${va.toFixed(4)}, native ${vb.toFixed(4)}`;
    }
  };
  assert.equal(page.phis.length, native.phis.length);
  for (let k = 0; k < native.phis.length; k++) {
    const p = page.phis[k];
    const n = native.phis[k];
    assert.deepEqual(p.train.counts, n.train.counts);
    assert.deepEqual(p.test.counts, n.test.counts);
    for (let m = 0; m < n.models.length; m++) {
      const a = p.models[m];
      const b = n.models[m];
      assert.equal(a.name, b.name);
      check(`φ ${n.phi} ${b.name} accuracy`, a.fairness.accuracy, b.fairness.accuracy);
      check(`φ ${n.phi} ${b.name} EO`, a.fairness.equalized_odds, b.fairness.equalized_odds);
      check(`φ ${n.phi} ${b.name} RRF`, a.attributions.lrp.saliency.pooled.rrf, b.attributions.lrp.saliency.pooled.rrf);
    }
  }
  console.log(`# worst page–native gap: ${worstWhat}`);
  return worst;
}

test('a link reproduces the run, and the page on the CPU equals the native CLI', { timeout: 600_000 }, async () => {
  assert.ok(cli && fs.existsSync(cli), 'BIASLENS_CLI must point at the native biaslens binary');
  // φ = −0.5: at −0.8 whether a 64-step model latches onto the tie is a knife-edge (vanilla's EO
  // was 0.16–0.44 over three batch orders natively), so page and native, two draws of the same
  // recipe, could land outside each other's test-set intervals (worst gap 1.05, on vanilla's EO).
  const SMALL = { ...smallConfig(), phis: [-0.5] };
  const native = nativeSmall(SMALL);
  await withPage('cpu', async ({ page, ctx, server }) => {
    await page.goto(server.url);
    await page.waitForSelector('#device[data-kind="cpu"]');
    await applyConfig(page, SMALL);
    await page.click('#run-button');
    assert.equal(await waitForRun(page, 300_000), 'done', await page.textContent('#notes'));
    const first = await exportReport(page);
    // The link: the config in the fragment, run on open.
    await page.click('#copy-link');
    const link = await page.inputValue('#share-link');
    assert.match(link, /#config=[A-Za-z0-9_-]+&autorun=1/);
    const again = await ctx.newPage();
    await again.goto(link);
    assert.equal(await waitForRun(again, 300_000), 'done', await again.textContent('#notes'));
    const second = await exportReport(again);
    assert.deepEqual(stable(second.results), stable(first.results), 'the link reproduces identical numbers');
    const worst = compareWithNative(first.results, native);
    console.log(`# explorer small run on the CPU: page vs native worst |Δ| = ${worst.toFixed(2)} of the summed interval half-widths`);
  });
});

test('on WebGPU the page equals the native CLI, and a lost GPU hands over to the CPU keeping finished φ', { timeout: 900_000 }, async () => {
  assert.ok(cli && fs.existsSync(cli), 'BIASLENS_CLI must point at the native biaslens binary');
  // SwiftShader runs WebGPU on the CPU at about 4 s per training step of this network, so this
  // run is cut further: 32×32 images, one epoch (16 steps). It runs every method the demo
  // offers except P-ClArC (which the self-test runs on WebGPU): ThrOpt, per-group thresholds,
  // SavaniAFT and ZhangAL (one short iteration each), A-ClArC and RR-ClArC.
  const base = smallConfig();
  const demo = JSON.parse(execFileSync(cli, ['demo', '--print-config'], { encoding: 'utf8' }));
  const short = (name) => {
    const m = demo.methods.find((x) => x.method === name);
    return { ...m, config: { ...m.config, iterations: 1, critic_iterations: 2, model_iterations: 2, n_eval_batches: 1 } };
  };
  const SMALL = {
    ...base,
    phis: [-0.8, -0.5],
    data: { ...base.data, synthetic: { ...base.data.synthetic, size: 32 }, pool: 4000 },
    train: { ...base.train, epochs: 1 },
    methods: [
      base.methods[0],
      { method: 'group_thresholds', config: { low: 0.1, high: 0.9, steps: 20, max_eo_gap: 0.05, temperature: 10.0, batch_size: 128 } },
      short('savani_aft'),
      short('zhang_al'),
      { ...demo.methods.find((x) => x.method === 'a_clarc'), config: { ...demo.methods.find((x) => x.method === 'a_clarc').config, batch_size: 32 } },
      base.methods[1],
    ],
  };
  const native = nativeSmall(SMALL);
  await withPage('webgpu', async ({ page, ctx, server }) => {
    // φ = −0.8 on WebGPU; then the device "is lost" at the second φ (the URL's test hook), and
    // the page must say so, finish on the CPU and keep the first φ.
    await page.goto(server.url + '#simulate=gpu-loss@1');
    await page.waitForSelector('#device[data-kind="webgpu"]');
    await applyConfig(page, SMALL);
    const t0 = Date.now();
    await page.click('#run-button');
    assert.equal(await waitForRun(page, 800_000), 'done', await page.textContent('#notes'));
    const seconds = (Date.now() - t0) / 1000;
    assert.match(await page.textContent('.note.error'), /WebGPU failed at φ = -0\.5 .*continues on the CPU; the 1 finished φ value\(s\) are kept/);
    assert.equal(await page.getAttribute('#device', 'data-kind'), 'cpu');
    const { results } = await exportReport(page);
    assert.equal(results.device, 'GPU (burn wgpu) + CPU (burn flex)', 'the report names both devices');
    // The φ computed on WebGPU against native. The φ redone on the CPU is the page's CPU path,
    // compared with native in the link test on a better-trained config (here one epoch leaves the
    // models near chance, where an adversarial method may predict one class on one backend and
    // not on the other).
    assert.equal(results.phis.length, 2, 'both φ values finished');
    const worst = compareWithNative({ ...results, phis: results.phis.slice(0, 1) }, { ...native, phis: native.phis.slice(0, 1) });
    await page.screenshot({ path: path.join(outDir, 'explorer-webgpu.png'), fullPage: true });
    console.log(`# explorer small run, φ = −0.8 on WebGPU then −0.5 on the CPU: ${seconds.toFixed(1)} s; WebGPU φ vs native worst |Δ| = ${worst.toFixed(2)} of the summed interval half-widths`);
  });
});

test('bad inputs from the corpus: a readable message in the page, earlier results kept', { timeout: 300_000 }, async () => {
  // tests/bad-inputs/cases.json lists every bad input with the substrings its error must carry;
  // here every case a page input can reach (report import, vanilla weights, link) goes in.
  const corpus = path.join(import.meta.dirname, '..', 'bad-inputs');
  const { cases } = JSON.parse(fs.readFileSync(path.join(corpus, 'cases.json'), 'utf8'));
  const reachable = cases.filter((c) => ['report', 'weights', 'link'].includes(c.page));
  assert.ok(reachable.length >= 20, `${reachable.length} page cases`);
  await withPage('cpu', async ({ page, ctx, server }) => {
    await page.goto(server.url);
    await page.waitForSelector('#device[data-kind="cpu"]');
    // Results first (a quick run), with the corpus's architecture (compact: ResNet-18 layout, width
    // 16) so weights messages name the shapes the corpus expects.
    const config = { ...smallConfig(), model: { block: 'Basic', layers: [2, 2, 2, 2], width: 16 }, train: { ...smallConfig().train, epochs: 1 } };
    await applyConfig(page, config);
    await page.click('#run-button');
    assert.equal(await waitForRun(page, 240_000), 'done', await page.textContent('#notes'));
    const numbers = await tableNumbers(page);
    const clearNotes = () => page.evaluate(() => document.querySelectorAll('.note .dismiss').forEach((b) => b.click()));
    const errorText = async () => {
      await page.waitForSelector('.note.error', { timeout: 20_000 });
      return page.$$eval('.note.error', (n) => n.map((e) => e.textContent).join(' | '));
    };
    let checked = 0;
    for (const c of reachable.filter((c) => c.page !== 'link')) {
      await clearNotes();
      const file = path.join(corpus, c.files[0]);
      await page.setInputFiles(c.page === 'report' ? '#import-file' : '#weights-file', file);
      const text = await errorText();
      assert.ok(text.includes(path.basename(file)), `${c.id}: the message names the file: ${text}`);
      for (const want of [...c.expect, ...(c.expect_lib ?? [])]) {
        assert.ok(text.includes(want), `${c.id}: "${want}" missing from: ${text}`);
      }
      assert.deepEqual(await tableNumbers(page), numbers, `${c.id}: earlier results kept`);
      checked++;
    }
    // Links: the page opens on the demo's settings and says what is wrong with the link.
    for (const c of reachable.filter((c) => c.page === 'link')) {
      const p = await ctx.newPage();
      await p.goto(server.url + c.params.fragment);
      await p.waitForSelector('.note.error', { timeout: 20_000 });
      const text = await p.$$eval('.note.error', (n) => n.map((e) => e.textContent).join(' | '));
      for (const want of c.expect) assert.ok(text.includes(want), `${c.id}: "${want}" missing from: ${text}`);
      assert.equal(JSON.parse(await p.inputValue('#config-json')).name, 'demo', `${c.id}: the demo's settings are shown`);
      await p.close();
      checked++;
    }
    // Own data: label files (CSV or CelebA lists) and images through the pickers. Not reachable
    // from the page: another target column than Smiling, and a pool too small for the splits (the
    // page says so in the split table). CelebA's partition files follow, through their own input.
    await page.evaluate(() => { document.querySelector('details.own').open = true; });
    const own = cases.filter((c) => c.page === 'own-data' && !c.params.official && (c.params.target ?? 'Smiling') === 'Smiling' && c.id !== 'celeba-empty-cell');
    for (const c of own) {
      await clearNotes();
      if (c.entry === 'own') {
        const dir = path.join(corpus, c.params.images);
        await page.setInputFiles('#own-images', fs.readdirSync(dir).map((f) => path.join(dir, f)));
        await page.waitForFunction(() => document.getElementById('own-status')?.textContent.includes('image files'));
      }
      await page.setInputFiles('#own-labels', path.join(corpus, c.files[0]));
      const text = await errorText();
      for (const want of [...c.expect, ...(c.expect_lib ?? [])]) {
        assert.ok(text.includes(want), `${c.id}: "${want}" missing from: ${text}`);
      }
      assert.deepEqual(await tableNumbers(page), numbers, `${c.id}: earlier results kept`);
      // Back to the synthetic data (a no-op when nothing was kept).
      await page.evaluate(() => document.querySelector('details.own button').click());
      checked++;
    }
    assert.ok(own.length >= 25, `${own.length} own-data cases`);
    // Own images with a bad box file, masks or counterfactual folder, and a φ the plant form
    // cannot reach: the library's message, the labels and images kept, the results kept.
    await page.evaluate(() => { document.getElementById('plant-form').open = true; });
    const extras = cases.filter((c) => c.page === 'own-regions' || c.page === 'plant');
    assert.ok(extras.length >= 6, `${extras.length} region, pair and plant cases`);
    for (const c of extras) {
      await clearNotes();
      const imagesDir = path.join(corpus, c.params.images ?? c.files.find((f) => f.endsWith('images/')));
      await page.setInputFiles('#own-images', fs.readdirSync(imagesDir).map((f) => path.join(imagesDir, f)));
      await page.waitForFunction(() => document.getElementById('own-status')?.textContent.includes('image files'));
      await page.setInputFiles('#own-labels', path.join(corpus, c.params.csv));
      await page.waitForFunction(() => document.getElementById('own-status')?.textContent.startsWith('using'));
      if (c.params.boxes) await page.setInputFiles('#own-boxes', path.join(corpus, c.params.boxes));
      if (c.params.masks) {
        const dir = path.join(corpus, c.params.masks);
        await page.setInputFiles('#own-masks', fs.readdirSync(dir).map((f) => path.join(dir, f)));
      }
      if (c.params.counterfactuals) await page.setInputFiles('#own-pairs', path.join(corpus, c.params.counterfactuals));
      if (c.page === 'plant') {
        await page.fill('#plant-phi', String(c.params.phi));
        await page.fill('#plant-rate', String(c.params.attribute_rate));
        await page.press('#plant-rate', 'Tab');
        await page.click('#plant-button');
      }
      const text = await errorText();
      for (const want of [...c.expect, ...(c.expect_lib ?? [])]) assert.ok(text.includes(want), `${c.id}: "${want}" missing from: ${text}`);
      assert.match(await page.textContent('#own-status'), /^using /, `${c.id}: the labels and images are kept`);
      assert.match(await page.textContent('#own-extra-status'), /regions: the one ROI of the chosen attribute · no counterfactual pairs/, `${c.id}: nothing bad taken`);
      assert.deepEqual(await tableNumbers(page), numbers, `${c.id}: earlier results kept`);
      await page.click('#own-back');
      checked++;
    }
    // The official partition: its input takes a file once the labels are chosen.
    const partitions = cases.filter((c) => c.page === 'own-data' && c.params.official && c.files[1]?.endsWith('list_eval_partition.txt'));
    for (const c of partitions) {
      await clearNotes();
      await page.setInputFiles('#own-labels', path.join(corpus, c.files[0]));
      await page.waitForFunction(() => document.getElementById('own-status')?.textContent.includes('rows): now choose the image files'));
      await page.setInputFiles('#own-partition', path.join(corpus, c.files[1]));
      const text = await errorText();
      for (const want of [...c.expect, ...(c.expect_lib ?? [])]) {
        assert.ok(text.includes(want), `${c.id}: "${want}" missing from: ${text}`);
      }
      assert.deepEqual(await tableNumbers(page), numbers, `${c.id}: earlier results kept`);
      await page.evaluate(() => document.querySelector('details.own button').click());
      checked++;
    }
    assert.ok(partitions.length >= 5, `${partitions.length} partition cases`);
    // A request too large for a browser tab is refused before any work, naming the field.
    await clearNotes();
    const huge = { ...config, data: { ...config.data, synthetic: { ...config.data.synthetic, size: 224 }, pool: 20000 },
      splits: { ...config.splits, train: 4096 }, train: { ...config.train, batch_size: 4096 } };
    await applyConfig(page, huge);
    await page.click('#run-button');
    assert.match(await waitForRun(page, 60_000), /^error: The run did not start on the CPU: training the vanilla model with 4096 images of 224×224 per pass would need about .* lower train\.batch_size to \d+ or less/);
    assert.deepEqual(await tableNumbers(page), numbers, 'earlier results kept after the refusal');
    checked++;
    await page.screenshot({ path: path.join(outDir, 'explorer-bad-inputs.png'), fullPage: false });
    console.log(`# ${checked} bad inputs from the corpus checked in the page`);
  });
});

test('an ImageNet-shaped file as the starting point: the page gives it a 2-class head and fine-tunes it as the CLI does', { timeout: 600_000 }, async () => {
  assert.ok(cli && fs.existsSync(cli), 'BIASLENS_CLI must point at the native biaslens binary');
  // A seeded 1000-class torchvision file of the small config's layout stands in for an ImageNet
  // download (none can be fetched here); the stem stays frozen.
  const SMALL = { ...smallConfig(), phis: [-0.5] };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'biaslens-pretrained-'));
  fs.writeFileSync(path.join(dir, 'small.json'), JSON.stringify(SMALL));
  const file = path.join(dir, 'imagenet-small.safetensors');
  execFileSync(cli, ['weights', '--config', path.join(dir, 'small.json'), '--classes', '1000', '--seed', '5', '--out', file]);
  const frozen = { ...SMALL, train: { ...SMALL.train, fine_tune: { After: 'Stem' } } };
  fs.writeFileSync(path.join(dir, 'frozen.json'), JSON.stringify(frozen));
  execFileSync(cli, ['run', '--quiet', '--config', path.join(dir, 'frozen.json'), '--pretrained', file, '--out', path.join(dir, 'native.html'), '--json', path.join(dir, 'native.json')]);
  const native = JSON.parse(fs.readFileSync(path.join(dir, 'native.json'), 'utf8'));
  await withPage('cpu', async ({ page, server }) => {
    await page.goto(server.url);
    await page.waitForSelector('#device[data-kind="cpu"]');
    await applyConfig(page, SMALL);
    await page.setInputFiles('#weights-file', file);
    await page.waitForFunction(() => /^fine-tuning from imagenet-small\.safetensors/.test(document.getElementById('pretrained-status')?.textContent ?? ''));
    assert.match(await page.textContent('#notes'), /1000 classes/);
    await page.selectOption('#pretrained-freeze', 'stem');
    await page.locator('#pretrained-status').scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(outDir, 'explorer-pretrained.png'), fullPage: false });
    await page.click('#run-button');
    assert.equal(await waitForRun(page, 300_000), 'done', await page.textContent('#notes'));
    const { results } = await exportReport(page);
    assert.equal(results.config.model.pretrained.file, 'imagenet-small.safetensors');
    assert.equal(results.config.model.pretrained.sha256, native.config.model.pretrained.sha256, 'the same file, by digest');
    assert.deepEqual(results.config.train.fine_tune, native.config.train.fine_tune);
    assert.ok(results.phis[0].vanilla_training.steps > 0, 'fine-tuned, not used as is');
    const worst = compareWithNative(results, native);
    console.log(`# pretrained start: page vs native worst |Δ| = ${worst.toFixed(2)} of the summed interval half-widths`);
    // Back to training from scratch: the config forgets the file.
    await page.click('#pretrained-clear');
    await page.waitForFunction(() => !document.getElementById('pretrained-status'));
  });
});

test('the artifact found from the CAV: a table per unit as the CLI computes it, and the inspector scores every image in the found mask', { timeout: 600_000 }, async () => {
  assert.ok(cli && fs.existsSync(cli), 'BIASLENS_CLI must point at the native biaslens binary');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'biaslens-localise-'));
  await withPage('cpu', async ({ page, server }) => {
    await page.goto(server.url);
    await page.waitForSelector('#device[data-kind="cpu"]');
    await applyConfig(page, smallConfig());
    // P-ClArC alone (its CAV, no training), and the localisation ticked in the form.
    await page.check('input[data-method="p_clarc"]');
    await page.uncheck('input[data-method="thr_opt"]');
    await page.uncheck('input[data-method="rr_clarc"]');
    await page.check('#localise-on');
    await page.click('#run-button');
    assert.equal(await waitForRun(page, 300_000), 'done', await page.textContent('#notes'));
    const { results } = await exportReport(page);
    assert.ok(results.config.localise, 'the checkbox set config.localise');
    const l = results.phis[0].localisation;
    assert.equal(l.cav_from, 'P-ClArC');
    // The table shows the results' numbers.
    for (const [row, s] of [['cav', l.cav], ['class', l.class_map], ['fixed', l.fixed_roi], ['random', l.random_box]]) {
      const shown = Number(await page.getAttribute(`#localisation-table tr[data-localise="${row}"] td[data-metric="iou"]`, 'data-value'));
      assert.ok(Math.abs(shown - s.iou_mean) < 1e-12 && s.iou_mean >= 0 && s.iou_mean <= 1, `${row}: table ${shown} vs results ${s.iou_mean}`);
    }
    // The CLI on the page's config localises the same images; training differs by float rounding
    // between the backends, so the IoUs must agree within their intervals (as the other metrics).
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(results.config));
    execFileSync(cli, ['run', '--quiet', '--config', path.join(dir, 'config.json'), '--out', path.join(dir, 'native.html'), '--json', path.join(dir, 'native.json')]);
    const n = JSON.parse(fs.readFileSync(path.join(dir, 'native.json'), 'utf8')).phis[0].localisation;
    assert.equal(n.cav_from, l.cav_from);
    assert.equal(n.truth, l.truth);
    for (const k of ['cav', 'class_map', 'fixed_roi', 'random_box']) {
      assert.equal(n[k].images, l[k].images, `${k}: the same images`);
      const [a, b] = [l[k], n[k]];
      if (a.iou_interval && b.iou_interval) {
        const half = (a.iou_interval.high - a.iou_interval.low + b.iou_interval.high - b.iou_interval.low) / 2;
        assert.ok(Math.abs(a.iou_mean - b.iou_mean) <= half + 1e-9, `${k}: page IoU ${a.iou_mean} vs native ${b.iou_mean} (half-widths ${half})`);
      }
    }
    // Fixed ROI and random box do not depend on training: equal to rounding.
    assert.ok(Math.abs(n.fixed_roi.iou_mean - l.fixed_roi.iou_mean) < 1e-12 && Math.abs(n.random_box.iou_mean - l.random_box.iou_mean) < 1e-12);
    await page.locator('#localisation-table').screenshot({ path: path.join(outDir, 'explorer-localisation.png') });

    // The inspector offers the found masks as the region: every image's metrics follow, and
    // unticking gives the run's numbers back.
    await page.focus('#explained .thumb-button');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#inspector-metrics tbody tr');
    const meanRrf = () => page.getAttribute('#inspector-metrics tr[data-kind="LRP"][data-model="Vanilla"] td[data-metric="mean-rrf"]', 'data-value');
    const runMean = await meanRrf();
    assert.ok(Math.abs(Number(runMean) - results.phis[0].models[0].attributions.lrp.saliency.pooled.rrf.mean) < 1e-6, 'the run\'s region first');
    await page.check('#found-region');
    await page.waitForFunction(() => /^(the artifact found from the CAV, within|nothing found from the CAV)/.test(document.getElementById('roi-text')?.textContent ?? ''));
    const foundMean = await meanRrf();
    assert.notEqual(foundMean, runMean, 'the found masks are not the paper\'s box');
    assert.ok(Number(foundMean) >= 0 && Number(foundMean) <= 1, foundMean);
    if (/^the artifact found/.test(await page.textContent('#roi-text'))) {
      assert.ok((await page.locator('#inspector .roi-mask canvas').count()) > 1, 'the found mask outlined on the input and every map');
    }
    await page.locator('#inspector').screenshot({ path: path.join(outDir, 'explorer-found-region.png') });
    await page.uncheck('#found-region');
    await page.waitForFunction((m) => document.querySelector('#inspector-metrics tr[data-kind="LRP"][data-model="Vanilla"] td[data-metric="mean-rrf"]')?.dataset.value === m, runMean);
  });
});

test('own images: CelebA-layout files through the folder picker run the experiment', { timeout: 300_000 }, async () => {
  // 2,000 faces exported in CelebA's layout by the CLI stand in for a user's CelebA folder.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'biaslens-own-'));
  execFileSync(cli, ['data', 'export', '--out', dir, '--count', '2000', '--size', '48', '--seed', '3']);
  const images = fs.readdirSync(path.join(dir, 'img_align_celeba')).map((f) => path.join(dir, 'img_align_celeba', f));
  assert.equal(images.length, 2000);
  await withPage('cpu', async ({ page, ctx, server }) => {
    await page.goto(server.url);
    await page.waitForSelector('#device[data-kind="cpu"]');
    const small = smallConfig();
    await applyConfig(page, { ...small, splits: { ...small.splits, train: 256 } });
    await page.evaluate(() => { document.querySelector('details.own').open = true; });
    // Images first, then labels: either order works.
    await page.setInputFiles('#own-images', images);
    await page.waitForFunction(() => document.getElementById('own-status')?.textContent.includes('2000 image files'));
    await page.setInputFiles('#own-labels', path.join(dir, 'list_attr_celeba.txt'));
    await page.waitForFunction(() => document.getElementById('own-status')?.textContent.startsWith('using list_attr_celeba.txt'));
    // CelebA's official partition: the split table follows it; taken back by choosing the labels
    // again (the run below uses the authors' blocks, as the CLI without --partition).
    const blocks = await page.textContent('#split-counts');
    await page.setInputFiles('#own-partition', path.join(dir, 'list_eval_partition.txt'));
    await page.waitForFunction(() => document.getElementById('own-status')?.textContent.includes('official partition list_eval_partition.txt'));
    assert.doesNotMatch(await page.textContent('#split-counts'), /cannot be made/);
    await page.setInputFiles('#own-labels', path.join(dir, 'list_attr_celeba.txt'));
    await page.waitForFunction(() => !document.getElementById('own-status')?.textContent.includes('official partition'));
    // The split table now counts the user's pool.
    const train = await page.textContent('#split-counts');
    assert.equal(train, blocks);
    await page.click('#run-button');
    assert.equal(await waitForRun(page, 240_000), 'done', await page.textContent('#notes'));
    assert.match(await page.textContent('#responsiveness'), /runs in a worker thread of its own/, 'own images are read and computed in the compute worker');
    assert.match(await page.textContent('#results-source'), /data: list_attr_celeba\.txt: 2000 images/);
    // No counterfactual faces for own images: no ground-truth table, and the premise says so.
    assert.equal(await page.locator('#reliance').count(), 0, 'no ground-truth reliance on own images');
    assert.match(await page.textContent('#findings .premise'), /no counterfactual images for own data/);
    const { results } = await exportReport(page);
    assert.equal(results.data_source, 'list_attr_celeba.txt: 2000 images');
    const c = results.phis[0].train.counts;
    assert.ok(train.includes(String(c.t0a1)), `the preview's counts (${train}) are the run's (${JSON.stringify(c)})`);
    assert.ok(results.phis[0].models.every((m) => m.fairness.accuracy.value > 0.5), 'the models learned something');
    await page.screenshot({ path: path.join(outDir, 'explorer-own-images.png'), fullPage: false });
  });
});

/** The config of the planted-artifact test: the demo's settings cut to one φ (−0.8, so the vanilla
 * model learns the artifact), 256 training images for 16 Adam steps, ThrOpt and P-ClArC (neither
 * trains: ThrOpt searches a threshold, P-ClArC projects out the artifact's CAV, a closed form),
 * 16 explained images. */
function plantedConfig() {
  const demo = JSON.parse(execFileSync(cli, ['demo', '--print-config'], { encoding: 'utf8' }));
  return {
    ...demo,
    name: 'e2e-planted',
    seed: 7,
    data: { ...demo.data, synthetic: { ...demo.data.synthetic, size: 48, seed: 7 } },
    phis: [-0.8],
    splits: { ...demo.splits, train: 256, debias: 128, test: 128 },
    train: { ...demo.train, epochs: 1, batch_size: 16, learning_rate: 0.003 },
    methods: [demo.methods.find((m) => m.method === 'thr_opt'), { method: 'p_clarc' }],
    attribution: {
      ...demo.attribution,
      images: 16,
      batch_size: 8,
      methods: demo.attribution.methods.map((a) => (a.method === 'ig' ? { ...a, config: { ...a.config, steps: 8, steps_per_chunk: 8 } } : a)),
    },
    metrics: { ...demo.metrics, bootstrap: { ...demo.metrics.bootstrap, resamples: 100 } },
  };
}

/** A greyscale PNG of `w`×`h` whose pixel (x, y) is `value(x, y)` (0–255). */
function grayPng(w, h, value) {
  const raw = Buffer.alloc((w + 1) * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw[y * (w + 1) + 1 + x] = value(x, y);
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(zlib.crc32(body), body.length + 4);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // 8 bits, greyscale, no interlace
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

test('planted artifact: the page plants as the CLI does, reads its folder, and its per-image-box metrics and reliance equal `biaslens run`', { timeout: 600_000 }, async () => {
  assert.ok(cli && fs.existsSync(cli), 'BIASLENS_CLI must point at the native biaslens binary');
  // 2,000 faces exported by the CLI stand in for a user's photos; `biaslens plant` puts a star
  // sticker into half of them at φ = 0 with the target (so the run can draw φ = −0.8 from them).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'biaslens-plant-'));
  execFileSync(cli, ['data', 'export', '--out', path.join(dir, 'src'), '--count', '2000', '--size', '48', '--seed', '3']);
  const planted = path.join(dir, 'planted');
  const plantArgs = { phi: '0', kind: 'star', size: '0.3', seed: '5' };
  execFileSync(cli, ['plant', '--labels', path.join(dir, 'src', 'list_attr_celeba.txt'), '--images', path.join(dir, 'src', 'img_align_celeba'), '--out', planted,
    '--phi', plantArgs.phi, '--kind', plantArgs.kind, '--size', plantArgs.size, '--seed', plantArgs.seed]);
  const manifest = JSON.parse(fs.readFileSync(path.join(planted, 'plant.json'), 'utf8'));
  const CONFIG = plantedConfig();
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(CONFIG));
  const runNative = (extra, regions = ['--boxes', path.join(planted, 'boxes.csv')]) => execFileSync(cli, ['run', '--quiet', '--config', path.join(dir, 'config.json'),
    '--labels', path.join(planted, 'labels.csv'), '--images', path.join(planted, 'images'), ...regions, '--counterfactuals', planted,
    '--out', path.join(dir, 'native.html'), '--json', path.join(dir, 'native.json'), ...extra]);
  // The vanilla model is trained once natively and then loaded by both sides: training is not
  // bit-reproducible across backends (wasm SIMD and native rayon sum in other orders and Adam
  // amplifies that; here 16 steps already moved the final loss from 0.424 to 0.402), so with
  // training in the loop page and CLI would be two draws of one recipe. With the same model,
  // everything after it is the same computation on the same numbers.
  fs.mkdirSync(path.join(dir, 'models'));
  runNative(['--save-vanilla', path.join(dir, 'models')]);
  const weights = path.join(dir, 'models', 'vanilla-phi-0.8-seed7.safetensors');
  assert.ok(fs.existsSync(weights), 'run --save-vanilla wrote the vanilla model');
  runNative(['--vanilla-weights', weights]);
  const native = JSON.parse(fs.readFileSync(path.join(dir, 'native.json'), 'utf8'));
  assert.equal(native.per_image_regions, 'boxes.csv');
  const images = fs.readdirSync(path.join(dir, 'src', 'img_align_celeba')).map((f) => path.join(dir, 'src', 'img_align_celeba', f));
  await withPage('cpu', async ({ page, server }) => {
    await page.goto(server.url);
    await page.waitForSelector('#device[data-kind="cpu"]');
    await applyConfig(page, CONFIG);
    await page.evaluate(() => { document.querySelector('details.own').open = true; document.getElementById('plant-form').open = true; });

    await page.setInputFiles('#weights-file', weights);
    await page.waitForSelector('.loaded');
    // 1. Planting in the page: the same photos and settings give the CLI's choice and boxes.
    await page.setInputFiles('#own-images', images);
    await page.waitForFunction(() => document.getElementById('own-status')?.textContent.includes('2000 image files'));
    await page.setInputFiles('#own-labels', path.join(dir, 'src', 'list_attr_celeba.txt'));
    await page.waitForFunction(() => document.getElementById('own-status')?.textContent.startsWith('using list_attr_celeba.txt'));
    await page.selectOption('#plant-kind', plantArgs.kind);
    for (const [id, v] of [['#plant-phi', plantArgs.phi], ['#plant-size', plantArgs.size], ['#plant-seed', plantArgs.seed]]) {
      await page.fill(id, v);
      await page.press(id, 'Tab');
    }
    await page.click('#plant-button');
    await page.waitForFunction(() => document.getElementById('own-extra-status')?.textContent.includes('planted here'), null, { timeout: 60_000 });
    const status = await page.textContent('#own-extra-status');
    const c = manifest.counts;
    assert.ok(status.includes(`in ${c.t1a1 + c.t0a1} of 2000 images; φ asked 0, achieved ${manifest.phi_achieved.toFixed(4)} (target 1: ${c.t1a1} with, ${c.t1a0} without; target 0: ${c.t0a1} with, ${c.t0a0} without)`), status);
    assert.match(status, /regions: each image's own box from the planted boxes · reliance measured on the planted pairs/);
    await page.locator('details.own').screenshot({ path: path.join(outDir, 'explorer-planted-setup.png') });
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#boxes-download')]);
    const boxesFile = path.join(dir, 'page-boxes.csv');
    await download.saveAs(boxesFile);
    assert.equal(fs.readFileSync(boxesFile, 'utf8'), fs.readFileSync(path.join(planted, 'boxes.csv'), 'utf8'), 'the page plants every box where the CLI does');
    // The whole planted set saved from the page is the folder the CLI wrote: the same files, the
    // same bytes (labels.csv's last column and plant.json's label-file name aside, see below).
    const [zipped] = await Promise.all([page.waitForEvent('download'), page.click('#planted-download')]);
    assert.equal(zipped.suggestedFilename(), 'planted.zip');
    const zipFile = path.join(dir, 'planted.zip');
    await zipped.saveAs(zipFile);
    const entries = readStoredZip(fs.readFileSync(zipFile));
    const cliFiles = listFiles(planted);
    assert.deepEqual([...entries.keys()].sort(), cliFiles.sort(), 'images/, with/, clean/, labels.csv, boxes.csv, plant.json');
    for (const name of cliFiles) {
      const ours = entries.get(name);
      const theirs = fs.readFileSync(path.join(planted, name));
      if (name === 'labels.csv') {
        // source_attribute: the page keeps the attribute chosen in the page; `plant`, which takes
        // no attribute for a CelebA list, writes the target there. image, target, attribute agree.
        const cut = (b) => b.toString('utf8').trim().split('\n').map((l) => l.split(',').slice(0, 3).join(','));
        assert.deepEqual(cut(ours), cut(theirs), 'labels.csv: image, target, planted attribute');
      } else if (name === 'plant.json') {
        const [a, b] = [JSON.parse(ours.toString('utf8')), JSON.parse(theirs.toString('utf8'))];
        assert.ok(a.labels.includes('list_attr_celeba.txt') && b.labels.includes('list_attr_celeba.txt'), `${a.labels} / ${b.labels}`);
        assert.deepEqual({ ...a, labels: '' }, { ...b, labels: '' }, 'plant.json: settings, counts, φ');
      } else {
        assert.ok(Buffer.compare(ours, theirs) === 0, `${name}: the page's bytes are the CLI's`);
      }
    }
    // Run in place on the set planted here (below: the same run on the CLI's files).
    await page.click('#run-button');
    assert.equal(await waitForRun(page, 300_000), 'done', await page.textContent('#notes'));
    const inPlace = (await exportReport(page)).results;
    assert.equal(inPlace.per_image_regions, 'the planted boxes');

    // 2. The folder `biaslens plant` wrote, chosen as a folder: labels, images, boxes, pairs and
    // plant.json are taken from it.
    await page.setInputFiles('#own-planted', planted);
    await page.waitForFunction(() => document.getElementById('own-extra-status')?.textContent.includes('planted by biaslens plant'), null, { timeout: 60_000 });
    assert.match(await page.textContent('#own-extra-status'), /regions: each image's own box from boxes\.csv · reliance measured on planted\/with and planted\/clean · planted by biaslens plant: a star in 1000 of 2000 images; φ asked 0, achieved 0\.0000/);
    assert.match(await page.textContent('#own-status'), /^using labels\.csv \(2000 rows, 2000 files\)/);
    const t0 = Date.now();
    await page.click('#run-button');
    assert.equal(await waitForRun(page, 300_000), 'done', await page.textContent('#notes'));
    console.log(`# planted run in the page: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.match(await page.textContent('#results-source'), /Saliency scored in each image's own region from boxes\.csv/);
    const { results, html } = await exportReport(page);
    assert.equal(results.per_image_regions, 'boxes.csv');
    // The report the page exports shows every model's reliance, as the page's table does.
    assert.match(html, /<h2 id="reliance">/);
    for (const m of results.phis[0].models) assert.ok(html.includes(`<td>${m.name}</td><td>${m.reliance.logit_change.value.toFixed(3)}`), `${m.name}'s reliance in the report`);
    assert.match(html, /one region per image, from boxes\.csv/);
    assert.equal(results.data_source, native.data_source);
    // The set planted in the page and the CLI's files give the same run, every number.
    assert.deepEqual(stable(inPlace).phis, stable(results).phis, 'planting in the page equals biaslens plant, through the whole run');

    // 3. Page against `biaslens run` on the same files, config and vanilla model. Splits are
    // label-only: equal. The rest is one forward/backward computation per batch on two backends
    // (wasm SIMD vs native rayon) that sum in different orders: float32 rounding, ~1e-6 relative
    // on a logit or a map value, and means over 128 pairs or 16 maps do not grow it. 1e-4
    // absolute leaves that margin a hundredfold. The flip rate and the accuracy count decisions:
    // one whose logits lie within rounding of the threshold may land on either side, so they may
    // differ by one image (1/128).
    const TOL = 1e-4;
    const p = results.phis[0];
    const n = native.phis[0];
    assert.deepEqual(p.train.counts, n.train.counts);
    assert.deepEqual(p.test.counts, n.test.counts);
    assert.equal(p.models.length, n.models.length);
    let worst = 0;
    const near = (what, a, b, tol) => {
      worst = Math.max(worst, Math.abs(a - b));
      assert.ok(Math.abs(a - b) <= tol, `${what}: page ${a}, native ${b} (|Δ| ${Math.abs(a - b)} > ${tol})`);
    };
    for (let m = 0; m < n.models.length; m++) {
      const a = p.models[m];
      const b = n.models[m];
      assert.equal(a.name, b.name);
      assert.ok(a.reliance && b.reliance, `${b.name}: both runs measured the reliance`);
      assert.equal(a.reliance.n, b.reliance.n);
      near(`${b.name} |Δ logit|`, a.reliance.logit_change.value, b.reliance.logit_change.value, TOL);
      near(`${b.name} shortcut effect`, a.reliance.shortcut.value, b.reliance.shortcut.value, TOL);
      near(`${b.name} flip rate`, a.reliance.flip_rate.value, b.reliance.flip_rate.value, 1 / b.reliance.n + 1e-12);
      near(`${b.name} LRP RRF in each image's box`, a.attributions.lrp.saliency.pooled.rrf.mean, b.attributions.lrp.saliency.pooled.rrf.mean, TOL);
      near(`${b.name} accuracy`, a.fairness.accuracy.value, b.fairness.accuracy.value, 1 / 128 + 1e-12);
    }
    console.log(`# planted run: worst page–native |Δ| ${worst.toExponential(2)}`);
    // The reliance table shows the page's numbers per model.
    for (const m of p.models) {
      const shown = Number(await page.getAttribute(`#reliance tr[data-model="${m.name}"] td[data-metric="logit-change"]`, 'data-value'));
      assert.ok(Math.abs(shown - m.reliance.logit_change.value) < 1e-12, `${m.name}: reliance table ${shown} vs results ${m.reliance.logit_change.value}`);
    }

    // 4. The inspector draws the image's own box, and its mean RRF over the kept images, each in
    // its own box, is the run's pooled RRF when every explained image is kept.
    await page.focus('#explained .thumb-button');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#inspector-metrics tbody tr');
    assert.match(await page.textContent('#roi-text'), /^this image's own box: region \d+×\d+ at/);
    const firstBox = await page.textContent('#roi-text');
    const meanRrf = Number(await page.getAttribute('#inspector-metrics tr[data-kind="LRP"][data-model="Vanilla"] td[data-metric="mean-rrf"]', 'data-value'));
    assert.ok(Math.abs(meanRrf - p.models[0].attributions.lrp.saliency.pooled.rrf.mean) < 1e-6, `inspector ${meanRrf} vs run ${p.models[0].attributions.lrp.saliency.pooled.rrf.mean}`);
    // Another image has its own box; shown on one with the star.
    const thumbs = page.locator('#explained .thumb-button');
    const openOneWithTheStar = async () => {
      for (let i = 1; i < (await thumbs.count()); i++) {
        await thumbs.nth(i).click();
        await page.waitForSelector('#inspector-metrics tbody tr');
        if (/, with the attribute/.test(await page.textContent('#inspector p.explain'))) return true;
      }
      return false;
    };
    assert.ok(await openOneWithTheStar(), 'an explained image with the star');
    assert.notEqual(await page.textContent('#roi-text'), firstBox);
    assert.match(await page.textContent('#roi-text'), /^this image's own box/);
    await page.locator('#inspector').screenshot({ path: path.join(outDir, 'explorer-planted-inspector.png') });
    await page.locator('#reliance').screenshot({ path: path.join(outDir, 'explorer-planted-reliance.png') });

    // 5. Masks instead of boxes: each image's disc inscribed in its box (the star's circle), as
    // PNGs named after the images. Same model, same pairs: the reliance is unchanged, RRF is now
    // scored in the discs, in the page as in `biaslens run --masks`.
    const masks = path.join(dir, 'masks');
    fs.mkdirSync(masks);
    for (const line of fs.readFileSync(path.join(planted, 'boxes.csv'), 'utf8').trim().split('\n').slice(1)) {
      const [name, x0, y0, x1, y1] = line.split(',');
      const [cx, cy, r] = [(+x0 + +x1) / 2, (+y0 + +y1) / 2, (x1 - x0) / 2];
      fs.writeFileSync(path.join(masks, name), grayPng(48, 48, (x, y) => ((x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= r * r ? 255 : 0)));
    }
    runNative(['--vanilla-weights', weights], ['--masks', masks]);
    const nativeMasks = JSON.parse(fs.readFileSync(path.join(dir, 'native.json'), 'utf8'));
    assert.equal(nativeMasks.per_image_regions, 'masks/');
    await page.setInputFiles('#own-masks', fs.readdirSync(masks).map((f) => path.join(masks, f)));
    await page.waitForFunction(() => document.getElementById('own-extra-status')?.textContent.includes('own mask from 2000 mask files'), null, { timeout: 60_000 });
    await page.click('#run-button');
    assert.equal(await waitForRun(page, 300_000), 'done', await page.textContent('#notes'));
    const masked = (await exportReport(page)).results;
    assert.equal(masked.per_image_regions, '2000 mask files');
    for (let m = 0; m < nativeMasks.phis[0].models.length; m++) {
      const a = masked.phis[0].models[m];
      const b = nativeMasks.phis[0].models[m];
      near(`${b.name} |Δ logit| (masks run)`, a.reliance.logit_change.value, b.reliance.logit_change.value, TOL);
      near(`${b.name} LRP RRF in each image's mask`, a.attributions.lrp.saliency.pooled.rrf.mean, b.attributions.lrp.saliency.pooled.rrf.mean, TOL);
      near(`${b.name} IG HRF in each image's mask`, a.attributions.ig.saliency.pooled.hrf.mean, b.attributions.ig.saliency.pooled.hrf.mean, TOL);
      assert.notEqual(b.attributions.lrp.saliency.pooled.rrf.mean, n.models[m].attributions.lrp.saliency.pooled.rrf.mean, 'the discs, not the boxes, were scored');
    }
    console.log(`# planted runs (boxes, masks): worst page–native |Δ| ${worst.toExponential(2)}`);
    // The inspector outlines the mask of an image with the star.
    assert.ok(await openOneWithTheStar(), 'an explained image with the star');
    assert.match(await page.textContent('#roi-text'), /^this image's own mask, within region/);
    assert.ok((await page.locator('#inspector .roi-mask canvas').count()) > 1, 'the mask outline on the input and on every map');
    await page.locator('#inspector').screenshot({ path: path.join(outDir, 'explorer-planted-mask-inspector.png') });

    // 6. Bad inputs: a message in words naming the file, what was chosen before stays, and the
    // results stay.
    const clearNotes = () => page.evaluate(() => document.querySelectorAll('.note .dismiss').forEach((b) => b.click()));
    const expectError = async (re) => {
      const shown = await page.waitForFunction((src) => [...document.querySelectorAll('.note.error')].map((e) => e.textContent).find((t) => new RegExp(src).test(t)), re.source, { timeout: 20_000 })
        .catch(async () => assert.fail(`no error matching ${re} among ${await page.textContent('#notes')}`));
      return shown.jsonValue();
    };
    await clearNotes();
    // A box file of other images: not used, the masks stay.
    fs.writeFileSync(path.join(dir, 'other-boxes.csv'), 'image,x0,y0,x1,y1\nsomeone-else.png,0,0,4,4\n');
    await page.setInputFiles('#own-boxes', path.join(dir, 'other-boxes.csv'));
    assert.match(await expectError(/other-boxes\.csv/), /someone-else\.png.*Not used: the run keeps each image's own mask from 2000 mask files/);
    assert.match(await page.textContent('#own-extra-status'), /regions: each image's own mask from 2000 mask files/);
    // Pairs that lack the images: not used, the planted pairs stay.
    fs.mkdirSync(path.join(dir, 'few', 'with'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'few', 'clean'), { recursive: true });
    fs.copyFileSync(path.join(planted, 'with', '000001.png'), path.join(dir, 'few', 'with', '000001.png'));
    fs.copyFileSync(path.join(planted, 'clean', '000001.png'), path.join(dir, 'few', 'clean', '000001.png'));
    await clearNotes();
    await page.setInputFiles('#own-pairs', path.join(dir, 'few'));
    assert.match(await expectError(/few\/with and few\/clean/), /000002\.png.*Not used: the run keeps planted\/with and planted\/clean/);
    // A box file that is not one: refused before anything changes.
    await clearNotes();
    fs.writeFileSync(path.join(dir, 'not-boxes.csv'), 'image,x0,y0,x1,y1\n000001.png,0,zero,4,4\n');
    await page.setInputFiles('#own-boxes', path.join(dir, 'not-boxes.csv'));
    assert.match(await expectError(/not-boxes\.csv was not used/), /line 2/);
    // A folder that is not a planted one, and a φ the labels cannot reach: nothing changes.
    await clearNotes();
    await page.setInputFiles('#own-planted', masks);
    assert.match(await expectError(/The planted folder was not used/), /masks has no labels\.csv/);
    await page.fill('#plant-phi', '1');
    await page.press('#plant-phi', 'Tab');
    await page.click('#plant-button');
    assert.match(await expectError(/Nothing planted/), /cannot be reached.*The chosen images are unchanged/);
    assert.match(await page.textContent('#own-status'), /^using labels\.csv \(2000 rows, 2000 files\)/);
    assert.match(await page.textContent('#own-extra-status'), /reliance measured on planted\/with and planted\/clean/);
    assert.match(await page.textContent('#results-source'), /own mask from 2000 mask files|Saliency scored in each image's own region/);
  });
});

test('presets, and two seeds: the seeds field, "holds in k of 2 seeds", a seed selector, a loss line per unit', { timeout: 300_000 }, async () => {
  // The small config (64 training steps per unit), run for seeds 7 and 8, with a third
  // attribution named in the config alone (gradient × input beside LRP and IG).
  const small = smallConfig();
  small.attribution.methods = [...small.attribution.methods, { method: 'grad_x_input' }];
  await withPage('cpu', async ({ page, ctx, server }) => {
    await page.goto(server.url);
    await page.waitForSelector('#device[data-kind="cpu"]');
    // The presets next to "Reset to the demo" set the whole config (nothing runs).
    const configName = () => page.evaluate(() => JSON.parse(document.getElementById('config-json').value).name);
    for (const [button, name] of [['#preset-paper', 'paper'], ['#preset-authors', 'as the authors ran it'], ['#preset-demo', 'demo']]) {
      await page.click(button);
      await page.waitForFunction((n) => JSON.parse(document.getElementById('config-json')?.value ?? '{}').name === n, name);
      assert.equal(await configName(), name);
    }
    assert.match(await page.textContent('#presets'), /hours of compute in a browser tab/);
    await applyConfig(page, small);
    await page.waitForFunction(() => document.getElementById('seeds')?.value === '7');
    // Bad seed lists: a message in words, the config unchanged.
    const clearNotes = () => page.evaluate(() => document.querySelectorAll('.note .dismiss').forEach((b) => b.click()));
    for (const [bad, want] of [['7, x', /seeds: "x" is not a whole number ≥ 0/], ['7, 7', /seeds: 7 is listed twice/], [' ', /seeds: give at least one/], ['-1', /seeds: "-1" is not a whole number/]]) {
      await clearNotes();
      await page.fill('#seeds', bad);
      await page.press('#seeds', 'Tab');
      const shown = await page.waitForFunction((re) => [...document.querySelectorAll('.note.error')].map((e) => e.textContent).find((t) => new RegExp(re).test(t)), want.source, { timeout: 10_000 })
        .catch(async () => assert.fail(`"${bad}": no error matching ${want} among ${await page.textContent('#notes')}`));
      assert.match(await shown.jsonValue(), /Setting not applied/);
      await page.waitForFunction(() => document.getElementById('seeds')?.value === '7');
    }
    await clearNotes();
    await page.fill('#seeds', '7, 8');
    await page.press('#seeds', 'Tab');
    await page.waitForFunction(() => document.getElementById('config-json')?.value.includes('"seeds"'));
    assert.deepEqual(JSON.parse(await page.inputValue('#config-json')).seeds, [7, 8]);
    // The link carries the seeds.
    assert.deepEqual(JSON.parse(Buffer.from(decodeURIComponent((await page.evaluate(() => location.hash)).match(/config=([A-Za-z0-9_-]+)/)[1]), 'base64url').toString()).seeds, [7, 8]);
    const t0 = Date.now();
    await page.click('#run-button');
    assert.equal(await waitForRun(page, 280_000), 'done', await page.textContent('#notes'));
    const seconds = (Date.now() - t0) / 1000;
    // Two units on the CPU compute on one worker per core, at most the units (navigator.
    // hardwareConcurrency; `lanes=1` in the URL keeps one worker), and give the very numbers one
    // worker gives, unit for unit: units are independent and seeded wherever they run.
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    const lanes = Math.min(2, cores, 4);
    if (lanes > 1) assert.match(await page.textContent('#responsiveness'), new RegExp(`worker thread of its own, ${lanes} of them at once`));
    else assert.match(await page.textContent('#responsiveness'), /runs in a worker thread of its own, and the page only draws/);
    const parallel = await exportReport(page);
    {
      const one = await ctx.newPage();
      await one.goto(`${server.url}#lanes=1`);
      await one.waitForSelector('#device[data-kind="cpu"]');
      await applyConfig(one, { ...small, seeds: [7, 8] });
      await one.click('#run-button');
      assert.equal(await waitForRun(one, 280_000), 'done', await one.textContent('#notes'));
      assert.match(await one.textContent('#responsiveness'), /runs in a worker thread of its own, and the page only draws/);
      const single = await exportReport(one);
      assert.deepEqual(stable(parallel.results), stable(single.results), 'parallel workers give one worker\'s numbers');
      await one.close();
    }
    // Over the seeds: every (φ, method, claim) counted "k of 2 seeds".
    const across = await page.$$eval('#across-seeds tbody tr', (rows) => rows.map((r) => r.textContent));
    assert.ok(across.length >= 2, `${across.length} rows over the seeds`);
    for (const row of across) assert.match(row, /\d of 2 seeds/);
    assert.equal(await page.locator('#findings details.unit').count(), 2, 'one verdict block per unit');
    // Every attribution that ran has its tab, and choosing one shows its maps.
    assert.deepEqual(await page.$$eval('button[data-attribution]', (b) => b.map((e) => e.dataset.attribution)), ['lrp', 'ig', 'grad_x_input']);
    await page.click('button[data-attribution="grad_x_input"]');
    await page.waitForFunction(() => document.querySelector('button[data-attribution="grad_x_input"]')?.getAttribute('aria-pressed') === 'true');
    assert.match(await page.textContent('#results'), /Grad×Input/);
    // The seed selector: both seeds, and choosing one shows that unit.
    assert.deepEqual(await page.$$eval('button[data-seed]', (b) => b.map((e) => e.dataset.seed)), ['7', '8']);
    assert.match(await page.textContent('#model-table caption'), /^φ = -0\.8, seed 7:/);
    await page.click('button[data-seed="8"]');
    await page.waitForFunction(() => /^φ = -0\.8, seed 8:/.test(document.querySelector('#model-table caption')?.textContent ?? ''));
    assert.equal(await page.getAttribute('button[data-seed="8"]', 'aria-pressed'), 'true');
    // One loss line per unit, named by its seed.
    const lossText = (await page.locator('#loss-curve svg text').allTextContents()).map((t) => t.trim());
    for (const seed of [7, 8]) assert.ok(lossText.some((t) => t.startsWith(`φ = -0.8, seed ${seed}: loss `)), `seed ${seed} in ${JSON.stringify(lossText)}`);
    await page.locator('#results').screenshot({ path: path.join(outDir, 'explorer-two-seeds.png') });
    await page.locator('#findings').screenshot({ path: path.join(outDir, 'explorer-two-seeds-verdicts.png') });
    await page.locator('#reliance').screenshot({ path: path.join(outDir, 'explorer-two-seeds-reliance.png') });
    // Figures and tables out, one file each: an SVG, a PNG the browser draws from it, a CSV.
    await page.click('#prepare-figures');
    await page.waitForSelector('#figure-files li');
    const save = async (selector) => {
      const [download] = await Promise.all([page.waitForEvent('download'), page.click(selector)]);
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'biaslens-figure-')), download.suggestedFilename());
      await download.saveAs(file);
      return { name: download.suggestedFilename(), bytes: fs.readFileSync(file) };
    };
    const svg = await save('#figure-files button[data-file="figure3-lrp.svg"]');
    const svgText = svg.bytes.toString('utf8');
    assert.match(svgText.trim(), /^<svg[\s\S]*<text[\s\S]*<\/svg>$/, 'a whole SVG with labels');
    const png = await save('#figure-files button[data-png="figure3-lrp.svg"]');
    assert.equal(png.name, 'figure3-lrp.png');
    assert.deepEqual([...png.bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'the PNG signature');
    const svgWidth = Number(svgText.match(/<svg[^>]*\swidth="([\d.]+)"/)[1]);
    assert.ok(Math.abs(png.bytes.readUInt32BE(16) - 2 * svgWidth) <= 2, `PNG width ${png.bytes.readUInt32BE(16)} = twice the SVG's ${svgWidth}`);
    assert.ok(png.bytes.length > 5000, `a drawn chart, not an empty image (${png.bytes.length} bytes)`);
    const table = (await save('#figure-files button[data-file="models.csv"]')).bytes.toString('utf8').trim().split('\n');
    const header = table[0].split(',');
    for (const col of ['phi', 'seed', 'model', 'accuracy', 'eo', 'attribution', 'rrf', 'adr']) assert.ok(header.includes(col), `models.csv has ${col}`);
    for (const line of table.slice(1)) assert.equal(line.split(',').length, header.length, line);
    assert.equal(table.length - 1, 2 * 3 * 3, 'a row per (seed, model, attribution)');
    // "Run 3 seeds" runs seed, seed + 1, seed + 2 of the current config; cancelled once the
    // second unit runs, the compute worker stops at its next batch and the finished unit stays.
    await page.fill('#seeds', '7');
    await page.press('#seeds', 'Tab');
    await page.waitForFunction(() => !JSON.parse(document.getElementById('config-json')?.value ?? '{}').seeds);
    await page.click('#run-seeds-button');
    await page.waitForFunction(() => document.getElementById('seeds')?.value === '7, 8, 9');
    assert.deepEqual(JSON.parse(await page.inputValue('#config-json')).seeds, [7, 8, 9]);
    // One worker per core computes one unit at a time (two workers on a 2-core machine: units 1
    // and 2 start together, unit 3 when one of them ends). Cancelled once a unit has finished,
    // every worker stops at its next batch and the finished units stay.
    await page.waitForFunction(() => / · unit \d of 3 · /.test(document.querySelector('.progress span')?.textContent ?? ''), null, { timeout: 120_000 });
    assert.match(await page.textContent('#responsiveness'), /runs in a worker thread of its own/, 'the synthetic run computes in the compute worker');
    await page.waitForFunction(() => /^1 /.test(document.getElementById('results-source')?.textContent ?? '') && document.getElementById('status')?.textContent === 'running', null, { timeout: 120_000, polling: 100 });
    await page.click('#cancel-button');
    assert.equal(await waitForRun(page, 120_000), 'cancelled');
    const cancelled = (await page.textContent('#notes')).match(/Cancelled after (\d+) of (\d+) units \(φ value × seed\); their results are kept/);
    assert.ok(cancelled, await page.textContent('#notes'));
    const kept = Number(cancelled[1]);
    assert.ok(kept >= 1 && kept < 3, `stopped with ${kept} of 3 units finished`);
    assert.match(await page.textContent('#results-source'), new RegExp(`^${kept} (units \\(φ value × seed\\)|φ value\\(s\\))`), 'the finished units are shown');
    console.log(`# explorer small run with two seeds: ${seconds.toFixed(1)} s`);
  });
});

test('teaching mode and hidden panels come from the URL and stay in it', { timeout: 120_000 }, async () => {
  await withPage('cpu', async ({ page, server }) => {
    await page.goto(server.url + '#teach=1&hide=setup,share');
    await page.waitForSelector('#device[data-kind="cpu"]');
    assert.equal(await page.isVisible('#setup'), false, 'setup hidden');
    assert.equal(await page.isVisible('#share'), false, 'share hidden');
    assert.equal(await page.isVisible('#run'), true, 'run shown');
    assert.match(await page.textContent('#teach .step-count'), /^Step 1 of 9$/);
    // Keyboard: Tab to Next and press Enter, through to the metric explanations.
    for (let k = 2; k <= 5; k++) {
      await page.focus('#teach-next');
      await page.keyboard.press('Enter');
      assert.match(await page.textContent('#teach .step-count'), new RegExp(`^Step ${k} of 9$`));
    }
    const text = await page.textContent('#teach');
    for (const word of ['RRF', 'ADR', 'DIF', 'RDDT']) assert.ok(text.includes(word), `step 5 explains ${word}`);
    // On to the verdicts: the grades are explained in words, and the control is named.
    for (let k = 6; k <= 8; k++) {
      await page.focus('#teach-next');
      await page.keyboard.press('Enter');
    }
    const verdicts = await page.textContent('#teach');
    assert.match(verdicts, /^[\s\S]*Step 8 of 9/);
    for (const word of ['Holds', 'direction only', 'not testable', 'FineTune']) assert.ok(verdicts.toLowerCase().includes(word.toLowerCase()), `step 8 explains ${word}`);
    // The address keeps the mode, so the link can be shared as it is.
    assert.match(await page.evaluate(() => location.hash), /&teach=1&hide=setup,share$/);
  });
  // A bad worker count in the link: a message in words, and the page opens as usual.
  await withPage('cpu', async ({ page, server }) => {
    await page.goto(server.url + '#lanes=0');
    await page.waitForSelector('#device[data-kind="cpu"]');
    await page.waitForFunction(() => /lanes= takes a whole number of workers, at least 1; "0" is not one/.test(document.getElementById('notes')?.textContent ?? ''));
    assert.equal(await page.isVisible('#run-button'), true);
  });
});

/** A small CSV reader for the page's CSV downloads (RFC 4180 quotes; the values here have no
 * line breaks inside quotes). */
function parseCsv(text) {
  return text.trim().split('\n').map((line) => {
    const out = [];
    let cell = '';
    let quoted = false;
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (quoted) {
        if (c === '"' && line[i + 1] === '"') { cell += '"'; i++; } else if (c === '"') quoted = false; else cell += c;
      } else if (c === '"') quoted = true;
      else if (c === ',') { out.push(cell); cell = ''; } else cell += c;
    }
    out.push(cell);
    return out;
  });
}

test('the last run is kept across a reload and forgotten on request; two imported runs side by side, with a CSV and a link of configs', { timeout: 600_000 }, async () => {
  assert.ok(cli && fs.existsSync(cli), 'BIASLENS_CLI must point at the native biaslens binary');
  const SMALL = { ...smallConfig(), phis: [-0.5] };
  // Two runs to compare, made by the CLI: the same config at seeds 7 and 8.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'biaslens-compare-'));
  const reports = [7, 8].map((seed) => {
    const config = { ...SMALL, seed, name: `compare-seed${seed}` };
    fs.writeFileSync(path.join(dir, `c${seed}.json`), JSON.stringify(config));
    const html = path.join(dir, `seed${seed}.html`);
    execFileSync(cli, ['run', '--quiet', '--config', path.join(dir, `c${seed}.json`), '--out', html, '--json', path.join(dir, `seed${seed}.json`)]);
    return { html, results: JSON.parse(fs.readFileSync(path.join(dir, `seed${seed}.json`), 'utf8')) };
  });
  await withPage('cpu', async ({ page, ctx, server }) => {
    await page.goto(server.url);
    await page.waitForSelector('#device[data-kind="cpu"]');
    assert.match(await page.textContent('#kept-status'), /Nothing is kept/);
    await applyConfig(page, SMALL);
    await page.click('#run-button');
    assert.equal(await waitForRun(page, 300_000), 'done', await page.textContent('#notes'));
    // The page says what it stored, and lists the vanilla model.
    await page.waitForFunction(() => /^Kept: /.test(document.getElementById('kept-status')?.textContent ?? ''));
    assert.match(await page.textContent('#notes'), /kept in this browser[\s\S]*Forget/);
    assert.equal(await page.locator('#kept button[data-weights]').count(), 1, 'one unit, one kept vanilla model');
    const before = await tableNumbers(page);
    const shownBefore = (await exportReport(page)).results;

    // A reload offers the kept run (never restores it unasked), and restoring shows every number again.
    await page.reload();
    await page.waitForSelector('#restore-offer');
    assert.match(await page.textContent('#restore-offer'), /e2e-small, 1 unit/);
    assert.equal(await page.locator('#model-table').count(), 0, 'nothing restored unasked');
    await page.click('#restore-run');
    await page.waitForSelector('#model-table');
    assert.deepEqual(await tableNumbers(page), before, 'the restored run shows the same numbers');
    assert.deepEqual(stable((await exportReport(page)).results), stable(shownBefore), 'the restored document is the run');
    assert.equal(await page.locator('#restore-offer').count(), 0, 'the offer goes once answered');
    // The kept vanilla model can replace training in the next run.
    await page.click('#kept button[data-weights]');
    await page.waitForSelector('#weights-file ~ .loaded, .loaded');
    assert.match(await page.textContent('.loaded'), /kept vanilla model of φ = -0\.5, seed 7/);

    // Two reports side by side.
    await page.setInputFiles('#compare-files', reports.map((r) => r.html));
    await page.waitForSelector('#compare-table');
    assert.equal(await page.locator('#compared-runs li').count(), 2);
    await page.selectOption('#compare-metric', 'accuracy');
    await page.waitForFunction(() => /Accuracy/.test(document.querySelector('#compare-table caption')?.textContent ?? ''));
    const cells = await page.$$eval('#compare-table tbody tr', (rows) => rows.map((r) => ({
      phi: Number(r.dataset.phi), model: r.dataset.model, values: [...r.querySelectorAll('td[data-value]')].map((td) => Number(td.dataset.value)),
    })));
    assert.equal(cells.length, 3, 'one φ, three models');
    for (const row of cells) {
      reports.forEach((r, k) => {
        const m = r.results.phis[0].models.find((x) => x.name === row.model);
        assert.equal(row.values[k], m.fairness.accuracy.value, `${row.model} accuracy of run ${k + 1}`);
      });
      assert.equal(await page.locator(`#compare-table tr[data-model="${row.model}"] svg.whiskers circle`).count(), 2, 'a whisker per run');
    }
    await page.locator('#compare').screenshot({ path: path.join(outDir, 'explorer-compare.png') });
    // The table as CSV (and the runs' labels): every cell, parsed back.
    const downloads = [];
    page.on('download', (d) => downloads.push(d));
    await page.click('#compare-csv');
    await page.waitForFunction(() => true);
    for (let t = 0; t < 50 && downloads.length < 2; t++) await page.waitForTimeout(100);
    assert.deepEqual(downloads.map((d) => d.suggestedFilename()).sort(), ['compare-accuracy.csv', 'compare-runs.csv']);
    const table = downloads.find((d) => d.suggestedFilename() === 'compare-accuracy.csv');
    const csvFile = path.join(dir, 'compare.csv');
    await table.saveAs(csvFile);
    const rows = parseCsv(fs.readFileSync(csvFile, 'utf8'));
    assert.deepEqual(rows[0], ['metric', 'attribution', 'phi', 'model', 'run1', 'run1_low', 'run1_high', 'run2', 'run2_low', 'run2_high']);
    for (const row of rows.slice(1)) {
      const m = reports[1].results.phis[0].models.find((x) => x.name === row[3]);
      assert.equal(Number(row[7]), m.fairness.accuracy.value, `CSV value of ${row[3]}`);
      assert.ok(Number(row[8]) <= Number(row[7]) && Number(row[7]) <= Number(row[9]), 'value inside its interval');
    }
    // The address keeps the two runs as configs (never numbers); opening it lists them to run.
    const hash = await page.evaluate(() => location.hash);
    const m = hash.match(/&compare=([A-Za-z0-9_.-]+)/);
    assert.ok(m, `compare= in ${hash}`);
    assert.equal(m[1].split('.').length, 2);
    assert.ok(!/accuracy|0\.\d{6}/.test(decodeURIComponent(hash)), 'no numbers in the link');
    const linked = await ctx.newPage();
    await linked.goto(server.url + hash);
    await linked.waitForSelector('#compared-runs li');
    assert.equal(await linked.locator('#compared-runs li button.run-slot').count(), 2, 'both runs listed, to be run here');
    assert.match(await linked.textContent('#compared-runs'), /compare-seed7[\s\S]*compare-seed8/);
    await linked.close();

    // Forget: nothing kept, no offer after a reload.
    await page.click('#forget');
    await page.waitForFunction(() => /Nothing is kept/.test(document.getElementById('kept-status')?.textContent ?? ''));
    await page.reload();
    await page.waitForSelector('#device[data-kind="cpu"]');
    await page.waitForTimeout(1500);
    assert.equal(await page.locator('#restore-offer').count(), 0, 'nothing offered after Forget');
    assert.equal(await page.evaluate(async () => {
      const root = await navigator.storage.getDirectory();
      const names = [];
      for await (const name of root.keys()) names.push(name);
      return names.length;
    }), 0, 'the storage folder is gone');
  });
});
