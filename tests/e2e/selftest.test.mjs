// Browser end-to-end test of the device self-test, in headless Debian Chromium.
//
// Runs the built page twice: with WebGPU (Chromium's SwiftShader software Vulkan) and without it
// (burn's flex CPU fallback). Each run must finish, report the expected device, make no request
// beyond 127.0.0.1, log no console error, and show the same fraction that the same Rust code
// computes natively (`biaslens selftest --json`). A screenshot of each mode is saved.
//
// Inputs (set by `cargo xtask test`): BIASLENS_DIST = built page, BIASLENS_CLI = native binary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { serveStatic, launchChromium, watchPage } from './harness.mjs';

const dist = process.env.BIASLENS_DIST;
const cli = process.env.BIASLENS_CLI;
const outDir = path.join(import.meta.dirname, 'out');

// Tolerance on the mean fraction (a number in [0, 1]). Both sides compute in float32 from the
// same inputs and weights; only the summation order of convolutions and reductions differs
// between flex and WGSL kernels (relative rounding ~1e-6 per value). A pre-activation within
// rounding of zero could flip one ReLU and move a few map values, which shifts a fraction over
// 4×64×64 pixels by far less than 1e-4. Anything larger is a real disagreement.
const TOLERANCE = 1e-4;

function nativeExpectation() {
  const json = execFileSync(cli, ['selftest', '--json'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return JSON.parse(json);
}

for (const mode of ['webgpu', 'cpu']) {
  test(`self-test page on ${mode}`, { timeout: 600_000 }, async () => {
    assert.ok(dist && fs.existsSync(path.join(dist, 'index.html')), 'BIASLENS_DIST must point at a built page');
    assert.ok(cli && fs.existsSync(cli), 'BIASLENS_CLI must point at the native biaslens binary');
    const expected = nativeExpectation();
    const server = await serveStatic(dist);
    const ctx = await launchChromium(chromium, { webgpu: mode === 'webgpu' });
    try {
      const page = ctx.pages()[0] ?? (await ctx.newPage());
      const watch = watchPage(page);
      await page.goto(server.url);
      await page.waitForFunction(() => {
        const s = document.getElementById('status')?.textContent ?? '';
        return s === 'done' || s.startsWith('error');
      }, null, { timeout: 540_000, polling: 250 });
      fs.mkdirSync(outDir, { recursive: true });
      await page.screenshot({ path: path.join(outDir, `selftest-${mode}.png`), fullPage: true });

      assert.equal(await page.textContent('#status'), 'done');
      assert.equal(await page.getAttribute('#device', 'data-kind'), mode, await page.textContent('#device'));
      const got = Number(await page.getAttribute('#roi-fraction', 'data-value'));
      const want = expected.mean_roi_fraction;
      assert.ok(Number.isFinite(got), 'the page shows a number');
      assert.ok(Math.abs(got - want) <= TOLERANCE, `page ${got} vs native ${want} (|diff| ${Math.abs(got - want)})`);
      assert.equal(await page.locator('canvas').count(), 2 * expected.target.length, 'input and map per image');
      assert.equal(await page.locator('.roi').count(), 2 * expected.target.length, 'box drawn on both');

      assert.deepEqual(watch.foreignRequests(server.origin), [], 'no request may leave 127.0.0.1');
      assert.deepEqual(watch.errors, [], 'no console error or page error');
      console.log(`# ${mode}: page ${got} native ${want} |diff| ${Math.abs(got - want).toExponential(2)}; ${await page.textContent('#device')}`);
    } finally {
      await ctx.close();
      await server.close();
    }
  });
}
