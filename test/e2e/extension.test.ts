// The extension as a user gets it: packed into a .vsix, installed into a real VS Code (code-server), driven through
// Debian's Chromium. Needs code-server in .cache/code-server (scripts/test.sh e2e installs it) and /usr/bin/chromium.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { fixtureModel } from '../helpers/fixtures.js';
import { packageVsix, ROOT, VsCode, waitFor, type WebGpuFlags } from './harness.js';

const WEBGPU = (process.env.PIE_E2E_WEBGPU ?? 'swiftshader') as WebGpuFlags;
let vs: VsCode | null = null;
let startError: Error | null = null;

before(async () => {
  const { path: model, why } = await fixtureModel('stories260K.gguf');
  if (!model) throw new Error(why);
  const vsix = packageVsix();
  try {
    vs = await VsCode.start({
      name: 'extension',
      vsix,
      workspace: join(ROOT, 'test', 'e2e', 'workspace'),
      settings: { 'pie.modelPath': model },
      webgpu: WEBGPU,
      log: (line) => console.log(`# ${line}`),
    });
  } catch (e) {
    startError = e as Error;
  }
}, { timeout: 300_000 });

after(async () => {
  await vs?.close();
}, { timeout: 60_000 });

function started(): VsCode {
  if (!vs) throw startError ?? new Error('VS Code did not start');
  return vs;
}

/** A test on the shared VS Code that leaves a screenshot (test-results/e2e/extension-failed-<n>.png) when it fails. */
let failures = 0;
function e2e(name: string, timeout: number, fn: (v: VsCode, t: TestContext) => Promise<void>): void {
  test(name, { timeout }, async (t) => {
    const v = started();
    try {
      await fn(v, t);
    } catch (e) {
      const shot = await v.screenshot(`failed-${++failures}`).catch(() => null);
      if (shot) t.diagnostic(`screenshot: ${shot}`);
      throw e;
    }
  });
}

e2e('the workbench loads with the workspace open', 120_000, async (v, t) => {
  t.diagnostic(`code-server healthy in ${v.timings.serverHealthyMs} ms; extension installed in ${v.timings.installMs} ms; workbench in ${v.timings.workbenchMs} ms`);
  await v.openFile('hello.py');
  const text = await v.waitForEditorText((s) => s.includes('if __name__ == "__main__":'));
  assert.ok(text.startsWith('# A small program for the end-to-end tests to open and edit.\n\n\ndef greet(name):\n    return'), text);
  t.diagnostic(`pie-complete activated ${await v.activationMs('pie-complete.pie-complete')} ms after the page navigation began`);
});

e2e('PIE: Show engine shows a WebGPU device in the engine webview', 180_000, async (v, t) => {
  const t0 = Date.now();
  await v.runCommand('PIE: Show engine');
  const frame = await v.webviewFrame('#status', 90_000, /^(WebGPU device:|Unavailable:)/);
  const status = (await frame.textContent('#status')) ?? '';
  t.diagnostic(`engine status ${Date.now() - t0} ms after the command: ${status}`);
  // What the webview is offered: the engine takes the first of these that exists (core, then compatibility).
  // (No named inner functions in page code: tsx's esbuild would wrap them in a __name() the page does not have.)
  const adapters = await frame.evaluate(async () => {
    const out: string[] = [];
    for (const options of [{}, { featureLevel: 'compatibility' }] as GPURequestAdapterOptions[]) {
      const a = await navigator.gpu?.requestAdapter(options);
      out.push(a ? `${a.info.vendor} ${a.info.architecture} ${a.info.description}`.trim() || '(unnamed)' : 'none');
    }
    return { core: out[0], compatibility: out[1] };
  });
  t.diagnostic(`navigator.gpu in the webview (${WEBGPU} flags, origin ${await frame.evaluate(() => location.origin)}): core ${adapters.core}, compatibility ${adapters.compatibility}`);
  await v.screenshot('engine');
  assert.match(status, /^WebGPU device:/, `the engine webview says: ${status}`);
});

e2e('typing shows ghost text; Tab accepts it; the status bar gives the latency', 180_000, async (v, t) => {
  await v.openFile('story.txt');
  await v.statusBarText(/^PIE ready$/, 90_000);
  await v.gotoEnd();
  await v.typeText(' One day');
  const before = await v.waitForEditorText((s) => s.endsWith('in the sun.\n One day'));
  const t0 = Date.now();
  const ghost = await v.waitForGhostText(60_000);
  t.diagnostic(`ghost text ${Date.now() - t0} ms after the last key: ${JSON.stringify(ghost)}`);
  assert.ok(ghost.trim().length > 0);
  await v.screenshot('ghost-text');
  await v.press('Tab');
  // The accepted text is the document's now (a new suggestion may already be drawn after it: editorText leaves it out).
  const after = await v.waitForEditorText((s) => s !== before);
  assert.equal(after, before + ghost);
  const status = await v.statusBarText(/^PIE \d+ ms$/);
  const tooltip = await v.statusBarTooltip(/^PIE \d+ ms$/);
  t.diagnostic(`status bar: ${status}; tooltip: ${tooltip.replace(/\n/g, ' | ')}`);
  assert.match(tooltip, /Edit to ghost text: [\d.]+ ms/);
});

e2e('PIE: Re-sync cache reports in a notification', 120_000, async (v) => {
  await v.focusEditor();
  await v.runCommand('PIE: Re-sync cache');
  const note = await waitFor('the re-sync notification', async () => (await v.notifications()).find((n) => /^PIE: re-encoded \d+ tokens/.test(n.message)), { timeout: 60_000, every: 500 });
  assert.equal(note.severity, 'info');
});
