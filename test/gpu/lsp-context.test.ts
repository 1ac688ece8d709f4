// Workspace context through the language server (`pie serve --stdio`, dist/cli.js, built by `npm run build`), driven
// over stdio by a real LSP client (vscode-jsonrpc, as test/gpu/lsp.test.ts): the server's own context (documents of the
// workspace folder, their edits) reaches the prompt with the other file's workspace-relative path; a client's
// pie/context replaces it; contextTokens 0 turns it off; malformed pie/context notifications are ignored.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_MODEL, KNOWN_MODELS, projectRoot } from '../../src/cli/models.js';
import type { ContextChunk } from '../../src/context/types.js';
import type { PieAnswer, PieState } from '../../src/lsp/server.js';
import type { ContextView, EngineMessage } from '../../src/protocol/messages.js';
import { type ServerProcess, spawnServer } from '../helpers/lsp-process.js';

const model = join(projectRoot(), KNOWN_MODELS[DEFAULT_MODEL]!.bundled!);

const ROOT = 'file:///work/proj';
const MAIN = `${ROOT}/main.py`;
const OTHER = `${ROOT}/util/geometry.py`;
const OUTSIDE = 'file:///elsewhere/notes.py';
const MAIN_TEXT = 'from util.geometry import area, perimeter\n\n\ndef report(w, h):\n    return ';
const OTHER_TEXT = 'def area(width, height):\n    return width * height\n';
const PERIMETER = '\n\ndef perimeter(width, height):\n    return 2 * (width + height)\n';
/** The chunk a client sends in place of the server's own. */
const UNITS: ContextChunk = { id: 'lib/units.py:0', path: 'lib/units.py', startLine: 0, endLine: 2, text: 'METERS_PER_FOOT = 0.3048\nFEET_PER_METER = 1 / METERS_PER_FOOT', source: 'visible', score: 1.5 };

interface Server extends ServerProcess {
  /** window/logMessage texts so far. */
  logs: string[];
  /** pie/engine notifications so far. */
  engine: EngineMessage[];
  open(uri: string, text: string): Promise<void>;
  /** Inserts `text` at the end of the document (line, character) as version `version`. */
  insert(uri: string, version: number, line: number, character: number, text: string): Promise<void>;
  /** A completion asked as our own client asks (a `pie` field), so that the answer carries the engine's figures. */
  complete(uri: string, line: number, character: number): Promise<{ items: { insertText: string }[]; pie: PieAnswer }>;
  state(uri: string): Promise<PieState>;
}

async function start(init: Record<string, unknown> = {}): Promise<Server> {
  const server = spawnServer(['--model', model]);
  const conn = server.conn;
  const logs: string[] = [];
  const engine: EngineMessage[] = [];
  let ready: (m: EngineMessage) => void;
  const booted = new Promise<EngineMessage>((r) => (ready = r));
  conn.onNotification('pie/engine', (m: EngineMessage) => {
    engine.push(m);
    if (m.type === 'ready' || m.type === 'unavailable') ready(m);
  });
  conn.onRequest('window/workDoneProgress/create', () => null);
  conn.onNotification('$/progress', () => undefined);
  conn.onNotification('window/showMessage', () => undefined);
  conn.onNotification('window/logMessage', (m: { message: string }) => void logs.push(m.message));
  conn.onError(() => undefined);
  conn.listen();
  const result = (await conn.sendRequest('initialize', {
    processId: process.pid,
    rootUri: ROOT,
    workspaceFolders: [{ uri: ROOT, name: 'proj' }],
    capabilities: { window: { workDoneProgress: true }, textDocument: { inlineCompletion: {} }, workspace: { workspaceFolders: true } },
    initializationOptions: { maxTokens: 8, maxLines: 2, ...init },
  })) as { capabilities: { workspace?: unknown } };
  assert.deepEqual(result.capabilities.workspace, { workspaceFolders: { supported: true, changeNotifications: true } });
  await conn.sendNotification('initialized', {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  const m = await Promise.race([booted, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no ready in 120 s; stderr: ${server.stderr().slice(-2000)}`)), 120_000)))]).finally(() => clearTimeout(timer));
  assert.equal(m.type, 'ready', JSON.stringify(m));
  return {
    ...server,
    logs,
    engine,
    open: (uri, text) => conn.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'python', version: 1, text } }),
    insert: (uri, version, line, character, text) =>
      conn.sendNotification('textDocument/didChange', { textDocument: { uri, version }, contentChanges: [{ range: { start: { line, character }, end: { line, character } }, text }] }),
    complete: (uri, line, character) => conn.sendRequest('textDocument/inlineCompletion', { textDocument: { uri }, position: { line, character }, context: { triggerKind: 2 }, pie: {} }),
    state: (uri) => conn.sendRequest('pie/state', { textDocument: { uri } }),
  };
}

/** The context chunks a completion's prompt held (the engine's figures in the answer), after checking it answered. */
function promptChunks(answer: { pie: PieAnswer }): ContextView[] {
  assert.equal(answer.pie.type, 'completion', JSON.stringify(answer.pie));
  const stats = (answer.pie as Extract<PieAnswer, { type: 'completion' }>).stats;
  const chunks = stats.context.chunks;
  assert.equal(stats.context.tokens, chunks.reduce((n, c) => n + c.tokens, 0));
  return chunks;
}

const mainEnd = { line: 4, character: 11 };
const lines = (text: string) => text.split('\n').length;

test('pie serve: the server gathers context from the workspace documents and their edits; a client pie/context replaces it; malformed ones are ignored', { timeout: 300_000 }, async () => {
  const s = await start();
  try {
    await s.open(MAIN, MAIN_TEXT);
    await s.open(OTHER, OTHER_TEXT);
    await s.open(OUTSIDE, 'def notes():\n    pass\n');
    // the other document is edited (a function added at its end), and so is a file outside the workspace folder
    await s.insert(OTHER, 2, 2, 0, PERIMETER);
    await s.insert(OUTSIDE, 2, 2, 0, 'def perimeter_notes():\n    pass\n');
    const other = OTHER_TEXT + PERIMETER;

    // (a) the completion in main.py saw the other document's chunk, named by its workspace-relative path, with the
    // edit in it; nothing of the file outside the folder, nothing of main.py itself
    const a = promptChunks(await s.complete(MAIN, mainEnd.line, mainEnd.character));
    assert.deepEqual(a.map((c) => [c.id, c.path, c.startLine, c.endLine]), [['util/geometry.py:0', 'util/geometry.py', 0, lines(other)]]);
    assert.ok(a[0]!.tokens > 20, JSON.stringify(a));
    let st = await s.state(MAIN);
    assert.equal(st.context?.from, 'server');
    assert.equal(st.context?.path, 'main.py');
    assert.deepEqual(st.context?.chunks.map((c) => [c.path, c.text]), [['util/geometry.py', other]]);
    assert.deepEqual(st.cache?.context.map((c) => c.id), ['util/geometry.py:0'], 'the cache the engine panel draws holds it too');
    assert.ok(st.cache!.fileStart >= a[0]!.tokens, `the file's rows come after the chunk's: ${st.cache!.fileStart}`);

    // a document outside every folder gets context (named by its file name) but never becomes context
    const out = promptChunks(await s.complete(OUTSIDE, 2, 0));
    assert.deepEqual(out.map((c) => c.path).sort(), ['main.py', 'util/geometry.py']);
    assert.equal((await s.state(OUTSIDE)).context?.path, 'notes.py');

    // a closed document's recent edits stay context
    await s.conn.sendNotification('textDocument/didClose', { textDocument: { uri: OTHER } });
    assert.deepEqual(promptChunks(await s.complete(MAIN, mainEnd.line, mainEnd.character)).map((c) => c.id), ['util/geometry.py:0']);
    await s.open(OTHER, other);

    // (b) the client's pie/context replaces the server's own gathering for that document: the prompt holds exactly the
    // client's chunk, also after the server's own record changed (another edit of the other document)
    await s.conn.sendNotification('pie/context', { textDocument: { uri: MAIN }, path: 'main.py', chunks: [UNITS] });
    await s.insert(OTHER, 2, lines(other) - 1, 0, 'def volume(w, h, d):\n    return w * h * d\n');
    const b = promptChunks(await s.complete(MAIN, mainEnd.line, mainEnd.character));
    assert.deepEqual(b.map((c) => [c.id, c.path, c.startLine, c.endLine]), [[UNITS.id, UNITS.path, 0, 2]]);
    st = await s.state(MAIN);
    assert.equal(st.context?.from, 'client');
    assert.deepEqual(st.context?.chunks, [UNITS]);
    assert.deepEqual(st.cache?.context.map((c) => c.id), [UNITS.id]);
    // the client's chunks are only for the document it named: main.py's neighbour still gathers the server's own
    await s.open(`${ROOT}/util/draw.py`, 'from util.geometry import volume\n');
    assert.deepEqual(promptChunks(await s.complete(`${ROOT}/util/draw.py`, 1, 0)).map((c) => c.path).sort(), ['main.py', 'util/geometry.py']);
    // the client sends again, with no chunks: the prompt holds none (the server's own do not come back)
    await s.conn.sendNotification('pie/context', { textDocument: { uri: MAIN }, path: 'main.py', chunks: [] });
    assert.deepEqual(promptChunks(await s.complete(MAIN, mainEnd.line, mainEnd.character)), []);
    assert.deepEqual((await s.state(MAIN)).cache?.context, []);

    // (d) malformed pie/context notifications are logged and ignored: the client's last good context stays, and
    // completions go on
    await s.conn.sendNotification('pie/context', { textDocument: { uri: MAIN }, path: 'main.py', chunks: [UNITS] });
    const logged = s.logs.length;
    const bad: unknown[] = [
      null,
      {},
      { textDocument: { uri: MAIN }, chunks: [UNITS] },
      { textDocument: { uri: MAIN }, path: 'main.py', chunks: 'units' },
      { textDocument: { uri: MAIN }, path: 'main.py', chunks: [{ ...UNITS, startLine: 'zero' }] },
      { textDocument: { uri: MAIN }, path: 'main.py', chunks: [UNITS, { ...UNITS, id: 'x:0', text: 42 }] },
      { textDocument: { uri: MAIN }, path: 'main.py', chunks: [{ ...UNITS, id: 'y:0', endLine: -1 }] },
      { textDocument: { uri: MAIN }, path: 'main.py', chunks: [null] },
      { textDocument: 'main.py', path: 'main.py', chunks: [] },
    ];
    for (const p of bad) await s.conn.sendNotification('pie/context', p);
    const d = await s.complete(MAIN, mainEnd.line, mainEnd.character);
    assert.deepEqual(promptChunks(d).map((c) => c.id), [UNITS.id], 'the last good context stays');
    const warnings = s.logs.slice(logged).filter((l) => l.startsWith('pie/context ignored'));
    assert.equal(warnings.length, bad.length, s.logs.slice(logged).join('\n'));
    assert.ok(warnings.some((w) => /chunks\[1\]: text/.test(w)), warnings.join('\n'));
    assert.ok(s.proc.exitCode === null, 'the server is alive');

    // a second workspace folder: paths then start with their folder's name (as VS Code's asRelativePath writes them)
    await s.conn.sendNotification('workspace/didChangeWorkspaceFolders', { event: { added: [{ uri: 'file:///work/lib', name: 'lib' }], removed: [] } });
    assert.deepEqual(promptChunks(await s.complete(`${ROOT}/util/draw.py`, 1, 0)).map((c) => c.path).sort(), ['proj/main.py', 'proj/util/geometry.py']);
    assert.equal((await s.state(`${ROOT}/util/draw.py`)).context?.path, 'proj/util/draw.py');
  } finally {
    await s.stop();
  }
});

test('pie serve: contextTokens 0 sends no context (not even a client\'s) until the setting turns it on; a lost device gets it again', { timeout: 300_000 }, async () => {
  const s = await start({ contextTokens: 0 });
  try {
    await s.open(MAIN, MAIN_TEXT);
    await s.open(OTHER, OTHER_TEXT);
    await s.insert(OTHER, 2, 2, 0, PERIMETER);
    // (c) no chunks: neither the server's own nor a client's
    assert.deepEqual(promptChunks(await s.complete(MAIN, mainEnd.line, mainEnd.character)), []);
    assert.deepEqual((await s.state(MAIN)).context, { from: 'server', path: 'main.py', chunks: [] });
    await s.conn.sendNotification('pie/context', { textDocument: { uri: MAIN }, path: 'main.py', chunks: [UNITS] });
    assert.deepEqual(promptChunks(await s.complete(MAIN, mainEnd.line, mainEnd.character)), []);
    assert.deepEqual((await s.state(MAIN)).context, { from: 'client', path: 'main.py', chunks: [] }, 'the server sent the engine none of it');
    // turned on by workspace/didChangeConfiguration: the client's chunk (kept) is what main.py's prompt holds, and the
    // other document (noted again when the switch turned) is what a third document's prompt holds
    await s.conn.sendNotification('workspace/didChangeConfiguration', { settings: { pie: { contextTokens: 1024 } } });
    assert.deepEqual(promptChunks(await s.complete(MAIN, mainEnd.line, mainEnd.character)).map((c) => c.id), [UNITS.id]);
    await s.open(`${ROOT}/app.py`, 'import main\n');
    assert.deepEqual(promptChunks(await s.complete(`${ROOT}/app.py`, 1, 0)).map((c) => c.path).sort(), ['main.py', 'util/geometry.py']);
    // a lost device: the new engine holds no context, and the server sends it again with the next completion
    await s.conn.sendRequest('pie/loseDevice');
    const t0 = Date.now();
    while (s.engine.filter((m) => m.type === 'ready').length < 2 && Date.now() - t0 < 120_000) await new Promise((r) => setTimeout(r, 100));
    assert.equal(s.engine.filter((m) => m.type === 'ready').length, 2, JSON.stringify(s.engine.map((m) => m.type)));
    assert.deepEqual(promptChunks(await s.complete(`${ROOT}/app.py`, 1, 0)).map((c) => c.path).sort(), ['main.py', 'util/geometry.py']);
    assert.deepEqual(promptChunks(await s.complete(MAIN, mainEnd.line, mainEnd.character)).map((c) => c.id), [UNITS.id]);
    // and off again
    await s.conn.sendNotification('workspace/didChangeConfiguration', { settings: { pie: { contextTokens: 0 } } });
    assert.deepEqual(promptChunks(await s.complete(`${ROOT}/app.py`, 1, 0)), []);
    assert.deepEqual(promptChunks(await s.complete(MAIN, mainEnd.line, mainEnd.character)), []);
  } finally {
    await s.stop();
  }
});

test('pie serve: clientContext: true gathers nothing of the server\'s own; the client\'s pie/context is the context', { timeout: 300_000 }, async () => {
  const s = await start({ clientContext: true });
  try {
    await s.open(MAIN, MAIN_TEXT);
    await s.open(OTHER, OTHER_TEXT);
    await s.insert(OTHER, 2, 2, 0, PERIMETER);
    assert.deepEqual(promptChunks(await s.complete(MAIN, mainEnd.line, mainEnd.character)), [], 'no pie/context yet: none');
    await s.conn.sendNotification('pie/context', { textDocument: { uri: MAIN }, path: 'main.py', chunks: [UNITS] });
    assert.deepEqual(promptChunks(await s.complete(MAIN, mainEnd.line, mainEnd.character)).map((c) => c.id), [UNITS.id]);
    assert.deepEqual(promptChunks(await s.complete(OTHER, 0, 0)), [], 'main.py, opened, is not context for the other either');
  } finally {
    await s.stop();
  }
});
