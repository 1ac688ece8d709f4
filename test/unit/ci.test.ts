// The test command's summary, as .ci/run reads it: scripts/test.sh pins node's TAP reporter, whose closing lines
// include "# skipped N" (other reporters, the default of newer nodes on a terminal, print no such line); .ci/run fails
// when ../shared is missing, saying so.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../../src/cli/models.js';

const root = projectRoot();

test('scripts/test.sh runs the tests with the TAP reporter, whose summary has the "# skipped N" line .ci/run counts', () => {
  const script = readFileSync(join(root, 'scripts', 'test.sh'), 'utf8');
  const run = /^exec node (.*)"\$\{files\[@\]\}"$/m.exec(script);
  assert.ok(run, 'the exec line of scripts/test.sh');
  const flags = run[1]!.trim().split(/\s+/);
  assert.ok(flags.includes('--test-reporter=tap'), flags.join(' '));
  // those flags on a file with one skipped test: the line .ci/run greps for
  const dir = mkdtempSync(join(tmpdir(), 'pie-ci-'));
  const file = join(dir, 'one.test.mjs');
  writeFileSync(file, "import { test } from 'node:test';\ntest('runs', () => {});\ntest('skips', (t) => t.skip('no fixture'));\n");
  // (not as a child of this runner: without its NODE_TEST_CONTEXT, as scripts/test.sh runs)
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const out = execFileSync(process.execPath, [...flags.filter((f) => f !== '--import' && !f.startsWith('./scripts/')), file], { encoding: 'utf8', env });
  const skipped = out.split('\n').filter((l) => /^# skipped [0-9]+$/.test(l)).at(-1);
  assert.equal(skipped, '# skipped 1', out);
});

test('.ci/run stops at once, saying so, when ../shared/fixtures is missing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pie-ci-'));
  const repo = join(dir, 'repo');
  mkdirSync(join(repo, '.ci'), { recursive: true });
  cpSync(join(root, '.ci', 'run'), join(repo, '.ci', 'run'));
  const r = spawnSync('bash', [join(repo, '.ci', 'run')], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /\.\.\/shared\/fixtures is missing/);
});
