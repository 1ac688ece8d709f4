// Why transformers.js decodes slowly on a CPU WebGPU driver: onnxruntime-web's WebGPU kernels alone, one operator per
// graph, in the Chromium of bench/peers.mjs (SwiftShader). Each graph holds one operator of pie-code-tiny's decode step
// with its real shape (one token): the MatMuls of a layer and the output projection, and a chain of 60 Adds (the cost
// of a dispatch). Prints the median time of session.run() plus reading the output back, over 12 runs after 2 warm-ups.
//
//   node bench/peers-probe.mjs [--json]
//
// Needs what bench/peers.mjs needs (Debian's chromium, python3-onnx for writing the graphs, npm ci).
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';
import { exporterMissing, PYTHON, ROOT } from '../tools/export-transformersjs/export.mjs';

const json = process.argv.includes('--json');
const missing = exporterMissing();
if (missing) {
  console.error(missing);
  process.exit(1);
}
const CHROMIUM = process.env.PIE_CHROMIUM ?? '/usr/bin/chromium';
const dir = mkdtempSync(join(tmpdir(), 'pie-peers-probe-'));

// the graphs: name -> (inputs (1, 1, k), weights (k, n)) as pie-code-tiny has them
const GRAPHS = {
  'add x60 (1x256)': null,
  'MatMul 1x256 @ 256x256 (attention output)': [256, 256],
  'MatMul 1x256 @ 256x512 (packed Q, K, V)': [256, 512],
  'MatMul 1x256 @ 256x688 (FFN gate, up)': [256, 688],
  'MatMul 1x688 @ 688x256 (FFN down)': [688, 256],
  'MatMul 1x256 @ 256x4096 (output)': [256, 4096],
};
const py = `
import json, sys, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto as T
F = T.FLOAT
for i, (name, kn) in enumerate(json.loads(sys.argv[2]).items()):
    if kn is None:
        nodes, prev = [], 'x'
        for j in range(60):
            nodes.append(helper.make_node('Add', [prev, 'x'], [f'a{j}'])); prev = f'a{j}'
        nodes.append(helper.make_node('Identity', [prev], ['y']))
        g = helper.make_graph(nodes, 'p', [helper.make_tensor_value_info('x', F, [1, 1, 256])], [helper.make_tensor_value_info('y', F, [1, 1, 256])])
    else:
        k, n = kn
        w = numpy_helper.from_array(np.random.default_rng(i).standard_normal((k, n)).astype(np.float32) * 0.05, 'w')
        g = helper.make_graph([helper.make_node('MatMul', ['x', 'w'], ['y'])], 'p', [helper.make_tensor_value_info('x', F, [1, 1, k])],
                              [helper.make_tensor_value_info('y', F, [1, 1, n])], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 17)]); m.ir_version = 8
    onnx.save(m, f'{sys.argv[1]}/g{i}.onnx')
`;
const r = spawnSync(PYTHON, ['-c', py, dir, JSON.stringify(GRAPHS)], { encoding: 'utf8' });
if (r.status !== 0) throw new Error(r.stderr);

const page = `
import * as ort from 'onnxruntime-web/webgpu';
globalThis.probe = async (graphs) => {
  ort.env.wasm.wasmPaths = { mjs: '/ort/ort-wasm-simd-threaded.asyncify.mjs', wasm: '/ort/ort-wasm-simd-threaded.asyncify.wasm' };
  const out = [];
  for (const [i, [name, kn]] of Object.entries(graphs).entries()) {
    const s = await ort.InferenceSession.create('/g/g' + i + '.onnx', { executionProviders: ['webgpu'] });
    const k = kn ? kn[0] : 256;
    const x = new ort.Tensor('float32', new Float32Array(k).fill(0.5), [1, 1, k]);
    const ts = [];
    for (let r = 0; r < 14; r++) {
      const t = performance.now();
      const y = (await s.run({ x })).y;
      await y.getData();
      if (r >= 2) ts.push(performance.now() - t);
    }
    ts.sort((a, b) => a - b);
    out.push({ graph: name, medianMs: Math.round(((ts[5] + ts[6]) / 2) * 100) / 100 });
    await s.release();
  }
  const a = await navigator.gpu.requestAdapter();
  return { device: [a.info.vendor, a.info.architecture, a.info.device, a.info.description].filter((x) => x).join(' '), ort: ort.env.versions.web, out };
};
globalThis.ready = true;
`;
const js = (await esbuild.build({ stdin: { contents: page, resolveDir: ROOT, loader: 'js' }, bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'error' })).outputFiles[0].contents;
const ORT_DIST = join(ROOT, 'node_modules', 'onnxruntime-web', 'dist');
const server = createServer((q, res) => {
  const p = new URL(q.url ?? '/', 'http://x').pathname;
  try {
    if (p === '/') return res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><script type="module" src="/p.js"></script>');
    if (p === '/p.js') return res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(js);
    if (/^\/ort\/[\w.-]+$/.test(p)) return res.writeHead(200, { 'Content-Type': p.endsWith('.wasm') ? 'application/wasm' : 'text/javascript' }).end(readFileSync(join(ORT_DIST, p.slice(5))));
    if (/^\/g\/g\d+\.onnx$/.test(p)) return res.writeHead(200).end(readFileSync(join(dir, p.slice(3))));
  } catch {
    // 404 below
  }
  res.writeHead(404).end();
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--enable-unsafe-webgpu'],
});
let result;
try {
  const pg = await browser.newPage();
  await pg.goto(`http://127.0.0.1:${server.address().port}/`);
  await pg.waitForFunction(() => globalThis.ready === true);
  result = await pg.evaluate((g) => globalThis.probe(g), GRAPHS);
} finally {
  await browser.close();
  server.close();
  rmSync(dir, { recursive: true, force: true });
}
console.log(`device: ${result.device}; onnxruntime-web ${result.ort}, WebGPU execution provider; median of 12 runs (run + read back)`);
console.log('| graph (one operator) | ms |');
console.log('|---|---|');
for (const o of result.out) console.log(`| ${o.graph} | ${o.medianMs} |`);
if (json) console.log(JSON.stringify(result));
