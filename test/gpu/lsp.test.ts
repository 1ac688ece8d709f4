// `pie serve --stdio` (dist/cli.js, built by `npm test`) driven over stdio by a real LSP client (vscode-jsonrpc, the
// library vscode-languageclient is built on): documents opened and edited incrementally (multi-cursor changes in one
// notification included), inline completions equal to `pie complete` for the same text and offset, cancellation,
// re-sync, the engine's state, load progress, a malformed model, a lost device, and a killed server restarted.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CancellationTokenSource } from 'vscode-jsonrpc/node';
import { DEFAULT_MODEL, KNOWN_MODELS, projectRoot } from '../../src/cli/models.js';
import type { PieState } from '../../src/lsp/server.js';
import { cliComplete } from '../helpers/cli.js';
import { type ServerProcess, spawnServer } from '../helpers/lsp-process.js';
import type { EngineMessage } from '../../src/protocol/messages.js';

const model = join(projectRoot(), KNOWN_MODELS[DEFAULT_MODEL]!.bundled!);
const dir = mkdtempSync(join(tmpdir(), 'pie-lsp-'));

interface Server extends ServerProcess {
  /** Every pie/engine notification so far. */
  engine: EngineMessage[];
  progress: { kind: string; percentage?: number; message?: string }[];
  shown: { type: number; message: string }[];
  waitEngine(pred: (m: EngineMessage) => boolean, what: string, timeoutMs?: number): Promise<EngineMessage>;
  open(uri: string, text: string, version?: number): void;
  complete(uri: string, line: number, character: number, token?: CancellationTokenSource): Promise<{ items: { insertText: string }[] }>;
}

async function start(args: string[], init: Record<string, unknown> = {}): Promise<Server> {
  const server = spawnServer(args);
  const conn = server.conn;
  const engine: EngineMessage[] = [];
  const progress: Server['progress'] = [];
  const shown: Server['shown'] = [];
  const watchers = new Set<() => void>();
  conn.onNotification('pie/engine', (m: EngineMessage) => {
    engine.push(m);
    for (const w of watchers) w();
  });
  conn.onRequest('window/workDoneProgress/create', () => null);
  conn.onNotification('$/progress', (p: { value: Server['progress'][number] }) => void progress.push(p.value));
  conn.onNotification('window/showMessage', (m: Server['shown'][number]) => void shown.push(m));
  conn.onNotification('window/logMessage', () => undefined);
  conn.onError(() => undefined);
  conn.listen();
  const result = (await conn.sendRequest('initialize', {
    processId: process.pid,
    rootUri: null,
    capabilities: { window: { workDoneProgress: true }, textDocument: { inlineCompletion: {} } },
    initializationOptions: { maxTokens: 12, maxLines: 4, ...init },
  })) as { capabilities: Record<string, unknown> };
  assert.equal(result.capabilities.inlineCompletionProvider, true);
  assert.deepEqual(result.capabilities.textDocumentSync, { openClose: true, change: 2 });
  await conn.sendNotification('initialized', {});
  const s: Server = {
    ...server,
    engine,
    progress,
    shown,
    waitEngine(pred, what, timeoutMs = 120_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = engine.find(pred);
          if (!m) return;
          watchers.delete(check);
          clearTimeout(timer);
          resolve(m);
        };
        const timer = setTimeout(() => {
          watchers.delete(check);
          reject(new Error(`no ${what} in ${timeoutMs} ms; got ${JSON.stringify(engine.map((m) => m.type))}; stderr: ${server.stderr().slice(-2000)}`));
        }, timeoutMs);
        watchers.add(check);
        check();
      });
    },
    open(uri, text, version = 1) {
      void conn.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'python', version, text } });
    },
    complete(uri, line, character, cts) {
      const params = { textDocument: { uri }, position: { line, character }, context: { triggerKind: 2 } };
      return (cts ? conn.sendRequest('textDocument/inlineCompletion', params, cts.token) : conn.sendRequest('textDocument/inlineCompletion', params)) as Promise<{ items: { insertText: string }[] }>;
    },
  };
  return s;
}

/** `pie complete` on the same text and offset: what the editor would show. */
const cliCompletion = (text: string, offset: number): string => cliComplete(model, text, 12, 4, offset).text;

const BEFORE = 'import os\n\n\ndef area(width, height):\n    return ';
const AFTER = '\n\n\ndef main():\n    print(area(3, 4))\n';

/** The LSP position of a UTF-16 offset. */
function position(text: string, offset: number): { line: number; character: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length - 1, character: before.at(-1)!.length };
}

test('pie serve --stdio: incremental edits (multi-cursor too), completions equal to pie complete, cancellation, re-sync, state, progress', { timeout: 300_000 }, async () => {
  const s = await start(['--model', model]);
  try {
    const ready = (await s.waitEngine((m) => m.type === 'ready' || m.type === 'unavailable', 'ready')) as Extract<EngineMessage, { type: 'ready' }>;
    assert.equal(ready.type, 'ready', JSON.stringify(ready));
    assert.equal(ready.model.name, DEFAULT_MODEL);
    // load progress through window/workDoneProgress: begin, reports with percentages, end
    assert.equal(s.progress[0]?.kind, 'begin');
    assert.ok(s.progress.some((p) => p.kind === 'report' && typeof p.percentage === 'number' && p.percentage > 0), JSON.stringify(s.progress.slice(0, 5)));
    assert.equal(s.progress.at(-1)?.kind, 'end');

    const uri = 'file:///work/area.py';
    let text = BEFORE + AFTER;
    s.open(uri, text);
    const first = await s.complete(uri, 4, 11);
    const expected = cliCompletion(text, BEFORE.length);
    assert.ok(expected.length > 0);
    assert.equal(first.items.length, 1);
    assert.equal(first.items[0]!.insertText, expected);

    // one didChange with three changes, each in the text the previous left (as VS Code sends a multi-cursor edit:
    // the later one first): "height" -> "h" on line 3, a comment on line 0, then a character (a surrogate pair: two
    // UTF-16 code units) into the line after that comment
    const edits = [
      { range: { start: { line: 3, character: 16 }, end: { line: 3, character: 22 } }, text: 'h' },
      { range: { start: { line: 0, character: 9 }, end: { line: 0, character: 9 } }, text: '  # 📐 units' },
      { range: { start: { line: 1, character: 0 }, end: { line: 1, character: 0 } }, text: '# sizes\n' },
    ];
    await s.conn.sendNotification('textDocument/didChange', { textDocument: { uri, version: 2 }, contentChanges: edits });
    text = text.replace('height', 'h').replace('import os', 'import os  # 📐 units').replace('units\n', 'units\n# sizes\n');
    // positions count UTF-16 code units: the emoji (one character, two units) starts at 13, so 15 is just after it
    await s.conn.sendNotification('textDocument/didChange', {
      textDocument: { uri, version: 3 },
      contentChanges: [{ range: { start: { line: 0, character: 15 }, end: { line: 0, character: 15 } }, text: '!' }],
    });
    text = text.replace('📐', '📐!');
    const offset = text.indexOf('return ') + 'return '.length;
    // re-sync first: the cache then equals a full encoding of the text, as the CLI's fresh one is
    const rs = (await s.conn.sendRequest('pie/resync', { textDocument: { uri } })) as { ms: number; tokensEncoded: number };
    assert.ok(rs.tokensEncoded > 40 && rs.ms > 0, JSON.stringify(rs));
    const held = ((await s.conn.sendRequest('pie/state', { textDocument: { uri } })) as PieState).documents;
    assert.deepEqual(held, [{ uri, version: 3, length: text.length, cached: true }], 'the edited text, as long as it is here');
    const after = await s.complete(uri, position(text, offset).line, position(text, offset).character);
    assert.equal(after.items[0]?.insertText ?? '', cliCompletion(text, offset));

    // cancellation: a completion queued behind the re-sync of a long document and cancelled at once is answered
    // RequestCancelled
    const long = 'file:///work/long.py';
    s.open(long, (BEFORE + '1\n' + AFTER).repeat(30));
    const resync = s.conn.sendRequest('pie/resync', { textDocument: { uri: long } });
    const cts = new CancellationTokenSource();
    const cancelled = s.complete(uri, 5, 11, cts);
    await new Promise((r) => setTimeout(r, 20));
    cts.cancel();
    await assert.rejects(cancelled, (e: { code?: number }) => e.code === -32800);
    assert.ok(((await resync) as { tokensEncoded: number }).tokensEncoded > 900);
    await s.conn.sendNotification('textDocument/didClose', { textDocument: { uri: long } });
    // the engine goes on: the same completion again
    assert.equal((await s.complete(uri, position(text, offset).line, position(text, offset).character)).items[0]?.insertText ?? '', cliCompletion(text, offset));

    const state = (await s.conn.sendRequest('pie/state', { textDocument: { uri } })) as PieState;
    assert.equal(state.host, 'node');
    assert.equal(state.engine.type, 'ready');
    assert.deepEqual(state.documents, [{ uri, version: 3, length: text.length, cached: true }]);
    assert.ok(state.cache && state.cache.rows.length === rs.tokensEncoded && state.cache.stale === 0, JSON.stringify(state.cache?.plan));
    assert.ok(state.last && state.last.firstTokenMs > 0);

    // accepting: the client inserts the item, then runs its command (workspace/executeCommand); the server took the
    // insertion as the accept
    const end = position(text, text.length);
    const offer = await s.complete(uri, end.line, end.character);
    const item = offer.items[0] as { insertText: string; command: { command: string; arguments: unknown[] } };
    assert.equal(item.command.command, 'pie.lsp.accepted');
    await s.conn.sendNotification('textDocument/didChange', { textDocument: { uri, version: 4 }, contentChanges: [{ range: { start: end, end }, text: item.insertText }] });
    await s.conn.sendRequest('workspace/executeCommand', { command: item.command.command, arguments: item.command.arguments });
    assert.deepEqual(((await s.conn.sendRequest('pie/state', {})) as PieState).acceptances, { matched: 1, unmatched: 0 });

    // closing frees the document: a completion for it answers nothing
    await s.conn.sendNotification('textDocument/didClose', { textDocument: { uri } });
    assert.deepEqual((await s.complete(uri, 0, 0)).items, []);
    assert.deepEqual(((await s.conn.sendRequest('pie/state', {})) as PieState).documents, []);
  } finally {
    await s.stop();
  }
});

test('pie serve: a lost device is re-created, the documents re-opened and re-encoded, and completions are the same', { timeout: 300_000 }, async () => {
  const s = await start(['--model', model]);
  try {
    await s.waitEngine((m) => m.type === 'ready', 'ready');
    const uri = 'file:///work/loss.py';
    const text = BEFORE + AFTER;
    s.open(uri, text);
    const before = await s.complete(uri, 4, 11);
    await s.conn.sendRequest('pie/loseDevice');
    const lost = await s.waitEngine((m) => m.type === 'unavailable', 'the loss');
    assert.ok(lost.type === 'unavailable' && lost.reason === 'device-lost' && /restarting the engine/.test(lost.message), JSON.stringify(lost));
    const again = (await s.waitEngine((m) => m.type === 'ready' && s.engine.indexOf(m) > s.engine.indexOf(lost), 'ready again')) as Extract<EngineMessage, { type: 'ready' }>;
    assert.deepEqual(again.restored, [{ uri, version: 1 }]);
    assert.equal(s.engine.filter((m) => m.type === 'unavailable').length, 1, 'said once');
    const state = (await s.conn.sendRequest('pie/state', { textDocument: { uri } })) as PieState;
    assert.deepEqual(state.documents, [{ uri, version: 1, length: text.length, cached: true }], 're-encoded on the new device');
    assert.equal((await s.complete(uri, 4, 11)).items[0]?.insertText, before.items[0]?.insertText);
  } finally {
    await s.stop();
  }
});

test('pie serve: a malformed model is reported (kind, message, window/showMessage) and the server keeps answering', { timeout: 120_000 }, async () => {
  const bad = join(dir, 'truncated.gguf');
  writeFileSync(bad, readFileSync(model).subarray(0, 4096));
  const s = await start([], { model: bad });
  try {
    const m = await s.waitEngine((e) => e.type === 'unavailable' || e.type === 'ready', 'unavailable');
    assert.ok(m.type === 'unavailable' && m.reason === 'model-unreadable', JSON.stringify(m));
    assert.match(m.message, /truncated\.gguf could not be loaded/);
    assert.ok(s.shown.some((x) => x.type === 1 && x.message.includes('truncated.gguf')), JSON.stringify(s.shown));
    s.open('file:///work/x.py', 'x = 1\n');
    assert.deepEqual((await s.complete('file:///work/x.py', 1, 0)).items, []);
    assert.equal(((await s.conn.sendRequest('pie/state', {})) as PieState).engine.type, 'unavailable');
  } finally {
    await s.stop();
  }
});

test('pie serve: a killed server is gone at once, and a new one serves the same completion', { timeout: 300_000 }, async () => {
  const text = BEFORE + AFTER;
  const uri = 'file:///work/kill.py';
  const one = await start(['--model', model]);
  await one.waitEngine((m) => m.type === 'ready', 'ready');
  one.open(uri, text);
  const before = await one.complete(uri, 4, 11);
  one.proc.kill('SIGKILL');
  assert.equal(await one.exited, null);
  one.conn.dispose();
  const two = await start(['--model', model]);
  try {
    await two.waitEngine((m) => m.type === 'ready', 'ready');
    two.open(uri, text);
    assert.equal((await two.complete(uri, 4, 11)).items[0]?.insertText, before.items[0]?.insertText);
  } finally {
    await two.stop();
  }
});

test('a completion asked right after initialized (the engine still loading) waits for it and gets its items', { timeout: 300_000 }, async () => {
  const s = await start(['--model', model]);
  try {
    const uri = 'file:///work/early.py';
    const text = BEFORE + AFTER;
    s.open(uri, text);
    const early = await s.complete(uri, 4, 11);
    assert.ok(!s.engine.some((m) => m.type === 'unavailable'), JSON.stringify(s.engine));
    assert.equal(early.items.length, 1, JSON.stringify(early));
    assert.equal(early.items[0]!.insertText, cliCompletion(text, BEFORE.length));
  } finally {
    await s.stop();
  }
});

test('a didChange that arrives while the engine completes: the answer for the old text is not placed in the new one', { timeout: 300_000 }, async () => {
  const s = await start(['--model', model]);
  try {
    await s.waitEngine((m) => m.type === 'ready', 'ready');
    const uri = 'file:///work/moved.py';
    const text = BEFORE + AFTER;
    s.open(uri, text);
    // the completion waits behind the re-sync of a long document, and the text changes before it runs
    const long = 'file:///work/long2.py';
    s.open(long, (BEFORE + '1\n' + AFTER).repeat(30));
    const resync = s.conn.sendRequest('pie/resync', { textDocument: { uri: long } });
    const asked = s.complete(uri, 4, 11);
    await s.conn.sendNotification('textDocument/didChange', {
      textDocument: { uri, version: 2 },
      contentChanges: [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, text: '# a new first line\n' }],
    });
    await resync;
    const answer = await asked;
    // before: one item at line 4, which is now the line above the one it was made for
    assert.deepEqual(answer.items, []);
    // the same place in the new text is completed as the CLI completes it
    const now = '# a new first line\n' + text;
    assert.equal((await s.complete(uri, 5, 11)).items[0]?.insertText ?? '', cliCompletion(now, now.indexOf('return ') + 'return '.length));
  } finally {
    await s.stop();
  }
});
