// `pie bench edit`: after an edit in the middle of a document of N tokens, the time until the next token can be
// sampled (the edit applied to the mirrors, the plan applied to the cache, the new tokens encoded, the logits of the
// cursor's token back), per method, all methods in one run; then the fused re-rotation pass alone.
import type { GpuContext } from '../engine/gpu/context.js';
import { packMoves } from '../engine/kernels/pie_rekey.js';
import type { TextChange } from '../engine/kv/mirror.js';
import { recordRekey } from '../engine/kv/rotate.js';
import type { TransformerModel } from '../engine/model/model.js';
import { DocumentSession, type Method } from '../engine/session.js';
import { median, printTable, SAMPLE_TEXT } from './common.js';

export interface BenchEditOptions {
  model: TransformerModel;
  ctx: GpuContext;
  contexts: number[];
  methods: BenchMethod[];
  runs: number;
  json: boolean;
}

/** A method as the bench names it: `pie` (the session's default refresh window) or `pie:N` (refresh window N). */
export interface BenchMethod {
  label: string;
  method: Method;
  refreshWindow?: number;
}

interface Edit {
  name: string;
  /** The edit and the one that undoes it (so every run starts from the same document). */
  make(text: string): { forward: TextChange[]; back: TextChange[] };
}

/** A word boundary near `at`. */
function spaceNear(text: string, at: number): number {
  const i = text.indexOf(' ', at);
  return i < 0 ? at : i;
}

const PASTE = ' The sun was warm and the birds sang in the tall green trees near the old blue house.';

const EDITS: Edit[] = [
  {
    name: 'insert 1 token',
    make(text) {
      const at = spaceNear(text, text.length >> 1);
      return { forward: [{ rangeOffset: at, rangeLength: 0, text: ' big' }], back: [{ rangeOffset: at, rangeLength: 4, text: '' }] };
    },
  },
  {
    name: 'delete 1 token',
    make(text) {
      const at = spaceNear(text, text.length >> 1);
      const end = spaceNear(text, at + 1);
      const word = text.slice(at, end);
      return { forward: [{ rangeOffset: at, rangeLength: word.length, text: '' }], back: [{ rangeOffset: at, rangeLength: 0, text: word }] };
    },
  },
  {
    name: 'paste 20 tokens',
    make(text) {
      const at = spaceNear(text, text.length >> 1);
      return { forward: [{ rangeOffset: at, rangeLength: 0, text: PASTE }], back: [{ rangeOffset: at, rangeLength: PASTE.length, text: '' }] };
    },
  },
  {
    name: '3 cursors',
    make(text) {
      const ats = [0.4, 0.5, 0.6].map((f) => spaceNear(text, Math.floor(text.length * f)));
      // each offset in the text the previous change left: the inserts shift later ones by 4 each
      return {
        forward: ats.map((at, i) => ({ rangeOffset: at + 4 * i, rangeLength: 0, text: ' big' })),
        // undone last to first, so that no deletion shifts the ones still to come
        back: ats.map((at, i) => ({ rangeOffset: at + 4 * i, rangeLength: 4, text: '' })).reverse(),
      };
    },
  },
];

/** Story text of about n tokens. */
function documentOf(model: TransformerModel, n: number): string {
  const tok = model.tokenizer;
  const reps = Math.ceil(n / Math.max(1, tok.encode(SAMPLE_TEXT).length)) + 1;
  return tok.decode(tok.encode(SAMPLE_TEXT.repeat(reps)).slice(0, n - 1));
}

export interface EditResult {
  context: number;
  edit: string;
  method: string;
  medianMs: number;
  tokensEncoded: number;
  rowsMoved: number;
}

export interface RekeyResult {
  context: number;
  rowsMoved: number;
  medianMs: number;
  gbPerS: number;
}

export async function benchEdit(o: BenchEditOptions): Promise<{ results: EditResult[]; rekey: RekeyResult[] }> {
  const results: EditResult[] = [];
  const rekey: RekeyResult[] = [];
  for (const n of o.contexts) {
    const text = documentOf(o.model, n);
    for (const { label, method, refreshWindow } of o.methods) {
      const s = new DocumentSession(o.model, text, { method, maxRows: n + 64, ...(refreshWindow !== undefined ? { refreshWindow } : {}) });
      try {
        s.moveCursor(text.length);
        await s.flush();
        for (const e of EDITS) {
          const { forward, back } = e.make(s.text);
          const times: number[] = [];
          let stats = s.stats;
          for (let r = 0; r <= o.runs; r++) {
            const t0 = performance.now();
            s.applyEdits(forward);
            await s.flush();
            const ms = performance.now() - t0;
            stats = s.stats;
            if (r > 0) times.push(ms); // run 0 warms the pipelines
            s.applyEdits(back);
            await s.flush();
          }
          results.push({ context: n, edit: e.name, method: label, medianMs: median(times), tokensEncoded: stats.tokensEncoded, rowsMoved: stats.rowsMoved });
        }
      } finally {
        s.destroy();
      }
    }
    for (const rows of [1, 16, n >> 1, n]) rekey.push(await timeRekey(o, n, rows));
  }
  return { results, rekey };
}

/** The fused pass alone: `rows` rows of an n-row cache moved by one position, all layers. */
async function timeRekey(o: BenchEditOptions, n: number, rows: number): Promise<RekeyResult> {
  const c = o.model.config;
  const cache = o.model.createCache(n);
  const moves = o.ctx.upload(
    packMoves(
      Array.from({ length: rows }, (_, i) => n - rows + i),
      new Array<number>(rows).fill(1),
    ),
    'bench.moves',
  );
  const times: number[] = [];
  try {
    for (let r = 0; r <= o.runs; r++) {
      const t0 = performance.now();
      const b = o.ctx.batch('bench.rekey');
      recordRekey(b, c, cache, moves, rows);
      b.submit();
      await o.ctx.device.queue.onSubmittedWorkDone();
      if (r > 0) times.push(performance.now() - t0);
    }
  } finally {
    cache.destroy();
    moves.destroy();
  }
  o.ctx.throwIfFailed();
  const ms = median(times);
  // each moved row: the rotated dims of K read and written in every layer and KV head, and its 8-byte move entry
  const bytes = rows * (c.nLayers * c.nKvHeads * c.ropeDim * 4 * 2 + 8);
  return { context: n, rowsMoved: rows, medianMs: ms, gbPerS: bytes / (ms / 1000) / 1e9 };
}

export function printBenchEdit(o: BenchEditOptions, r: { results: EditResult[]; rekey: RekeyResult[] }): void {
  console.log(`device: ${o.ctx.describe()}; median of ${o.runs} runs per cell (after one warm-up); time from the edit until the next token can be sampled`);
  const rows: string[][] = [];
  for (const n of o.contexts) {
    for (const e of EDITS) {
      const cells = r.results.filter((x) => x.context === n && x.edit === e.name);
      const full = cells.find((x) => x.method === 'full');
      rows.push([
        String(n),
        e.name,
        ...o.methods.map(({ label: m }) => {
          const x = cells.find((c) => c.method === m)!;
          const ratio = full && m !== 'full' ? ` (${(full.medianMs / x.medianMs).toFixed(1)}x)` : '';
          return `${x.medianMs.toFixed(1)}${ratio}`;
        }),
      ]);
    }
  }
  printTable(['context', 'edit', ...o.methods.map((m) => `${m.label} ms`)], rows);
  console.log('\nfused re-rotation pass alone (pie_rekey, all layers):');
  printTable(
    ['context', 'rows moved', 'ms', 'GB/s'],
    r.rekey.map((x) => [String(x.context), String(x.rowsMoved), x.medianMs.toFixed(3), x.gbPerS.toFixed(2)]),
  );
  const round = (x: number) => Math.round(x * 1000) / 1000;
  console.log(
    JSON.stringify({
      device: o.ctx.describe(),
      runs: o.runs,
      results: r.results.map((x) => ({ ...x, medianMs: round(x.medianMs) })),
      rekey: r.rekey.map((x) => ({ ...x, medianMs: round(x.medianMs), gbPerS: round(x.gbPerS) })),
    }),
  );
}

