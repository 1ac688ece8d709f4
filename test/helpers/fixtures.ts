// Fixtures live in ../shared/fixtures beside the checkout and are never committed. Models that are absent are
// downloaded from their public URL with the sha256 checked (src/cli/models.ts); anything else absent is a skip whose
// message names the file.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KNOWN_MODELS, resolveKnownModel, sharedFixtures } from '../../src/cli/models.js';

/** Path of ../shared/fixtures/<rel>, or null when absent. */
export function fixture(rel: string): string | null {
  const p = join(sharedFixtures(), rel);
  return existsSync(p) ? p : null;
}

/** Path of a fixture model: shared, cached, or downloaded; null (with the reason) when none of those worked. */
export async function fixtureModel(file: keyof typeof KNOWN_MODELS | string): Promise<{ path: string | null; why: string }> {
  try {
    return { path: await resolveKnownModel(file), why: '' };
  } catch (e) {
    return { path: null, why: `fixture model ${file} is missing from ../shared/fixtures/models and could not be downloaded: ${(e as Error).message}` };
  }
}

/**
 * Path of ../shared/fixtures/<rel> for a test; when absent, a failure under CI (CI is set) and otherwise a skip of the
 * test with a message naming the fixture (null is returned: the test then returns).
 */
export function fixtureOrSkip(t: { skip(msg: string): void }, rel: string): string | null {
  const p = fixture(rel);
  if (p) return p;
  skipOrFail(t, `missing fixture ../shared/fixtures/${rel}`);
  return null;
}

/** For a test that cannot run without something this machine lacks (a fixture, llama.cpp, the bundled model): a
 *  failure under CI (CI is set: everything must be there), elsewhere a skip that says what is missing. */
export function skipOrFail(t: { skip(msg: string): void }, why: string): void {
  if (process.env.CI) assert.fail(why);
  t.skip(why);
}
