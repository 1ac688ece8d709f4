// Runs export.py from Node (test/gpu/peers.test.ts, bench/peers.mjs): the model in transformers.js's layout, written
// once per GGUF into .cache/transformersjs/ (export.py skips the work when its export.json is current).
//
//   import { exportForTransformersJs } from '../tools/export-transformersjs/export.mjs';
//   const { dir, localModelPath, modelId } = exportForTransformersJs();   // throws ExportUnavailable when it cannot run
import { spawnSync } from 'node:child_process';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const EXPORTER = join(ROOT, 'tools', 'export-transformersjs', 'export.py');
/** Debian's interpreter, where apt puts python3-onnx (a pyenv or venv python on PATH may lack it). */
export const PYTHON = process.env.PIE_PYTHON ?? '/usr/bin/python3';

/** What is missing for the export (the interpreter or its modules), with how to get it. */
export class ExportUnavailable extends Error {
  constructor(message) {
    super(message);
    this.name = 'ExportUnavailable';
  }
}

/** null when the exporter can run, else why not. */
export function exporterMissing() {
  const r = spawnSync(PYTHON, ['-c', 'import numpy, onnx'], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} cannot be run (${r.error.message}); install Python 3 (PIE_PYTHON names another interpreter)`;
  if (r.status !== 0) {
    const last = (r.stderr || '').trim().split('\n').pop();
    return `${PYTHON} lacks numpy or onnx (${last}); Debian: apt-get install python3-onnx (scripts/setup-cpu-gpu.sh does)`;
  }
  return null;
}

/**
 * Exports `gguf` (default models/pie-code-tiny.gguf) as the `graph` ('fused': onnxruntime's LLM operators, the
 * default; 'plain': standard ONNX operators) and returns where: `dir` (the model folder), and the two halves
 * transformers.js wants (`env.localModelPath` and the model id).
 */
export function exportForTransformersJs({ gguf, out, graph = 'fused', force = false } = {}) {
  const why = exporterMissing();
  if (why) throw new ExportUnavailable(why);
  const args = [EXPORTER, '--graph', graph];
  if (gguf) args.push('--gguf', gguf);
  if (out) args.push('--out', out);
  if (force) args.push('--force');
  const r = spawnSync(PYTHON, args, { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`export.py failed (exit ${r.status}): ${(r.stderr || r.stdout || '').trim()}`);
  const dir = r.stdout.trim().split('\n').pop();
  return { dir, localModelPath: dirname(dir) + '/', modelId: basename(dir) };
}
