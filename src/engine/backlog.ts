// What waits for the engine while it boots (EngineHost), kept to the latest state of each document, so that a boot
// that takes long, or never ends, cannot make memory grow with every keystroke:
// - an `open` takes in every later `change` and `cursor` of its document (its text, version and cursor are brought
//   forward as the server would); a new `open` or a `close` replaces everything queued for the document (a `close`
//   of a document opened within the backlog leaves nothing);
// - `change`s of a document opened before the backlog began stay as they are, up to MAX_CHANGES; past that they are
//   all dropped, and the server, which then sees a version gap, asks the editor for the whole text (`needOpen`);
// - a `cursor`, a `context` and the `settings` or `focus` replace the previous one of their kind (and document);
// - requests (`complete`, `resync`) wait in order, one `complete` per document (an older one is superseded: answered
//   cancelled), and `cancel` takes them out.
import type { EngineMessage, HostMessage, WireChange } from '../protocol/messages.js';

/** Changes kept for a document whose `open` is not in the backlog. */
export const MAX_CHANGES = 64;

type Request = Extract<HostMessage, { type: 'complete' | 'resync' }>;

export class Backlog {
  private items: HostMessage[] = [];

  get size(): number {
    return this.items.length;
  }

  /** Queues `m`; returns the answers owed to requests it superseded. */
  push(m: HostMessage): EngineMessage[] {
    switch (m.type) {
      case 'open':
        this.removeDocument(m.uri, false);
        this.items.push({ ...m });
        return [];
      case 'close': {
        const opened = this.openOf(m.uri) !== null;
        this.removeDocument(m.uri, true);
        if (!opened) this.items.push(m); // the server knew it before: it must hear of the close
        return [];
      }
      case 'change': {
        const open = this.openOf(m.uri);
        if (open) {
          try {
            if (open.version !== m.prevVersion) throw new RangeError('a version gap');
            Object.assign(open, applyChanges(open.text, open.cursor, m.changes), { version: m.version });
          } catch {
            this.removeDocument(m.uri, false); // a gap or a bad change: the server will ask the editor for the text
          }
          return [];
        }
        const queued = this.items.filter((x) => x.type === 'change' && x.uri === m.uri).length;
        if (queued >= MAX_CHANGES) {
          this.items = this.items.filter((x) => !(x.type === 'change' && x.uri === m.uri) && !(x.type === 'cursor' && x.uri === m.uri));
          return [];
        }
        this.items.push(m);
        return [];
      }
      case 'cursor': {
        const open = this.openOf(m.uri);
        if (open) {
          if (open.version === m.version) open.cursor = Math.max(0, Math.min(open.text.length, m.offset));
          return [];
        }
        this.replace((x) => x.type === 'cursor' && x.uri === m.uri, m);
        return [];
      }
      case 'context':
        this.replace((x) => x.type === 'context' && x.uri === m.uri, m);
        return [];
      case 'settings':
      case 'focus':
        this.replace((x) => x.type === m.type, m);
        return [];
      case 'complete': {
        const older = this.items.filter((x): x is Request => x.type === 'complete' && x.uri === m.uri);
        this.items = this.items.filter((x) => !older.includes(x as Request));
        this.items.push(m);
        return older.map((r) => ({ type: 'noCompletion', id: r.id, reason: 'cancelled' }));
      }
      case 'resync':
      case 'accepted':
        this.items.push(m);
        return [];
      default:
        return []; // cancel is cancel(); the transport's own messages (init, bytes, shown...) never wait
    }
  }

  /** Takes out a queued request; true when it was there. */
  cancel(id: number): boolean {
    const n = this.items.length;
    this.items = this.items.filter((x) => !((x.type === 'complete' || x.type === 'resync') && x.id === id));
    return this.items.length < n;
  }

  /** Everything queued, in order; the backlog is empty afterwards. */
  take(): HostMessage[] {
    const out = this.items;
    this.items = [];
    return out;
  }

  /** The queued requests, taken out (a boot that failed answers them). */
  takeRequests(): Request[] {
    const out = this.items.filter((x): x is Request => x.type === 'complete' || x.type === 'resync');
    this.items = this.items.filter((x) => x.type !== 'complete' && x.type !== 'resync');
    return out;
  }

  private openOf(uri: string): Extract<HostMessage, { type: 'open' }> | null {
    for (const x of this.items) if (x.type === 'open' && x.uri === uri) return x;
    return null;
  }

  /** Drops the document's events, and its context with `context` (requests for it stay: the server answers them). */
  private removeDocument(uri: string, context: boolean): void {
    const types = context ? ['open', 'change', 'cursor', 'close', 'context'] : ['open', 'change', 'cursor', 'close'];
    this.items = this.items.filter((x) => !(types.includes(x.type) && 'uri' in x && x.uri === uri));
  }

  private replace(same: (x: HostMessage) => boolean, m: HostMessage): void {
    this.items = this.items.filter((x) => !same(x));
    this.items.push(m);
  }
}

/** The text and cursor after `changes` (each in the text the previous one left), the cursor moved as the editor moves
 *  it: typing at it pushes it along. */
export function applyChanges(text: string, cursor: number, changes: readonly WireChange[]): { text: string; cursor: number } {
  for (const c of changes) {
    const end = c.rangeOffset + c.rangeLength;
    if (!(c.rangeOffset >= 0 && c.rangeLength >= 0 && end <= text.length)) throw new RangeError(`change [${c.rangeOffset}, +${c.rangeLength}) outside the text (length ${text.length})`);
    text = text.slice(0, c.rangeOffset) + c.text + text.slice(end);
    if (cursor >= end) cursor += c.text.length - c.rangeLength;
    else if (cursor > c.rangeOffset) cursor = c.rangeOffset + c.text.length;
  }
  return { text, cursor };
}
