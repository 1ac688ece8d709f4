// The built CLI (dist/cli.js, made by `npm run build`, which `npm test` runs first), as the tests compare with it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../../src/cli/models.js';

/** Runs the CLI (in Node, on Dawn) with `model`; its JSON line, parsed. */
export function runCli<T>(model: string, args: string[], stdin = ''): T {
  const r = spawnSync(process.execPath, [join(projectRoot(), 'dist', 'cli.js'), ...args, '--model', model, '--json'], { encoding: 'utf8', timeout: 180_000, input: stdin });
  if (r.status !== 0) throw new Error(`pie ${args[0]} failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}

/** What `pie complete` (a fresh session) completes for `text` at `offset` (default: its end), as ghost text shows it. */
export function cliComplete(model: string, text: string, maxTokens: number, maxLines: number, offset?: number): { text: string; device: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pie-cli-doc-'));
  try {
    const file = join(dir, 'doc.txt');
    writeFileSync(file, text);
    return runCli(model, ['complete', '--file', file, '--max-tokens', String(maxTokens), '--max-lines', String(maxLines), ...(offset === undefined ? [] : ['--offset', String(offset)])]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
