// The extension in a VS Code whose browser has no WebGPU (Chromium without --enable-unsafe-webgpu: on Linux it offers
// none). With pie.engineHost "auto" the engine moves to the language server (dist/server.mjs on Dawn in Node, here on
// the machine's CPU Vulkan driver): ghost text as the CLI completes it, the status bar naming the Node host, a lost
// device recovered. With "webview" (test/e2e/webview-only.test.ts) the user gets an error that names WebGPU instead.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { deviceLossRecovers, RESULTS, sharedVsCode, typingLatency, type VsCode, waitFor } from './harness.js';
import { cliComplete } from '../helpers/cli.js';

const shared = sharedVsCode('no-webgpu', 'off');

async function withScreenshot(v: VsCode, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    await v.screenshot('failed').catch(() => undefined);
    throw e;
  }
}

test('without WebGPU ("auto"): the language server runs the engine, its ghost text is the CLI\'s, the status bar names the Node host', { timeout: 300_000 }, async (t) => {
  const v = shared.get();
  await withScreenshot(v, async () => {
    await v.openFile('numbers.ts');
    await v.statusBarText(/^PIE ready \(Node\)$/, 180_000);
    const tooltip = await v.statusBarTooltip(/^PIE ready \(Node\)$/);
    t.diagnostic(`status bar tooltip: ${tooltip.replace(/\n/g, ' | ')}`);
    // navigator.gpu missing, or present with no adapter: the webview's reason, named
    assert.match(tooltip, /Host: the language server \(Node, Dawn\), because the webview has no WebGPU: (WebGPU is not available in this VS Code window|navigator\.gpu exists but gave no adapter)/);
    assert.match(tooltip, /Device: \S/);
    // no error: the fallback is not a failure
    assert.deepEqual((await v.notifications()).filter((n) => n.severity === 'error').map((n) => n.message), []);
    await v.focusEditor();
    await v.gotoEnd();
    await v.typeText('\nexport function max(values: number[]): number {\n  let best = values[');
    const doc = await v.waitForEditorText((s) => s.endsWith('): number {\n  let best = values['));
    const cli = cliComplete(shared.modelPath(), doc, 32, 4);
    const want = cli.text.replace(/\n+$/, '');
    let ghost = '';
    await waitFor('the ghost text of the CLI\'s completion', async () => (ghost = await v.ghostText()) === want, { timeout: 90_000, every: 100 }).catch(() => undefined);
    t.diagnostic(`ghost text ${JSON.stringify(ghost)}; CLI on ${cli.device}: ${JSON.stringify(cli.text)}`);
    assert.ok(ghost.trim().length > 0);
    assert.equal(ghost, want);
    const status = await v.statusBarText(/^PIE \d+ ms \(Node\)$/);
    t.diagnostic(`status bar: ${status}`);
    await v.screenshot('node-host');
    // the engine panel draws what the language server reports: its device and the document's cache
    await v.runCommand('PIE: Show engine');
    const frame = await v.webviewFrame('#status', 60_000, /WebGPU device \(the language server/);
    const panel = (await frame.evaluate(() => document.body.innerText)).replace(/\s+/g, ' ');
    t.diagnostic(`engine panel: ${panel.slice(0, 400)}`);
    await waitFor('the cache of numbers.ts in the panel', async () => /\d+ rows of \d+; stale \d+/.test((await frame.textContent('#plan')) ?? ''), { timeout: 30_000 });
    await v.press('Escape');
    await v.focusEditor();
  });
});

test('typing code word by word with the Node host: key to ghost text (test-results/e2e/latency-node.json)', { timeout: 300_000 }, async (t) => {
  const v = shared.get();
  await withScreenshot(v, async () => {
    // the editor, not the engine panel the last test showed, takes the keys
    await v.openFile('numbers.ts');
    await v.focusEditor();
    await v.gotoEnd();
    await v.waitForEditorText((s) => s.endsWith('let best = values['));
    await v.startLatencyProbe();
    // the same words as the webview's typing test (extension.test.ts), after the same `let best = values[`
    const words = ['0];', '\n  for', ' (const', ' v', ' of', ' values)', ' {', '\n    if', ' (v', ' >', ' best)', ' best', ' =', ' v;'];
    const { summary, rows, engine } = await typingLatency(v, words, /^PIE \d+ ms \(Node\)$/, 'node (lavapipe)');
    t.diagnostic(`edit to ghost text: median ${summary.editToGhostMs.median} ms, p90 ${summary.editToGhostMs.p90} ms (to the whole completion: median ${summary.editToFullMs.median} ms); engine median ${summary.engineFirstTokenMs.median} ms to first token`);
    writeFileSync(join(RESULTS, 'latency-node.json'), JSON.stringify(summary, null, 2));
    assert.equal(rows.length, words.length);
    assert.ok(engine.length > 0, 'some completions came from the engine');
    await v.press('Escape');
  });
});

test('PIE: Re-sync cache through the language server: a notification and the status bar', { timeout: 120_000 }, async (t) => {
  const v = shared.get();
  await withScreenshot(v, async () => {
    await v.focusEditor();
    await v.runCommand('PIE: Re-sync cache');
    const note = await waitFor('the re-sync notification', async () => (await v.notifications()).find((n) => /^PIE: re-encoded \d+ tokens/.test(n.message)), { timeout: 60_000, every: 500 });
    const tokens = Number(/re-encoded (\d+) tokens/.exec(note.message)![1]);
    const tooltip = await v.statusBarTooltip(/^PIE \d+ ms \(Node\)$/);
    t.diagnostic(`${note.message}; tooltip: ${tooltip.replace(/\n/g, ' | ')}`);
    assert.ok(tokens > 50, note.message);
    assert.match(tooltip, new RegExp(`^Re-sync: ${tokens} tokens re-encoded in [\\d.]+ ms`));
    await v.focusEditor();
  });
});

test('a lost GPU device in the Node host: said once, the engine restarts, ghost text again', { timeout: 300_000 }, async (t) => {
  const v = shared.get();
  await withScreenshot(v, async () => {
    const { note, ghost } = await deviceLossRecovers(v, /^PIE ready \(Node\)$/, '\ndef ');
    t.diagnostic(`${note}; ghost text after the recovery: ${JSON.stringify(ghost)}`);
    assert.ok(ghost.trim().length > 0);
  });
});

test('a language server that dies is restarted with a message, and completions come back', { timeout: 300_000 }, async (t) => {
  const v = shared.get();
  await withScreenshot(v, async () => {
    // the server vscode-languageclient started: node .../dist/server.mjs --stdio (this VS Code's only one)
    const servers = readdirSync('/proc').filter((pid) => /^\d+$/.test(pid) && (() => {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return cmd.some((a) => a.startsWith(v.extensionsDir) && a.endsWith('dist/server.mjs'));
      } catch {
        return false; // gone meanwhile
      }
    })());
    assert.equal(servers.length, 1, `the language server's processes: ${servers.join(', ') || 'none'}`);
    process.kill(Number(servers[0]), 'SIGKILL');
    const note = await waitFor('the restart warning', async () => (await v.notifications()).find((n) => /language server stopped; restarting it/.test(n.message)), { timeout: 60_000, every: 500 });
    t.diagnostic(`${note.severity}: ${note.message}`);
    await v.statusBarText(/^PIE ready \(Node\)$/, 120_000);
    await v.openFile('hello.py');
    await v.focusEditor();
    await v.gotoEnd();
    await v.typeText('\nprint(');
    const ghost = await v.waitForGhostText(90_000);
    t.diagnostic(`ghost text after the restart: ${JSON.stringify(ghost)}`);
    assert.ok(ghost.trim().length > 0);
    await v.press('Escape');
  });
});
