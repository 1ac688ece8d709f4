// Recent completions by where they were asked for, so that the same context coming back (undo, retyping, typing the
// ghost text's own characters) is answered at once without the engine. Free of 'vscode' for the unit tests.
//
// An entry is keyed by the document, the text just before the cursor (its last `keyChars` characters) and the rest of
// the cursor's line. A lookup tries the cursor's context, then the contexts up to `lookBack` characters earlier: when
// the characters typed since one of those are the start of its completion, the rest of that completion is the answer
// (type-through, as Copilot and llama.vscode do it).

export interface CacheHit {
  /** What to show now: the cached completion less what was typed since. */
  text: string;
  /** Characters of the completion typed since it was cached (0: the same context came back). */
  typed: number;
}

export class CompletionCache {
  /** Least recently used first (a Map keeps insertion order). */
  private readonly entries = new Map<string, string>();

  constructor(
    private readonly capacity = 128,
    readonly keyChars = 256,
    private readonly lookBack = 128,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Remembers `text` as the completion after `before` (the document's text up to the cursor) with `lineRest` after. */
  put(uri: string, before: string, lineRest: string, text: string): void {
    if (!text) return;
    const key = this.key(uri, before, lineRest);
    this.entries.delete(key);
    this.entries.set(key, text);
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  get(uri: string, before: string, lineRest: string): CacheHit | null {
    for (let k = 0; k <= Math.min(this.lookBack, before.length); k++) {
      const key = this.key(uri, before.slice(0, before.length - k), lineRest);
      const text = this.entries.get(key);
      if (text === undefined) continue;
      const typed = before.slice(before.length - k);
      if (!text.startsWith(typed) || text.length === k) continue;
      this.entries.delete(key);
      this.entries.set(key, text);
      return { text: text.slice(k), typed: k };
    }
    return null;
  }

  clear(): void {
    this.entries.clear();
  }

  /** Forgets a document (closed, or its text replaced). */
  drop(uri: string): void {
    for (const k of [...this.entries.keys()]) if (k.startsWith(`${uri}\u0000`)) this.entries.delete(k);
  }

  private key(uri: string, before: string, lineRest: string): string {
    return `${uri}\u0000${before.slice(-this.keyChars)}\u0000${lineRest}`;
  }
}
