// ContextTracker: the host-independent memory of what the user did in the workspace, fed by the hosts (the VS Code
// extension, the language server) and asked by them, before each completion, for the chunks to send (gather).
//
// Rules:
// - Files are kept only as chunks of at most maxChunkLines lines on the grid of chunks.ts, never whole.
// - A ring of recent chunks (ringSize, default 16) takes the chunk around the cursor on an edit, a visit (the cursor
//   landed there: the host decides what counts as a jump) and a save (around the given line, else the file's first
//   chunk). Re-noting a chunk refreshes it (most recent again, its text and source renewed); past ringSize the least
//   recent goes. One file holds at most maxChunksPerFile ring places (its least recent goes first), so that moving
//   about one long file does not push every other file out.
// - Besides the ring: the visible ranges of each editor (setVisible), the definitions of symbols near the cursor as
//   the host located them (setDefinitions), and the clipboard (its first clipboardMaxLines lines and at most
//   clipboardMaxBytes bytes of UTF-8, never a partial character).
// - Any new text of a file (every note, setVisible, updateText) re-cuts all the chunks held of that file from it, under
//   the same ids: an edit inside a chunk's source is an edit of that chunk. A chunk past the file's new end goes.
// - gather: the candidates (ring, visible, definitions, clipboard; one per id, the most recent) less every chunk of the
//   current file and a clipboard whose text is in the current file, chosen by chunks.ts' select against the lines
//   around the cursor (queryLinesBefore before it, queryLinesAfter after it). Deterministic: ties go to the most
//   recently noted, then the smaller id.

import { type Candidate, chunkAround, chunkAt, chunkRange, type Piece, queryAround, select } from './chunks.js';
import type { ContextChunk, ContextSource } from './types.js';

export interface TrackerOptions {
  /** Chunks the ring keeps (default 16). */
  ringSize?: number;
  /** Ring places one file may hold (default 8). */
  maxChunksPerFile?: number;
  /** Lines per chunk (default 64). */
  maxChunkLines?: number;
  /** Lines before the cursor's line in the ranking query (default 32). */
  queryLinesBefore?: number;
  /** Lines after it (default 8). */
  queryLinesAfter?: number;
  /** The clipboard's cap in lines (default 64) and UTF-8 bytes (default 4096). */
  clipboardMaxLines?: number;
  clipboardMaxBytes?: number;
}

/** A range of a file, with the file's whole text (the tracker keeps only the chunks it cuts from it). */
export interface LocatedRange {
  path: string;
  text: string;
  startLine: number;
  endLine: number;
}

/** The file being completed: its path, text and the cursor's line. */
export interface CurrentFile {
  path: string;
  text: string;
  line: number;
}

export class ContextTracker {
  private readonly o: Required<TrackerOptions>;
  /** The ring, least recent first (Map order). */
  private readonly ring = new Map<string, Candidate>();
  private readonly visible = new Map<string, Candidate[]>();
  private definitions: Candidate[] = [];
  private clipboard: Candidate | undefined;
  private seq = 0;
  private readonly utf8 = new TextEncoder();

  constructor(options: TrackerOptions = {}) {
    this.o = {
      ringSize: options.ringSize ?? 16,
      maxChunksPerFile: options.maxChunksPerFile ?? 8,
      maxChunkLines: options.maxChunkLines ?? 64,
      queryLinesBefore: options.queryLinesBefore ?? 32,
      queryLinesAfter: options.queryLinesAfter ?? 8,
      clipboardMaxLines: options.clipboardMaxLines ?? 64,
      clipboardMaxBytes: options.clipboardMaxBytes ?? 4096,
    };
  }

  /** The user edited `path` at `line`. */
  noteEdit(path: string, text: string, line: number): void {
    this.note(path, text, line, 'edit');
  }

  /** The cursor landed at `line` of `path` (a jump, a switch of editor). */
  noteVisit(path: string, text: string, line: number): void {
    this.note(path, text, line, 'visit');
  }

  /** `path` was saved; the chunk around `line`, else its first chunk. */
  noteSave(path: string, text: string, line = 0): void {
    this.note(path, text, line, 'edit');
  }

  /** Text was copied (an empty or blank text clears the clipboard's chunk). */
  noteClipboard(text: string): void {
    const lines = text.split('\n', this.o.clipboardMaxLines).join('\n');
    const { read } = this.utf8.encodeInto(lines, new Uint8Array(this.o.clipboardMaxBytes));
    const capped = lines.slice(0, read);
    const endLine = capped.split('\n').length;
    this.clipboard = capped.trim()
      ? { id: `clipboard:${fnv1a(capped)}`, path: '', startLine: 0, endLine, text: capped, source: 'clipboard', seq: ++this.seq }
      : undefined;
  }

  /** The visible ranges of `path`'s editor (replacing those set before). */
  setVisible(path: string, text: string, ranges: readonly { startLine: number; endLine: number }[]): void {
    this.updateText(path, text);
    const seq = ++this.seq;
    const pieces = new Map<string, Piece>();
    for (const r of ranges) {
      for (const p of chunkRange(path, text, r.startLine, r.endLine, this.o.maxChunkLines)) pieces.set(p.id, p);
    }
    this.visible.set(path, [...pieces.values()].map((p) => ({ ...p, source: 'visible', seq })));
  }

  clearVisible(path: string): void {
    this.visible.delete(path);
  }

  /** The definitions of the symbols near the cursor (replacing those set before): the grid chunks of each one's first
   *  maxChunkLines lines. */
  setDefinitions(definitions: readonly LocatedRange[]): void {
    const seq = ++this.seq;
    const pieces = new Map<string, Piece>();
    for (const d of definitions) {
      const end = Math.min(d.endLine, d.startLine + this.o.maxChunkLines);
      for (const p of chunkRange(d.path, d.text, d.startLine, end, this.o.maxChunkLines)) pieces.set(p.id, p);
    }
    this.definitions = [...pieces.values()].map((p) => ({ ...p, source: 'definition', seq }));
  }

  /** `path` was closed, deleted or excluded: every chunk of it goes. */
  forget(path: string): void {
    for (const [id, c] of this.ring) if (c.path === path) this.ring.delete(id);
    this.visible.delete(path);
    this.definitions = this.definitions.filter((c) => c.path !== path);
  }

  /** `path` has a new text: the chunks held of it are re-cut from it (same ids; those past its end go). */
  updateText(path: string, text: string): void {
    const recut = (c: Candidate): Candidate | undefined => {
      const p = chunkAt(path, text, c.startLine, this.o.maxChunkLines);
      return p && { ...c, text: p.text, endLine: p.endLine };
    };
    for (const [id, c] of this.ring) {
      if (c.path !== path) continue;
      const n = recut(c);
      if (n) this.ring.set(id, n);
      else this.ring.delete(id);
    }
    const vis = this.visible.get(path);
    if (vis) this.visible.set(path, vis.map(recut).filter((c) => c !== undefined));
    this.definitions = this.definitions.map((c) => (c.path === path ? recut(c) : c)).filter((c) => c !== undefined);
  }

  /** The chunks to send with a completion in `current`, best first, within `budgetTokens` (see the header). */
  gather(current: CurrentFile, budgetTokens: number): ContextChunk[] {
    const byId = new Map<string, Candidate>();
    const all = [...this.ring.values(), ...[...this.visible.values()].flat(), ...this.definitions];
    if (this.clipboard && !current.text.includes(this.clipboard.text)) all.push(this.clipboard);
    for (const c of all) {
      if (c.path === current.path) continue;
      const had = byId.get(c.id);
      if (!had || c.seq > had.seq) byId.set(c.id, c);
    }
    const query = queryAround(current.text, current.line, this.o.queryLinesBefore, this.o.queryLinesAfter);
    return select([...byId.values()], query, budgetTokens);
  }

  private note(path: string, text: string, line: number, source: ContextSource): void {
    this.updateText(path, text);
    const p = chunkAround(path, text, line, this.o.maxChunkLines);
    this.ring.delete(p.id);
    this.ring.set(p.id, { ...p, source, seq: ++this.seq });
    const own = [...this.ring.values()].filter((c) => c.path === path);
    if (own.length > this.o.maxChunksPerFile) this.ring.delete(own[0]!.id);
    if (this.ring.size > this.o.ringSize) this.ring.delete(this.ring.keys().next().value!);
  }
}

/** FNV-1a (32 bits) of a string's UTF-16 units, in hex: the clipboard chunk's id. */
function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}
