// Our engine (own WGSL kernels + PIE) against transformers.js (Hugging Face's @huggingface/transformers on
// onnxruntime-web's WebGPU backend), the same model on the same WebGPU adapter in one Chromium page: for documents of
// 512, 1,024 and 2,048 tokens, each engine's prefill time, decode speed, and the time from a one-token edit in the
// middle of the document to the next token (ours with PIE and with a full recomputation; transformers.js with its past
// key/values up to the edit and the rest recomputed). What each measure is: bench/peers-page.ts; results: docs/peers.md.
//
//   node bench/peers.mjs [--json] [--runs N] [--contexts 512,1024,2048] [--decode-tokens N] [--graph fused|plain]
//
// It exports the model for transformers.js first when needed (tools/export-transformersjs, Python with numpy and
// onnx: Debian's python3-onnx), bundles bench/peers-page.ts with esbuild, serves the page, the bundle, both models and
// onnxruntime-web's .wasm from 127.0.0.1, and drives Debian's Chromium (playwright-core, the e2e suite's flags:
// headless, WebGPU through --enable-unsafe-webgpu on SwiftShader, Chromium's CPU Vulkan driver). Progress goes to
// standard error; standard output gets a table, and with --json a last line
//   {"device": "...", "rows": [{"context": n, "oursEditMs": n, "oursFullMs": n, "tfjsEditMs": n, "oursDecodeTps": n,
//    "tfjsDecodeTps": n, ...}, ...]}
// (the rows also carry both prefill times, what each edit recomputed, and every run's time).
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, normalize, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';
import { exportForTransformersJs, ROOT } from '../tools/export-transformersjs/export.mjs';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    runs: { type: 'string', default: '3' },
    contexts: { type: 'string', default: '512,1024,2048' },
    'decode-tokens': { type: 'string', default: '16' },
    graph: { type: 'string', default: 'fused' },
    model: { type: 'string', default: join(ROOT, 'models', 'pie-code-tiny.gguf') },
    timeout: { type: 'string', default: '3600' },
    quiet: { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);
const contexts = values.contexts.split(',').map(Number);
const decodeTokens = Number(values['decode-tokens']);
if (!(runs >= 1) || contexts.some((n) => !(n >= 16)) || !(decodeTokens >= 1)) {
  console.error('usage: node bench/peers.mjs [--json] [--runs N>=1] [--contexts N,N,...] [--decode-tokens N] [--graph fused|plain]');
  process.exit(2);
}
const err = (s) => values.quiet || console.error(s);

// The e2e harness's Chromium flags (test/e2e/harness.ts chromiumArgs; kept in step by hand: that file is TypeScript
// and imports node:test, so a plain-Node bench does not import it).
const CHROMIUM = process.env.PIE_CHROMIUM ?? '/usr/bin/chromium';
const BASE_ARGS = ['--headless', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
// WebGPU as the e2e suite's default gives it: Chromium's own SwiftShader (Vulkan on the CPU), the adapter both engines get.
const WEBGPU_ARGS = ['--enable-unsafe-webgpu'];
if (!existsSync(CHROMIUM)) {
  console.error(`${CHROMIUM} is missing: install Debian's chromium (bash scripts/setup-cpu-gpu.sh), or set PIE_CHROMIUM`);
  process.exit(1);
}

// 1. the model for transformers.js (cached in .cache/transformersjs/ by the GGUF's sha256)
let t0 = Date.now();
const gguf = resolve(values.model);
if (!['fused', 'plain'].includes(values.graph)) {
  console.error(`--graph ${values.graph}: fused or plain`);
  process.exit(2);
}
let exported;
try {
  exported = exportForTransformersJs({ gguf, graph: values.graph });
} catch (e) {
  console.error(`the export for transformers.js failed: ${e.message}`);
  process.exit(1);
}
err(`export: ${exported.dir} (${Date.now() - t0} ms)`);

// 2. the page script: our engine and transformers.js (its browser build, which carries onnxruntime-web) in one bundle
t0 = Date.now();
const bundle = await esbuild.build({
  entryPoints: [join(ROOT, 'bench', 'peers-page.ts')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'chrome120',
  loader: { '.wgsl': 'text' },
  write: false,
  logLevel: 'error',
  absWorkingDir: ROOT,
});
const pageJs = bundle.outputFiles[0].contents;
err(`bundle: ${(pageJs.length / 1e6).toFixed(1)} MB (${Date.now() - t0} ms)`);

// The documents: the project's own TypeScript as of the commit the recorded figures were measured on (docs/peers.md;
// the files have changed since), cut to each context's length.
const CORPUS_COMMIT = '11ff6e85a3dba18d12c452e07143bed0e35d05d5';
const corpus = ['src/engine/session.ts', 'src/engine/model/model.ts', 'src/engine/model/tokenizer.ts', 'src/engine/kv/mirror.ts']
  .map((f) => execFileSync('git', ['show', `${CORPUS_COMMIT}:${f}`], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 26 }))
  .join('\n');

// 3. the server: the page, the bundle, both models, onnxruntime-web's files; cross-origin isolated so that
// onnxruntime-web may use threads (SharedArrayBuffer)
const ORT_DIST = join(ROOT, 'node_modules', 'onnxruntime-web', 'dist');
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
const HTML = '<!doctype html><meta charset="utf-8"><title>peers</title><script type="module" src="/page.js"></script>';
function fileUnder(base, rel) {
  const p = normalize(join(base, decodeURIComponent(rel)));
  return p.startsWith(base + '/') && existsSync(p) && statSync(p).isFile() ? p : null;
}
const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cache-Control': 'no-store' };
  const send = (status, body, type) => {
    res.writeHead(status, { ...headers, 'Content-Type': type ?? 'application/octet-stream', 'Content-Length': body.length });
    res.end(body);
  };
  let file = null;
  if (url.pathname === '/') return send(200, Buffer.from(HTML), TYPES['.html']);
  if (url.pathname === '/page.js') return send(200, Buffer.from(pageJs), TYPES['.js']);
  if (url.pathname === '/model.gguf') file = gguf;
  else if (url.pathname.startsWith(`/models/${exported.modelId}/`)) file = fileUnder(exported.dir, url.pathname.slice(`/models/${exported.modelId}/`.length));
  else if (url.pathname.startsWith('/ort/')) file = fileUnder(ORT_DIST, url.pathname.slice('/ort/'.length));
  if (!file) {
    err(`(server: 404 for ${url.pathname})`);
    return send(404, Buffer.from('not found'), 'text/plain');
  }
  send(200, readFileSync(file), TYPES[extname(file)]);
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const base = `http://127.0.0.1:${server.address().port}`;

// 4. Chromium
// (playwright gives the browser a fresh temporary profile)
const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...BASE_ARGS, ...WEBGPU_ARGS], timeout: 60_000 });
const chromiumVersion = browser.version();
let result;
try {
  const page = await browser.newPage();
  page.on('console', (m) => {
    const t = m.text();
    if (t.startsWith('[peers] ')) err(t.slice(8));
    else if (m.type() === 'error' || m.type() === 'warning') err(`page ${m.type()}: ${t}`);
  });
  page.on('pageerror', (e) => err(`page error: ${e.message}`));
  await page.goto(`${base}/`);
  await page.waitForFunction(() => globalThis.peersReady === true, null, { timeout: 60_000 });
  const cfg = { contexts, runs, decodeTokens, corpus, modelId: exported.modelId, ggufUrl: '/model.gguf', ortUrl: '/ort/',
    webgpuOptions: process.env.PIE_PEERS_WEBGPU_OPTIONS ? JSON.parse(process.env.PIE_PEERS_WEBGPU_OPTIONS) : undefined };
  const timeout = Number(values.timeout) * 1000;
  result = await Promise.race([
    page.evaluate((c) => globalThis.peersBench(c), cfg),
    new Promise((_, no) => setTimeout(() => no(new Error(`the benchmark took longer than ${values.timeout} s (--timeout)`)), timeout).unref()),
  ]);
} finally {
  await browser.close();
  server.close();
}

// 5. the table and the JSON line
const f1 = (x) => x.toFixed(1);
const s2 = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);
console.log(`device: ${result.device} (transformers.js's: ${result.tfjsDevice}); Chromium ${chromiumVersion}; transformers.js ${result.tfjsVersion}, ${values.graph} graph`);
console.log(`model: ${relative(ROOT, gguf)} (ours: GGUF F16 weights; transformers.js: its fp32 ONNX export); median of ${runs} runs after a warm-up; decode: ${decodeTokens} tokens`);
console.log('');
console.log('| context | prefill ours | prefill transformers.js | decode ours | decode transformers.js | edit to next token: ours, PIE | ours, full recomputation | transformers.js, past up to the edit | transformers.js / ours PIE |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of result.rows) {
  console.log(`| ${r.context} | ${s2(r.oursPrefillMs)} | ${s2(r.tfjsPrefillMs)} | ${f1(r.oursDecodeTps)} tok/s | ${f1(r.tfjsDecodeTps)} tok/s | ` +
    `${s2(r.oursEditMs)} | ${s2(r.oursFullMs)} | ${s2(r.tfjsEditMs)} (${r.tfjsTokensRecomputed} tokens) | ${(r.tfjsEditMs / r.oursEditMs).toFixed(1)}x |`);
}
if (values.json) {
  const round = (x) => Math.round(x * 10) / 10;
  console.log(JSON.stringify({
    device: result.device,
    tfjsDevice: result.tfjsDevice,
    chromium: chromiumVersion,
    transformersJs: result.tfjsVersion,
    graph: values.graph,
    runs,
    decodeTokens,
    loadMs: { ours: round(result.loadMs.ours), tfjs: round(result.loadMs.tfjs) },
    rows: result.rows.map((r) => ({
      context: r.context,
      oursEditMs: round(r.oursEditMs),
      oursFullMs: round(r.oursFullMs),
      tfjsEditMs: round(r.tfjsEditMs),
      oursDecodeTps: round(r.oursDecodeTps),
      tfjsDecodeTps: round(r.tfjsDecodeTps),
      oursPrefillMs: round(r.oursPrefillMs),
      tfjsPrefillMs: round(r.tfjsPrefillMs),
      editTokens: r.editTokens,
      oursRowsMoved: r.oursRowsMoved,
      oursTokensEncoded: r.oursTokensEncoded,
      tfjsTokensRecomputed: r.tfjsTokensRecomputed,
      nextTokenAgrees: r.nextTokenAgrees,
      runsMs: Object.fromEntries(Object.entries(r.runsMs).map(([k, v]) => [k, v.map(round)])),
    })),
  }));
}
