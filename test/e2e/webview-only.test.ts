// The extension with pie.engineHost "webview" in a VS Code whose browser has no WebGPU (Chromium without
// --enable-unsafe-webgpu: on Linux it offers none): no fallback to the language server; the user gets an error that
// says so, the status bar says it, and the editor keeps working.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sharedVsCode, waitFor } from './harness.js';

const shared = sharedVsCode('webview-only', 'off', { 'pie.engineHost': 'webview' });

test('with pie.engineHost "webview": an error naming WebGPU, PIE marked unavailable, typing unaffected', { timeout: 180_000 }, async (t) => {
  const v = shared.get();
  try {
    const note = await waitFor('the error notification', async () => (await v.notifications()).find((n) => n.severity === 'error' && n.message.startsWith('PIE: ')), { timeout: 90_000, every: 500 });
    t.diagnostic(`${note.severity}: ${note.message}`);
    // navigator.gpu missing, or present with no adapter: both name WebGPU or the adapter and what to do.
    assert.match(note.message, /WebGPU is not available in this VS Code window|navigator\.gpu exists but gave no adapter .*enable WebGPU/);
    await v.statusBarText(/^PIE$/, 10_000);
    await v.typeAtEndAndCheck('story.txt', ' Then it rained.');
    assert.equal(await v.ghostText(), '');
    await v.screenshot('no-webgpu');
  } catch (e) {
    await v.screenshot('failed').catch(() => undefined);
    throw e;
  }
});
