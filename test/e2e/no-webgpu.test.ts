// The extension in a VS Code whose browser has no WebGPU (Chromium without --enable-unsafe-webgpu: on Linux it offers
// none): the user gets an error that says so, the status bar says it, and the editor keeps working.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fixtureModel } from '../helpers/fixtures.js';
import { packageVsix, ROOT, VsCode, waitFor } from './harness.js';

let vs: VsCode | null = null;
let startError: Error | null = null;

before(async () => {
  const { path: model, why } = await fixtureModel('stories260K.gguf');
  if (!model) throw new Error(why);
  try {
    vs = await VsCode.start({
      name: 'no-webgpu',
      vsix: packageVsix(),
      workspace: join(ROOT, 'test', 'e2e', 'workspace'),
      settings: { 'pie.modelPath': model },
      webgpu: 'off',
      log: (line) => console.log(`# ${line}`),
    });
  } catch (e) {
    startError = e as Error;
  }
}, { timeout: 300_000 });

after(async () => {
  await vs?.close();
}, { timeout: 60_000 });

test('without WebGPU: an error naming it, PIE marked unavailable, typing unaffected', { timeout: 180_000 }, async (t) => {
  const v = vs;
  if (!v) throw startError ?? new Error('VS Code did not start');
  try {
    const note = await waitFor('the error notification', async () => (await v.notifications()).find((n) => n.message.startsWith('PIE: ')), { timeout: 90_000, every: 500 });
    t.diagnostic(`${note.severity}: ${note.message}`);
    assert.equal(note.severity, 'error');
    // navigator.gpu missing, or present with no adapter: both name WebGPU or the adapter and what to do.
    assert.match(note.message, /WebGPU is not available in this VS Code window|navigator\.gpu exists but gave no adapter .*enable WebGPU/);
    await v.statusBarText(/^PIE$/, 10_000);
    await v.openFile('story.txt');
    await v.gotoEnd();
    const before = await v.editorText();
    await v.typeText(' Then it rained.');
    await v.waitForEditorText((s) => s === before + ' Then it rained.');
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(await v.editorText(), before + ' Then it rained.');
    assert.equal(await v.ghostText(), '');
    await v.screenshot('no-webgpu');
  } catch (e) {
    await v.screenshot('failed').catch(() => undefined);
    throw e;
  }
});
