// Which workspace files never become context: globs in VS Code's `files.exclude` syntax (also what a language-server
// client sends), matched against workspace-relative paths with '/' separators. Our own matcher, no dependency.
//
// Rules (as VS Code's globs):
// - `*` matches within one path segment, `?` one character of a segment, `**` as a whole segment any number of
//   segments (none included: `**/x` matches `x` and `a/b/x`; `**` inside a segment acts as `*`), `{a,b}` either
//   alternative (globs themselves, nestable), `[abc]` / `[a-z]` / `[!abc]` (or `[^abc]`) one character of a set.
// - A glob matches from the workspace root: `*.min.js` matches `a.min.js`, not `lib/a.min.js` (`**/*.min.js` does).
// - A glob that matches a folder excludes everything under it: `**/node_modules` excludes `node_modules/x/y.ts`, as
//   `node_modules` does at the root; a trailing '/' is ignored.
// - A `files.exclude` record counts only its `true` entries (`false` turns a default off; a `{ when }` condition on a
//   sibling file is not evaluated, so it counts as not excluded).
// - Matching is case-sensitive. A malformed glob (an unclosed `{` or `[`, a range out of order) is skipped, never
//   thrown.

/** The regular expression of a glob (anchored at both ends), or undefined when it is malformed. */
export function globToRegExp(glob: string): RegExp | undefined {
  const body = translate(glob.replace(/\/+$/, ''));
  if (body === undefined) return undefined;
  try {
    return new RegExp(`^${body}$`);
  } catch {
    return undefined;
  }
}

function translate(g: string): string | undefined {
  let re = '';
  let depth = 0; // open braces
  for (let i = 0; i < g.length; i++) {
    const c = g[i]!;
    if (c === '*') {
      let j = i;
      while (g[j + 1] === '*') j++;
      const prev = g[i - 1];
      const next = g[j + 1];
      const segStart = prev === undefined || prev === '/' || (depth > 0 && (prev === '{' || prev === ','));
      const segEnd = next === undefined || next === '/' || (depth > 0 && (next === ',' || next === '}'));
      if (j > i && segStart && segEnd) {
        if (next === '/') j++;
        re += next === '/' ? '(?:.*/)?' : '.*';
      } else re += '[^/]*';
      i = j;
    } else if (c === '?') re += '[^/]';
    else if (c === '{') {
      depth++;
      re += '(?:';
    } else if (c === '}' && depth > 0) {
      depth--;
      re += ')';
    } else if (c === ',' && depth > 0) re += '|';
    else if (c === '[') {
      const negate = g[i + 1] === '!' || g[i + 1] === '^';
      const first = i + 1 + (negate ? 1 : 0);
      const close = g.indexOf(']', first + 1); // a ']' first in the set is a member
      if (close < 0) return undefined;
      const set = g.slice(first, close).replace(/[\\^]/g, '\\$&');
      re += negate ? `[^/${set}]` : `[${set}]`;
      i = close;
    } else re += c.replace(/[.+^$()|[\]\\{}]/, '\\$&');
  }
  return depth ? undefined : re;
}

/** A test of workspace-relative paths against globs: a list, or a `files.exclude` record (only `true` entries count). */
export function makeExcluder(
  globs: readonly string[] | Readonly<Record<string, unknown>>,
): (relativePath: string) => boolean {
  const list = Array.isArray(globs) ? (globs as readonly string[]) : Object.entries(globs).filter(([, v]) => v === true).map(([k]) => k);
  const res = list.map(globToRegExp).filter((r): r is RegExp => r !== undefined);
  return (relativePath) => {
    if (!res.length) return false;
    const path = relativePath.replace(/\\/g, '/').replace(/^\.\//, '');
    // the path itself and every folder above it: a glob that matches a folder excludes what is under it
    for (let end = path.indexOf('/'); ; end = path.indexOf('/', end + 1)) {
      const p = end < 0 ? path : path.slice(0, end);
      if (res.some((r) => r.test(p))) return true;
      if (end < 0) return false;
    }
  };
}
