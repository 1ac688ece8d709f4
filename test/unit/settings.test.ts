// The settings' defaults are written once (src/protocol/settings.ts); package.json's contributes.configuration must
// declare exactly those settings with exactly those defaults.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../../src/cli/models.js';
import { SETTING_DEFAULTS } from '../../src/protocol/settings.js';

const declared = (JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { contributes: { configuration: { properties: Record<string, { default: unknown }> } } })
  .contributes.configuration.properties;

test('package.json declares every setting of src/protocol/settings.ts, with the same default, and no other', () => {
  const ours = Object.fromEntries(Object.entries(SETTING_DEFAULTS).map(([k, v]) => [`pie.${k}`, v]));
  assert.deepEqual(Object.keys(declared).sort(), Object.keys(ours).sort());
  for (const [key, p] of Object.entries(declared)) assert.deepEqual(p.default, ours[key], key);
});
