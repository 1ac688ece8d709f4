// How fast a model reaches the engine in VS Code's webview: starts code-server with the packed extension (test/e2e's
// harness: code-server + Debian's Chromium on SwiftShader), points pie.modelPath at a model, and reads the engine
// panel's lines: the read pass (every byte of the file through the webview's ByteSource, no GPU upload: the
// transport alone; with --read-pass) and the load (header, tensors streamed and uploaded to the GPU: request to
// TransformerModel ready, before the kernels' warm-up).
//
//   npm run package
//   node --import ./scripts/register.mjs bench/make-model.ts --shape qwen2.5-coder-0.5b --format q8_0 --out .cache/models/qwen0.5b-q8_0.gguf
//   node --import ./scripts/register.mjs bench/webview-load.ts --model .cache/models/qwen0.5b-q8_0.gguf --read-pass [--transport serial|pipelined] [--runs N] [--json]
//
// --transport serial is the transport before issue 14 (one 16 MB read request at a time, no read-ahead); --transport
// pipelined is host messages with read-ahead (the fallback); the default is whatever the extension picks (HTTP range
// requests from the host's file server). --vsix runs another package, e.g. one built from an older commit; a
// package older than the read pass and the #load line reports only the load time of its "ready" line, after the
// warm-up (waiting for it takes minutes on SwiftShader for a 0.5B model).
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, VsCode, waitFor } from '../test/e2e/harness.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: join(ROOT, '.cache/models/qwen0.5b-q8_0.gguf') },
    vsix: { type: 'string', default: join(ROOT, 'pie-complete-0.1.0.vsix') },
    transport: { type: 'string' },
    'chunk-mib': { type: 'string' },
    'ahead-mib': { type: 'string' },
    'read-pass': { type: 'boolean', default: false },
    runs: { type: 'string', default: '1' },
    timeout: { type: 'string', default: '900' },
    json: { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
  },
});

const model = resolve(values.model!);
const size = statSync(model).size;
// The extension host inherits code-server's environment: these reach EngineClient (src/extension/engine.ts).
if (values.transport) process.env.PIE_MODEL_TRANSPORT = values.transport;
if (values['chunk-mib']) process.env.PIE_MODEL_CHUNK_MIB = values['chunk-mib'];
if (values['ahead-mib']) process.env.PIE_MODEL_AHEAD_MIB = values['ahead-mib'];
if (values['read-pass']) process.env.PIE_MODEL_READ_PASS = '1';

interface Run {
  transport: string | null;
  readPassMs: number | null;
  loadMs: number | null;
  /** From the workbench loaded to the load line (webview boot, device, load). */
  wallMs: number;
}

const MB = 1e6;
const rate = (ms: number | null) => (ms ? (size / MB / (ms / 1000)).toFixed(1) : '-');
const runs: Run[] = [];
for (let i = 0; i < Number(values.runs); i++) {
  const vs = await VsCode.start({
    name: 'webview-load',
    vsix: resolve(values.vsix!),
    workspace: join(ROOT, 'test/e2e/workspace'),
    settings: { 'pie.modelPath': model },
    log: values.verbose ? (l) => console.error(l) : undefined,
  });
  try {
    const t0 = Date.now();
    const timeout = Number(values.timeout) * 1000;
    // #load (this version and later): "model bytes: ..." then "read pass: ..." and "loaded ...: N ms"; older packages:
    // only #status's "loaded in N ms" once ready (after the warm-up).
    const text = await waitFor('the model loaded in the engine webview', async () => {
      for (const f of vs.page.frames()) {
        if (f === vs.page.mainFrame()) continue;
        const load = await f.$eval('#load', (e) => e.textContent ?? '').catch(() => null);
        if (load && /loaded in \d+ ms|could not/.test(load)) return load;
        const status = await f.$eval('#status', (e) => e.textContent ?? '').catch(() => null);
        if (status && /loaded in \d+ ms|could not be loaded/.test(status)) return status;
      }
      return null;
    }, { timeout, every: 250 });
    const wallMs = Date.now() - t0;
    if (/could not/.test(text)) throw new Error(text);
    const run: Run = {
      transport: /model bytes: ([^\n(]+)/.exec(text)?.[1]?.trim() ?? null,
      readPassMs: Number(/read pass: [^\n]*? in (\d+) ms/.exec(text)?.[1] ?? NaN) || null,
      loadMs: Number(/loaded in (\d+) ms/.exec(text)?.[1] ?? NaN) || null,
      wallMs,
    };
    runs.push(run);
    if (values.verbose) console.error(text);
    console.error(`run ${i + 1}: ${JSON.stringify(run)}`);
  } finally {
    await vs.close();
  }
}

console.log(`model ${model} (${(size / MB).toFixed(1)} MB), ${values.vsix}`);
console.log('| run | transport | read pass (no upload) | MB/s | load (read + upload) | MB/s |');
console.log('|---|---|---|---|---|---|');
runs.forEach((r, i) => console.log(`| ${i + 1} | ${r.transport ?? '(not reported)'} | ${r.readPassMs ? `${(r.readPassMs / 1000).toFixed(1)} s` : '-'} | ${rate(r.readPassMs)} | ${r.loadMs ? `${(r.loadMs / 1000).toFixed(1)} s` : '-'} | ${rate(r.loadMs)} |`));
if (values.json) console.log(JSON.stringify({ model, bytes: size, runs }));
