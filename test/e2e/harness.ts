// A real VS Code for end-to-end tests: code-server (VS Code served to a browser) with every bit of its state in a
// temporary folder, the extension installed from its .vsix, and Debian's Chromium driven by playwright-core.
//
//   const vs = await VsCode.start({ name: 'engine', vsix, workspace: 'test/e2e/workspace', settings: {...} });
//   try { await vs.runCommand('PIE: Show engine'); ... } finally { await vs.close(); }
//
// Every wait is on a condition with a deadline, never a fixed sleep: on this 2-core machine the workbench takes 7-12 s
// to load and an extension up to 30 s to activate. See docs/e2e.md for the timings and the gotchas.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { chromium, type Browser, type Frame, type Page } from 'playwright-core';
import { DEFAULT_MODEL } from '../../src/cli/models.js';
import { fixtureModel } from '../helpers/fixtures.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RESULTS = join(ROOT, 'test-results', 'e2e');
export const CHROMIUM = process.env.PIE_CHROMIUM ?? '/usr/bin/chromium';

/** Which WebGPU adapter Chromium offers the page: SwiftShader (Vulkan on the CPU), or OpenGL ES through ANGLE. */
export type WebGpuFlags = 'swiftshader' | 'gles' | 'off';

export interface VsCodeOptions {
  /** Names the logs and screenshots in test-results/e2e/. */
  name: string;
  /** The extension package to install (`npm run package` writes pie-complete-<version>.vsix). */
  vsix: string;
  /** A folder to open; copied into the temporary state first unless `copyWorkspace` is false. */
  workspace: string;
  copyWorkspace?: boolean;
  /** User settings (settings.json), over the harness's quiet defaults (BASE_SETTINGS). */
  settings?: Record<string, unknown>;
  webgpu?: WebGpuFlags;
  /** Keep the temporary state folder after close() (also with PIE_E2E_KEEP=1). */
  keepState?: boolean;
  /** Progress lines (timings, paths); default: none. */
  log?: (line: string) => void;
}

/** Settings that keep the workbench still and deterministic: no welcome page, no marketplace, no typing helpers. */
export const BASE_SETTINGS: Record<string, unknown> = {
  'workbench.startupEditor': 'none',
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'workbench.editor.enablePreview': false,
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'security.workspace.trust.enabled': false,
  'git.enabled': false,
  // What typeText() types is what lands in the document: no auto-closing, auto-indent or suggestion widget.
  'editor.autoClosingBrackets': 'never',
  'editor.autoClosingQuotes': 'never',
  'editor.autoClosingOvertype': 'never',
  'editor.autoSurround': 'never',
  'editor.autoIndent': 'none',
  'editor.formatOnType': false,
  'editor.quickSuggestions': { other: 'off', comments: 'off', strings: 'off' },
  'editor.suggestOnTriggerCharacters': false,
  'editor.wordBasedSuggestions': 'off',
  'editor.parameterHints.enabled': false,
  'editor.acceptSuggestionOnEnter': 'off',
  'editor.inlineSuggest.enabled': true,
  'editor.minimap.enabled': false,
  'files.autoSave': 'off',
};

const BASE_CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export function chromiumArgs(webgpu: WebGpuFlags): string[] {
  if (webgpu === 'off') return [...BASE_CHROMIUM_ARGS];
  if (webgpu === 'gles') return [...BASE_CHROMIUM_ARGS, '--enable-unsafe-webgpu', '--ignore-gpu-blocklist', '--use-webgpu-adapter=opengles', '--use-angle=vulkan'];
  return [...BASE_CHROMIUM_ARGS, '--enable-unsafe-webgpu'];
}

/** The code-server launcher (its entry.js) from `scripts/code-server.sh --check`; throws naming what is missing. */
export function codeServerEntry(): string {
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'code-server.sh'), '--check'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr.trim() || 'code-server is not installed (run: bash scripts/code-server.sh)');
  return r.stdout.trim().split('\n').pop()!;
}

/** Packs the extension as a user gets it (`npm run package`: build, then vsce) and returns the .vsix path. */
export function packageVsix(): string {
  const r = spawnSync('npm', ['run', '--silent', 'package'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm run package failed:\n${r.stdout}\n${r.stderr}`);
  const m = /Packaged: (\S+\.vsix)/.exec(r.stdout + r.stderr);
  if (!m) throw new Error(`npm run package did not say where the .vsix went:\n${r.stdout}\n${r.stderr}`);
  return m[1]!;
}

/**
 * Types `words` key by key (30 ms apart) at the cursor and measures, on the page's clock, each last key to the first
 * ghost text drawn for it and to the whole completion, which completions the engine answered (and its figures, from
 * the status bar's tooltip), then types three characters of a ghost text through. `status` matches the status bar's
 * text after a completion. Needs startLatencyProbe() first. The summary is what latency*.json hold (docs/extension.md).
 */
export async function typingLatency(v: VsCode, words: string[], status: RegExp, host: string) {
  const tooltipOf = () => v.statusBarTooltip(status);
  /**
   * Types `text` key by key and waits for the ghost text drawn for it: the first non-empty one (or one that `ok` takes)
   * drawn with the editor showing all of the typed text (LatencyProbe's len), and the last one before it stays the same
   * for 1.5 s (the rest of the completion arrived). Times from the last key down, on the page's clock.
   */
  const typeAndWatch = async (text: string, ok: (g: string) => boolean = (g) => g.trim() !== '') => {
    const len0 = (await v.latencyProbe()).ghosts.at(-1)!.len;
    const want = len0 + text.replace(/\n/g, '').length;
    await v.typeText(text, 30);
    const key = (await v.latencyProbe()).keys.at(-1)!;
    const first = await waitFor(`ghost text after typing ${JSON.stringify(text)}`, async () => (await v.latencyProbe()).ghosts.find((x) => x.t >= key.t && x.len === want && ok(x.text)) ?? null, { timeout: 60_000, every: 50 });
    const last = await waitFor(`the ghost text to settle after ${JSON.stringify(text)}`, async () => {
      const p = await v.latencyProbe();
      const l = p.ghosts.filter((x) => x.t >= first.t).at(-1)!;
      return (await v.page.evaluate(() => performance.now())) - l.t >= 1500 ? l : null;
    }, { timeout: 60_000, every: 100 });
    return { ms: Number((first.t - key.t).toFixed(1)), ghost: first.text, fullMs: Number((last.t - key.t).toFixed(1)), full: last.text };
  };
  const engineCount = (tip: string) => Number(/Shown so far: (\d+) from the engine/.exec(tip)?.[1] ?? 0);
  let engineBefore = engineCount(await tooltipOf());
  const rows: { word: string; ms: number; ghost: string; fullMs: number; full: string; engine: boolean; firstTokenMs: number | null; breakdown: Record<string, number> | null }[] = [];
  for (const word of words) {
    const g = await typeAndWatch(word);
    const tip = await tooltipOf();
    // the engine answered for this word when its count went up; its figures are in the tooltip (under a cache answer too)
    const engine = engineCount(tip) > engineBefore;
    engineBefore = engineCount(tip);
    const ft = engine ? /engine ([\d.]+) ms to first token/.exec(tip) : null;
    const parts = engine ? /Breakdown \(ms\): (.*)$/m.exec(tip)?.[1] : undefined;
    const breakdown = parts ? Object.fromEntries(parts.split(' · ').map((p) => [p.replace(/ [-\d.]+$/, ''), Number(/([-\d.]+)$/.exec(p)![1])])) : null;
    rows.push({ word, ...g, engine, firstTokenMs: ft ? Number(ft[1]) : null, breakdown });
  }
  // Type-through: the ghost text's own characters, one key at a time; the rest must be drawn after each.
  const through: { key: string; ms: number }[] = [];
  let ghost = await v.waitForGhostText(60_000);
  for (let i = 0; i < 3 && ghost.length > 1 && ghost[0] !== '\n'; i++) {
    const rest = ghost.slice(1);
    const g = await typeAndWatch(ghost[0]!, (x) => x === rest);
    through.push({ key: ghost[0]!, ms: g.ms });
    ghost = g.full;
  }
  const tip = await tooltipOf();
  const typeThroughHits = Number(/(\d+) typed through/.exec(tip)?.[1] ?? NaN);
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
  const quantile = (xs: number[], q: number) => sorted(xs)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
  const engine = rows.map((r) => r.firstTokenMs).filter((x): x is number => x !== null);
  const summary = {
    debounceMs: 0, // pie.debounceMs's default (VS Code's own 50 ms come before every request)
    editToGhostMs: { median: quantile(rows.map((r) => r.ms), 0.5), p90: quantile(rows.map((r) => r.ms), 0.9), count: rows.length },
    // to the whole completion (the rest of the line and the other lines, after the first ghost text)
    editToFullMs: { median: quantile(rows.map((r) => r.fullMs), 0.5), p90: quantile(rows.map((r) => r.fullMs), 0.9) },
    engineFirstTokenMs: { median: engine.length ? quantile(engine, 0.5) : null },
    typeThroughHits,
    typeThroughMs: { median: through.length ? quantile(through.map((x) => x.ms), 0.5) : null, max: through.length ? Math.max(...through.map((x) => x.ms)) : null, count: through.length },
    host,
    rows,
    through,
  };
  return { summary, rows, through, typeThroughHits, engine, tip };
}

/**
 * "PIE: Simulate GPU device loss (test hook)", then: one warning that says the engine restarts, the status bar back to
 * `ready` (matched by `ready`), and ghost text for `typed` at the end of hello.py. Returns the warning and the ghost text.
 */
export async function deviceLossRecovers(v: VsCode, ready: RegExp, typed: string): Promise<{ note: string; ghost: string }> {
  await v.runCommand('PIE: Simulate GPU device loss (test hook)');
  const lost = (n: Notification) => /GPU device was lost/.test(n.message);
  const note = await waitFor('the device-loss warning', async () => (await v.notifications()).find(lost), { timeout: 60_000, every: 500 });
  if (note.severity !== 'warning' || !/restarting the engine/.test(note.message)) throw new Error(`unexpected device-loss notification: ${note.severity}: ${note.message}`);
  await v.statusBarText(ready, 120_000);
  const said = (await v.notifications()).filter(lost);
  if (said.length !== 1) throw new Error(`the loss was said ${said.length} times, not once: ${JSON.stringify(said)}`);
  await v.openFile('hello.py');
  await v.focusEditor();
  await v.gotoEnd();
  await v.typeText(typed);
  const ghost = await v.waitForGhostText(90_000);
  await v.press('Escape');
  return { note: `${note.severity}: ${note.message}`, ghost };
}

export interface WaitOptions {
  timeout?: number;
  /** Poll interval in ms. */
  every?: number;
}

/** Thrown by a waitFor() probe to stop waiting at once (other errors only count as "not yet"). */
export class StopWaiting extends Error {}

/**
 * Polls `probe` until it returns something other than undefined/null/false; throws, naming `what`, with the last value
 * or error when the time is up, or at once when the probe throws StopWaiting.
 */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false> | T | undefined | null | false, opts: WaitOptions = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeout ?? 30_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== null && v !== false) return v as T;
      last = v;
    } catch (e) {
      if (e instanceof StopWaiting) throw e;
      last = e instanceof Error ? e.message.split('\n')[0] : e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${opts.timeout ?? 30_000} ms waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, opts.every ?? 100));
  }
}

export interface Notification {
  severity: 'error' | 'warning' | 'info';
  message: string;
  source: string;
}

export interface Timings {
  /** Spawn to "HTTP server listening". */
  serverListeningMs: number;
  /** Spawn to a healthy /healthz. */
  serverHealthyMs: number;
  /** Extension install (code-server --install-extension). */
  installMs: number;
  /** Page navigation to a workbench with its explorer and status bar drawn. */
  workbenchMs: number;
  /** When the page navigation began (epoch ms): activation times are measured from it. */
  navigationStart: number;
}

const live = new Set<VsCode>();
let handlersInstalled = false;
function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // code-server runs in a process group of its own; take it down with us whatever way we go.
  process.on('exit', () => {
    for (const v of live) v.abandon();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      for (const v of live) v.abandon();
      process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
    });
  }
}

/** What startLatencyProbe() records in the page. */
export interface LatencyProbe {
  keys: { t: number; key: string }[];
  ghosts: { t: number; text: string; len: number }[];
}

export class VsCode {
  readonly timings: Timings = { serverListeningMs: 0, serverHealthyMs: 0, installMs: 0, workbenchMs: 0, navigationStart: 0 };
  /** Browser console errors, in order (written to test-results/e2e/<name>-console.log by close()). */
  readonly consoleErrors: string[] = [];
  page!: Page;
  url = '';
  /** The folder opened in the workbench (the copy, unless copyWorkspace is false). */
  workspace = '';
  private browser: Browser | null = null;
  private server: ChildProcess | null = null;
  private serverLog: WriteStream | null = null;
  private closed = false;
  private readonly state: string;
  private readonly log: (line: string) => void;

  private constructor(private readonly opts: VsCodeOptions) {
    this.state = mkdtempSync(join(tmpdir(), `pie-e2e-${opts.name}-`));
    this.log = opts.log ?? (() => {});
  }

  /** Starts code-server, installs the extension, opens Chromium on the workspace; cleans everything up if that fails. */
  static async start(opts: VsCodeOptions): Promise<VsCode> {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (bash scripts/setup-cpu-gpu.sh)`);
    if (!existsSync(opts.vsix)) throw new Error(`${opts.vsix} is missing (npm run package)`);
    const entry = codeServerEntry();
    installExitHandlers();
    const vs = new VsCode(opts);
    live.add(vs);
    try {
      await vs.boot(entry);
      return vs;
    } catch (e) {
      await vs.screenshot('start-failed').catch(() => undefined);
      await vs.close();
      throw e;
    }
  }

  private dirs() {
    const s = this.state;
    return { user: join(s, 'user'), ext: join(s, 'extensions'), home: join(s, 'home'), tmp: join(s, 'tmp'), xdg: join(s, 'xdg'), ws: join(s, 'workspace') };
  }

  private env(): NodeJS.ProcessEnv {
    const d = this.dirs();
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) {
      // Nothing of an outer VS Code, of node's test runner or of a TypeScript loader reaches code-server.
      if (k.startsWith('VSCODE_') || k === 'NODE_OPTIONS' || k === 'NODE_TEST_CONTEXT' || k === 'ELECTRON_RUN_AS_NODE') continue;
      env[k] = v;
    }
    // the extension's test hooks ("PIE: Simulate GPU device loss"), and the project's lavapipe for the Node host
    const lavapipe = join(ROOT, '.cache', 'lavapipe', 'lvp_icd.json');
    if (existsSync(lavapipe)) env.PIE_LAVAPIPE_ICD ??= lavapipe;
    Object.assign(env, {
      PIE_TEST_HOOKS: '1',
      HOME: d.home,
      TMPDIR: d.tmp,
      XDG_CONFIG_HOME: join(d.xdg, 'config'),
      XDG_DATA_HOME: join(d.xdg, 'data'),
      XDG_CACHE_HOME: join(d.xdg, 'cache'),
      XDG_STATE_HOME: join(d.xdg, 'state'),
      XDG_RUNTIME_DIR: join(d.xdg, 'runtime'),
    });
    return env;
  }

  private async boot(entry: string): Promise<void> {
    const d = this.dirs();
    for (const p of [d.user, d.ext, d.home, d.tmp, join(d.xdg, 'runtime'), join(d.user, 'User'), RESULTS]) mkdirSync(p, { recursive: true, mode: 0o700 });
    this.log(`state in ${this.state}`);

    // The workspace (a copy, so that tests may edit and save freely).
    if (this.opts.copyWorkspace === false) this.workspace = resolve(this.opts.workspace);
    else {
      this.workspace = join(d.ws, basename(resolve(this.opts.workspace)));
      cpSync(resolve(this.opts.workspace), this.workspace, { recursive: true });
    }

    writeFileSync(join(d.user, 'User', 'settings.json'), JSON.stringify({ ...BASE_SETTINGS, ...this.opts.settings }, null, 2));

    const common = ['--user-data-dir', d.user, '--extensions-dir', d.ext];
    let t = Date.now();
    const inst = spawnSync(process.execPath, [entry, ...common, '--install-extension', resolve(this.opts.vsix), '--force'], { env: this.env(), encoding: 'utf8', timeout: 120_000 });
    this.timings.installMs = Date.now() - t;
    if (inst.status !== 0 || !/successfully installed/.test(inst.stdout + inst.stderr)) {
      throw new Error(`code-server --install-extension ${this.opts.vsix} failed (${inst.status}):\n${inst.stdout}\n${inst.stderr}`);
    }
    this.log(`extension installed in ${this.timings.installMs} ms`);

    t = Date.now();
    this.serverLog = createWriteStream(join(RESULTS, `${this.opts.name}-code-server.log`));
    const server = spawn(
      process.execPath,
      [entry, '--auth', 'none', '--bind-addr', '127.0.0.1:0', ...common, '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override'],
      { env: this.env(), cwd: this.workspace, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.server = server;
    let output = '';
    let exited: string | null = null;
    const onData = (b: Buffer) => {
      output += b.toString();
      if (output.length > 100_000) output = output.slice(-50_000);
      this.serverLog?.write(b);
    };
    server.stdout!.on('data', onData);
    server.stderr!.on('data', onData);
    server.once('exit', (code, sig) => {
      exited = `code-server exited (${code ?? sig})`;
    });
    const base = await waitFor('code-server to listen', () => {
      if (exited) throw new StopWaiting(`${exited}:\n${output.slice(-2000)}`);
      return /HTTP server listening on (http:\/\/\S+?)\/?\s/.exec(output)?.[1];
    }, { timeout: 60_000, every: 50 });
    this.timings.serverListeningMs = Date.now() - t;
    await waitFor('code-server /healthz', async () => {
      if (exited) throw new StopWaiting(`${exited}:\n${output.slice(-2000)}`);
      return (await fetch(`${base}/healthz`)).ok;
    }, { timeout: 60_000, every: 100 });
    this.timings.serverHealthyMs = Date.now() - t;
    this.log(`code-server at ${base}, healthy in ${this.timings.serverHealthyMs} ms`);

    const webgpu = this.opts.webgpu ?? 'swiftshader';
    this.browser = await chromium.launch({ executablePath: CHROMIUM, args: chromiumArgs(webgpu), timeout: 60_000 });
    const context = await this.browser.newContext({ viewport: { width: 1400, height: 1000 } });
    // clipboard access for tests that paste; harmless otherwise.
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    this.page = await context.newPage();
    this.page.on('console', (m) => {
      if (m.type() === 'error') this.consoleErrors.push(m.text());
    });
    this.page.on('pageerror', (e) => this.consoleErrors.push(`pageerror: ${e.message}`));

    t = Date.now();
    this.timings.navigationStart = t;
    this.url = `${base}/?folder=${encodeURIComponent(this.workspace)}`;
    await this.page.goto(this.url, { timeout: 60_000 });
    await this.page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    await this.page.locator('.part.statusbar').waitFor({ timeout: 60_000 });
    await this.page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ timeout: 60_000 });
    this.timings.workbenchMs = Date.now() - t;
    this.log(`workbench loaded in ${this.timings.workbenchMs} ms (WebGPU flags: ${webgpu})`);
  }

  // ---- the editor ----

  /**
   * Opens a workspace file through quick open (Ctrl+P) and waits until its editor has the focus. The absolute path is
   * typed: quick open shows an existing absolute path at once, while a relative name waits for the file search (its
   * first run took 3-15 s here while extensions were activating).
   */
  async openFile(relPath: string, timeout = 30_000): Promise<void> {
    const name = basename(relPath);
    await this.quickInput('Control+P', resolve(this.workspace, relPath), (rows) => rows.findIndex((r) => r.label === name || r.aria.startsWith(`${name},`) || r.aria === name), timeout);
    await waitFor(`an editor on ${relPath}`, () =>
      this.page.evaluate((n) => {
        const tab = document.querySelector('.tabs-container .tab.active');
        const ed = document.querySelector('.editor-instance .monaco-editor.focused');
        return !!ed && !!tab && (tab.getAttribute('aria-label') ?? tab.textContent ?? '').includes(n);
      }, name),
    { timeout });
  }

  /** Gives the active editor the focus (View: Focus First Editor Group). */
  async focusEditor(): Promise<void> {
    await this.page.keyboard.press('Control+1');
    await waitFor('an editor with the focus', () => this.page.locator('.editor-instance .monaco-editor.focused').count(), { timeout: 10_000 });
  }

  /** Types into the focused editor, key by key (a '\n' is Enter). BASE_SETTINGS turns auto-closing and auto-indent off. */
  async typeText(text: string, delayMs = 0): Promise<void> {
    if ((await this.page.locator('.editor-instance .monaco-editor.focused').count()) === 0) await this.focusEditor();
    await this.page.keyboard.type(text, { delay: delayMs });
  }

  /**
   * Types `text` at the end of `relPath` and checks that the document is then exactly what it was plus that text, and
   * still is a second later (nothing else edits it). Throws otherwise.
   */
  async typeAtEndAndCheck(relPath: string, text: string): Promise<void> {
    await this.openFile(relPath);
    await this.gotoEnd();
    const before = await this.editorText();
    await this.typeText(text);
    await this.waitForEditorText((s) => s === before + text);
    await new Promise((r) => setTimeout(r, 1000));
    const after = await this.editorText();
    if (after !== before + text) throw new Error(`${relPath} changed after typing:\n${after}`);
  }

  /** Inserts text into the focused editor as one input event (as a paste or an IME does): one document change. */
  async insertText(text: string): Promise<void> {
    if ((await this.page.locator('.editor-instance .monaco-editor.focused').count()) === 0) await this.focusEditor();
    await this.page.keyboard.insertText(text);
  }

  /** Presses a key or chord, in playwright's names: 'Tab', 'Escape', 'Control+End', 'Shift+ArrowLeft'. */
  async press(key: string): Promise<void> {
    await this.page.keyboard.press(key);
  }

  /** Moves the cursor to the end of the document. */
  async gotoEnd(): Promise<void> {
    await this.press('Control+End');
  }

  /**
   * The text of the focused (else the first visible) editor as drawn: its view lines in order, ghost text left out,
   * non-breaking spaces turned back into spaces. Exact for a document that fits in the editor (1000 px tall, about 45
   * lines); throws for a longer one or a scrolled one rather than return part of it (use savedText() there).
   * Why not select-all + copy: it moves the selection (which the extension sees as a cursor move, and which hides the
   * ghost text) and needs the clipboard. Why not the hidden textarea: it holds only a window around the cursor.
   */
  async editorText(): Promise<string> {
    const r = await this.page.evaluate(() => {
      const ed = document.querySelector('.editor-instance .monaco-editor.focused') ?? document.querySelector('.editor-instance .monaco-editor');
      if (!ed) return { error: 'no editor is open' };
      const lines = Array.from(ed.querySelectorAll<HTMLElement>('.view-lines .view-line')).map((l) => ({ top: parseFloat(l.style.top), el: l }));
      lines.sort((a, b) => a.top - b.top);
      const numbers = Array.from(ed.querySelectorAll<HTMLElement>('.margin-view-overlays .line-numbers')).map((n) => parseInt(n.textContent ?? '', 10)).filter((n) => n > 0);
      const text = lines.map(({ el }) => {
        const copy = el.cloneNode(true) as HTMLElement;
        copy.querySelectorAll('.ghost-text-decoration, .ghost-text-decoration-preview, .ghost-text').forEach((g) => g.remove());
        return (copy.textContent ?? '').replace(/\u00a0/g, ' ');
      });
      const scroll = ed.querySelector<HTMLElement>('.editor-scrollable .scrollbar.vertical .slider');
      const scrolled = !!scroll && scroll.offsetHeight > 0 && getComputedStyle(scroll.parentElement!).visibility !== 'hidden' && parseFloat(scroll.style.top || '0') > 0;
      return { text, numbers, scrolled };
    });
    if ('error' in r) throw new Error(r.error);
    const { text, numbers, scrolled } = r as { text: string[]; numbers: number[]; scrolled: boolean };
    const contiguous = numbers.length === 0 || (Math.min(...numbers) === 1 && Math.max(...numbers) === numbers.length);
    if (scrolled || !contiguous || (numbers.length > 0 && numbers.length !== text.length)) {
      throw new Error(`editorText(): the editor shows only part of the document (lines ${Math.min(...numbers)}-${Math.max(...numbers)}); use savedText()`);
    }
    return text.join('\n');
  }

  /** Waits until editorText() satisfies `ok` (the view draws a frame after each key) and returns it. */
  async waitForEditorText(ok: (text: string) => boolean, timeout = 10_000): Promise<string> {
    let last = '';
    try {
      return await waitFor('the editor text', async () => {
        last = await this.editorText();
        return ok(last) ? last : null;
      }, { timeout, every: 50 });
    } catch (e) {
      throw new Error(`${(e as Error).message}; the editor shows:\n${last}`);
    }
  }

  /** Saves the active editor (Ctrl+S) and returns the file's text as read from disk: exact for any length. */
  async savedText(relPath: string): Promise<string> {
    const { readFileSync, statSync } = await import('node:fs');
    const file = join(this.workspace, relPath);
    const before = existsSync(file) ? statSync(file).mtimeMs : 0;
    await this.press('Control+S');
    await waitFor(`${relPath} to be saved`, () => this.page.locator('.tabs-container .tab.active.dirty').count().then((n) => n === 0 && existsSync(file) && statSync(file).mtimeMs >= before), { timeout: 10_000 });
    return readFileSync(file, 'utf8');
  }

  /** The ghost text drawn right now in the focused editor ('' if none): inline parts, then any extra lines. */
  async ghostText(): Promise<string> {
    await this.installGhostReader();
    return this.page.evaluate(() => (window as unknown as { __pieGhost(): string }).__pieGhost());
  }

  /** Defines window.__pieGhost() in the page (once per page load): the ghost text as ghostText() returns it. */
  private async installGhostReader(): Promise<void> {
    if (await this.page.evaluate(() => typeof (window as unknown as { __pieGhost?: unknown }).__pieGhost === 'function')) return;
    await this.page.evaluate(() => {
      (window as unknown as { __pieGhost(): string }).__pieGhost = () => {
        const ed = document.querySelector('.editor-instance .monaco-editor.focused') ?? document.querySelector('.editor-instance .monaco-editor');
        if (!ed) return '';
        const inline = Array.from(ed.querySelectorAll('.view-lines .ghost-text-decoration, .view-lines .ghost-text-decoration-preview')).map((e) => e.textContent ?? '').join('');
        // Lines after the first are drawn in a view zone below the cursor's line, as .view-line elements (an empty line
        // too). In plain text the zone itself has the class ghost-text; in code, syntax highlighting gives every token
        // of a line its own span with that class (VS Code 1.100): the zones are found from those spans up, and their
        // lines read in order, so that a blank line inside the suggestion is kept.
        const zones: HTMLElement[] = [];
        for (const g of Array.from(ed.querySelectorAll<HTMLElement>('.view-zones .ghost-text'))) {
          let z = g;
          while (z.parentElement && !z.parentElement.classList.contains('view-zones')) z = z.parentElement;
          if (!zones.includes(z)) zones.push(z);
        }
        const extra: string[] = [];
        for (const z of zones) {
          const lines = Array.from(z.querySelectorAll<HTMLElement>('.view-line'));
          if (lines.length === 0) extra.push(...(z.innerText ?? '').split('\n'));
          else extra.push(...lines.map((l) => l.textContent ?? ''));
        }
        return [inline, ...extra].join('\n').replace(/\u00a0/g, ' ').replace(/\n+$/, '');
      };
    });
  }

  /**
   * Starts recording, in the page, every key pressed (keydown, capture) and every change the DOM shows of the ghost text
   * or of the editor's text (a MutationObserver on the workbench), on the page's clock. Each change carries the ghost
   * text and `len`, the characters the editor draws less the inline ghost text: a ghost text drawn with the `len` that
   * the typed text gives is one for the text as typed, not a late drawing of an older one. latencyProbe() reads them.
   */
  async startLatencyProbe(): Promise<void> {
    await this.installGhostReader();
    await this.page.evaluate(() => {
      // (no named inner functions in page code: tsx's esbuild would wrap them in a __name() the page does not have)
      const w = window as unknown as { __pieGhost(): string; __pieState(): { text: string; len: number }; __pieProbe?: LatencyProbe };
      if (w.__pieProbe) return;
      const probe: LatencyProbe = { keys: [], ghosts: [] };
      w.__pieProbe = probe;
      document.addEventListener('keydown', (e) => probe.keys.push({ t: performance.now(), key: e.key }), true);
      w.__pieState = () => {
        const ed = document.querySelector('.editor-instance .monaco-editor.focused') ?? document.querySelector('.editor-instance .monaco-editor');
        const lines = ed?.querySelector('.view-lines')?.textContent?.length ?? 0;
        const inline = Array.from(ed?.querySelectorAll('.view-lines .ghost-text-decoration, .view-lines .ghost-text-decoration-preview') ?? []).reduce((n, e) => n + (e.textContent?.length ?? 0), 0);
        return { text: w.__pieGhost(), len: lines - inline };
      };
      let last = w.__pieState();
      probe.ghosts.push({ t: performance.now(), ...last });
      new MutationObserver(() => {
        const s = w.__pieState();
        if (s.text === last.text && s.len === last.len) return;
        last = s;
        probe.ghosts.push({ t: performance.now(), ...s });
      }).observe(document.querySelector('.monaco-workbench')!, { subtree: true, childList: true, characterData: true });
    });
  }

  async latencyProbe(): Promise<LatencyProbe> {
    return this.page.evaluate(() => (window as unknown as { __pieProbe?: LatencyProbe }).__pieProbe ?? { keys: [], ghosts: [] });
  }

  /**
   * Waits for ghost text (an inline completion) to be drawn and to stay the same for `stableMs` (a suggestion may be
   * replaced by a newer one just after it appears), and returns it.
   */
  async waitForGhostText(timeout = 30_000, stableMs = 300): Promise<string> {
    let seen = '';
    let since = 0;
    return waitFor('ghost text', async () => {
      const g = await this.ghostText();
      if (g !== seen) {
        seen = g;
        since = Date.now();
        return null;
      }
      return g && Date.now() - since >= stableMs ? g : null;
    }, { timeout, every: 50 });
  }

  // ---- the workbench ----

  /** Runs a command by its palette title ('PIE: Show engine') through F1, picking the row with exactly that label. */
  async runCommand(title: string, timeout = 30_000): Promise<void> {
    await this.quickInput('F1', `>${title}`, (rows) => rows.findIndex((r) => r.label === title || r.aria === title || r.aria.startsWith(`${title},`)), timeout);
  }

  /**
   * Opens a quick input with `key`, types `value`, waits for the row that `pick` finds, accepts it and waits for the
   * quick input to close. Starts over when the widget closes or loses its text under us: a focus change elsewhere
   * closes it (an extension revealing a view at startup does; see docs/e2e.md).
   */
  private async quickInput(key: string, value: string, pick: (rows: { label: string; aria: string; focused: boolean }[]) => number, timeout: number): Promise<void> {
    const widget = this.page.locator('.quick-input-widget');
    const input = widget.locator('.quick-input-box input');
    const deadline = Date.now() + timeout;
    let lastRows: string[] = [];
    let lastError = '';
    for (let attempt = 1; Date.now() < deadline; attempt++) {
      try {
        if (await widget.isVisible()) {
          await this.page.keyboard.press('Escape');
          await widget.waitFor({ state: 'hidden', timeout: 5_000 });
        }
        await this.page.keyboard.press(key);
        await input.waitFor({ state: 'visible', timeout: 5_000 });
        await input.fill(value, { timeout: 5_000 });
        const index = await waitFor(`a row for ${JSON.stringify(value)}`, async () => {
          if (!(await widget.isVisible())) throw new StopWaiting('the quick input closed');
          if ((await input.inputValue({ timeout: 1_000 })) !== value) throw new StopWaiting('the quick input lost its text');
          const rows = await widget.locator('.quick-input-list .monaco-list-row').evaluateAll((els) =>
            els.map((e) => ({
              label: (e.querySelector('.label-name')?.textContent ?? '').replace(/\u00a0/g, ' ').trim(),
              aria: e.getAttribute('aria-label') ?? '',
              focused: e.classList.contains('focused'),
              index: Number(e.getAttribute('data-index')),
            })),
          );
          lastRows = rows.map((r) => r.aria || r.label);
          const i = pick(rows);
          return i >= 0 ? { i, focused: rows[i]!.focused, index: rows[i]!.index } : null;
        }, { timeout: Math.max(1000, deadline - Date.now()) });
        if (index.focused) await this.page.keyboard.press('Enter');
        else await widget.locator(`.quick-input-list .monaco-list-row[data-index="${index.index}"]`).click({ timeout: 5_000 });
        await widget.waitFor({ state: 'hidden', timeout: 10_000 });
        return;
      } catch (e) {
        lastError = (e as Error).message.split('\n')[0]!;
        this.log(`quick input ${JSON.stringify(value)}, attempt ${attempt}: ${lastError}`);
        // A closed widget throws at once; anything else already used its time. Either way, go round again.
      }
    }
    throw new Error(`quick input ${JSON.stringify(value)}: no matching row within ${timeout} ms (last: ${lastError}; rows: ${lastRows.slice(0, 8).join(' | ') || 'none'})`);
  }

  /** Accepts the row of an open quick pick (one a command showed) whose label or aria label matches, after typing
   *  `filter` into it (the list draws only the rows in view). */
  async chooseQuickPick(filter: string, match: RegExp, timeout = 30_000): Promise<void> {
    const widget = this.page.locator('.quick-input-widget');
    await widget.waitFor({ state: 'visible', timeout });
    await widget.locator('.quick-input-box input').fill(filter, { timeout: 5_000 });
    let seen: string[] = [];
    const index = await waitFor(`a quick-pick row matching ${match}`, async () => {
      const rows = await widget.locator('.quick-input-list .monaco-list-row').evaluateAll((els) =>
        els.map((e) => ({ text: `${(e.querySelector('.label-name')?.textContent ?? '').replace(/\u00a0/g, ' ').trim()} ${e.getAttribute('aria-label') ?? ''}`, index: Number(e.getAttribute('data-index')) })),
      );
      seen = rows.map((r) => r.text);
      return rows.find((r) => match.test(r.text))?.index ?? null;
    }, { timeout }).catch((e: Error) => {
      throw new Error(`${e.message} (rows: ${seen.slice(0, 12).join(' | ') || 'none'})`);
    });
    await widget.locator(`.quick-input-list .monaco-list-row[data-index="${index}"]`).click({ timeout: 5_000 });
  }

  /** The user settings as they are now in settings.json. */
  userSettings(): Record<string, unknown> {
    return JSON.parse(readFileSync(join(this.dirs().user, 'User', 'settings.json'), 'utf8')) as Record<string, unknown>;
  }

  /**
   * Changes user settings as a user would, so that the workbench and the extension see the change at once (rewriting
   * settings.json on disk does not reach the workbench in code-server): "Preferences: Open User Settings (JSON)", the
   * whole text replaced (one input event), saved, the editor closed. A value of undefined removes the key (back to the
   * default). Waits until the file on disk holds the new settings.
   */
  async setUserSettings(changes: Record<string, unknown>): Promise<void> {
    const next = { ...this.userSettings() };
    for (const [k, v] of Object.entries(changes)) {
      if (v === undefined) delete next[k];
      else next[k] = v;
    }
    const want = JSON.stringify(next);
    if (JSON.stringify(this.userSettings()) === want) return;
    await this.runCommand('Preferences: Open User Settings (JSON)');
    await waitFor('the user settings.json editor', () =>
      this.page.evaluate(() => {
        const tab = document.querySelector('.tabs-container .tab.active');
        return !!document.querySelector('.editor-instance .monaco-editor.focused') && !!tab && (tab.getAttribute('aria-label') ?? tab.textContent ?? '').includes('settings.json');
      }),
    { timeout: 30_000 });
    await this.press('Control+A');
    await this.page.keyboard.insertText(JSON.stringify(next, null, 2));
    await this.press('Control+S');
    await waitFor('the user settings saved', async () => {
      if ((await this.page.locator('.tabs-container .tab.active.dirty').count()) > 0) return false;
      try {
        return JSON.stringify(this.userSettings()) === want;
      } catch {
        return false; // being written
      }
    }, { timeout: 20_000, every: 100 });
    await this.runCommand('View: Close Editor');
  }

  /**
   * The text of an extension's output channel `name` as VS Code logs it (a log channel: exthost/<extension>/<name>.log;
   * a plain one: output_logging_<time>/<n>-<name>.log), '' while there is none.
   */
  async outputChannel(name: string): Promise<string> {
    const { readdirSync, readFileSync } = await import('node:fs');
    const out: string[] = [];
    const file = new RegExp(`^(\\d+-)?${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.log$`);
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (file.test(e.name)) out.push(readFileSync(p, 'utf8'));
      }
    };
    const logs = join(this.dirs().user, 'logs');
    if (existsSync(logs)) walk(logs);
    return out.join('\n');
  }

  /** The messages of the notification toasts on screen now (progress notifications included), without opening the
   *  notification center. */
  async toasts(): Promise<string[]> {
    return this.page.locator('.notifications-toasts .notification-list-item-message').evaluateAll((els) => els.map((e) => (e.textContent ?? '').trim()));
  }

  /** The folder the extensions are installed in (this VS Code's own). */
  get extensionsDir(): string {
    return this.dirs().ext;
  }

  /** The folder the extension host sees as XDG_CACHE_HOME (its Hugging Face cache is huggingface/hub in it). */
  get cacheHome(): string {
    return join(this.dirs().xdg, 'cache');
  }

  /**
   * Answers an open-file dialog opened by a command: in the browser, VS Code's own dialog, a quick input holding a
   * path. Types the absolute path and accepts it.
   */
  async answerFileDialog(path: string, timeout = 20_000): Promise<void> {
    const widget = this.page.locator('.quick-input-widget');
    const input = widget.locator('.quick-input-box input');
    await input.waitFor({ state: 'visible', timeout });
    // The dialog fills in its starting folder once it has listed it, which can overwrite a path typed before: wait
    // for that, and type again if the dialog is still open after Enter.
    await waitFor('the dialog\'s starting folder', async () => (await input.inputValue()) !== '', { timeout });
    const deadline = Date.now() + timeout;
    for (;;) {
      await input.fill(path, { timeout: 5_000 });
      await this.page.keyboard.press('Enter');
      try {
        await widget.waitFor({ state: 'hidden', timeout: 3_000 });
        return;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`the file dialog did not take ${path}: ${(e as Error).message.split('\n')[0]}`);
      }
    }
  }

  /** Waits for a status-bar item whose text matches and returns that text (codicons drawn as icons are not text). */
  async statusBarText(match: RegExp, timeout = 30_000): Promise<string> {
    return waitFor(`a status-bar item matching ${match}`, async () => {
      const texts = await this.page.locator('.part.statusbar .statusbar-item').evaluateAll((els) => els.map((e) => (e.textContent ?? '').replace(/\s+/g, ' ').trim()));
      return texts.find((t) => match.test(t)) ?? null;
    }, { timeout });
  }

  /** Hovers the status-bar item whose text matches and returns its tooltip's text. */
  async statusBarTooltip(match: RegExp, timeout = 30_000): Promise<string> {
    const text = await this.statusBarText(match, timeout);
    // By the pattern, not by the text seen a moment ago: the item's text may change while we hover (a new latency).
    const item = this.page.locator('.part.statusbar .statusbar-item').filter({ hasText: match }).first();
    const hover = this.page.locator('.workbench-hover, .monaco-hover:not(.hidden)').filter({ hasText: /\S/ });
    try {
      return await waitFor(`the tooltip of the status-bar item ${JSON.stringify(text)} (${match})`, async () => {
        await item.hover({ timeout: 5_000 });
        return (await hover.count()) > 0 ? (await hover.last().innerText()).trim() || null : null;
      }, { timeout: 15_000, every: 250 });
    } finally {
      await this.page.mouse.move(1, 500);
    }
  }

  /**
   * Every notification, hidden toasts included: opens the notification center (its status-bar bell), reads it and
   * closes it again. The focus may move; call focusEditor() before typing again.
   */
  async notifications(): Promise<Notification[]> {
    const center = this.page.locator('.notifications-center');
    const bell = this.page.locator('.part.statusbar [id="status.notifications"]');
    // The center's element exists only once it has been shown: ask the page, not a locator (which would wait for it).
    const open = () => this.page.evaluate(() => !!document.querySelector('.notifications-center.visible'));
    const wasOpen = await open();
    if (!wasOpen) {
      await bell.click({ timeout: 10_000 });
      await waitFor('the notification center', open, { timeout: 10_000 });
    }
    const list = await center.locator('.notification-list-item').evaluateAll((els) =>
      els.map((e) => {
        const icon = e.querySelector('.notification-list-item-icon')?.className ?? '';
        return {
          severity: (/error/.test(icon) ? 'error' : /warning/.test(icon) ? 'warning' : 'info') as 'error' | 'warning' | 'info',
          message: (e.querySelector('.notification-list-item-message')?.textContent ?? '').trim(),
          source: (e.querySelector('.notification-list-item-source')?.textContent ?? '').trim(),
        };
      }),
    );
    if (!wasOpen) {
      await bell.click({ timeout: 10_000 });
      await waitFor('the notification center to close', async () => !(await open()), { timeout: 10_000 });
    }
    return list;
  }

  /**
   * The frame of a webview (VS Code nests each in two iframes) whose document has `selector`. With `text`, waits until
   * that element's text also matches.
   */
  async webviewFrame(selector: string, timeout = 60_000, text?: RegExp): Promise<Frame> {
    return waitFor(`a webview frame with ${selector}${text ? ` matching ${text}` : ''}`, async () => {
      for (const f of this.page.frames()) {
        if (f === this.page.mainFrame()) continue;
        const t = await f.$eval(selector, (e) => e.textContent ?? '').catch(() => null);
        if (t !== null && (!text || text.test(t))) return f;
      }
      return null;
    }, { timeout, every: 200 });
  }

  /** A PNG of the whole page in test-results/e2e/<name>-<label>.png; returns its path. */
  async screenshot(label: string): Promise<string> {
    const path = join(RESULTS, `${this.opts.name}-${label}.png`);
    mkdirSync(RESULTS, { recursive: true });
    await this.page.screenshot({ path, timeout: 15_000 });
    return path;
  }

  /** The extension host's log (activation, errors of the extension, console.log of the extension host). */
  async extensionHostLog(): Promise<string> {
    const { readdirSync, readFileSync } = await import('node:fs');
    const out: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (/exthost/i.test(p) && e.name.endsWith('.log')) out.push(readFileSync(p, 'utf8'));
      }
    };
    const logs = join(this.dirs().user, 'logs');
    if (existsSync(logs)) walk(logs);
    return out.join('\n');
  }

  /**
   * Milliseconds from the page navigation to the activation of extension `id` ('publisher.name'), from the extension
   * host's log line "ExtensionService#_doActivateExtension <id>"; waits for it up to `timeout`.
   */
  async activationMs(id: string, timeout = 60_000): Promise<number> {
    const at = await waitFor(`the activation of ${id}`, async () => {
      const m = new RegExp(`^(\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d+) .*_doActivateExtension ${id.replace(/\./g, '\\.')}\\b`, 'm').exec(await this.extensionHostLog());
      // The log's local time, as this process reads local time (same machine, same TZ).
      return m ? new Date(m[1]!.replace(' ', 'T')).getTime() : null;
    }, { timeout, every: 250 });
    return at - this.timings.navigationStart;
  }

  // ---- teardown ----

  /** Sends SIGKILL to code-server's whole process group at once (for exit handlers, which cannot wait). */
  killServerNow(): void {
    const pid = this.server?.pid;
    if (pid && this.server?.exitCode === null && this.server.signalCode === null) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }

  /** For exit handlers, which cannot wait: SIGKILL to code-server's group, and the temporary state removed. */
  abandon(): void {
    this.killServerNow();
    live.delete(this);
    if (!this.opts.keepState && process.env.PIE_E2E_KEEP !== '1') rmSync(this.state, { recursive: true, force: true, maxRetries: 3 });
  }

  /** Closes Chromium and code-server (its whole process group), saves the logs, removes the temporary state. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.consoleErrors.length) writeFileSync(join(RESULTS, `${this.opts.name}-console.log`), this.consoleErrors.join('\n') + '\n');
      await Promise.race([this.browser?.close(), new Promise((r) => setTimeout(r, 10_000))]).catch(() => undefined);
    } finally {
      const server = this.server;
      if (server?.pid && server.exitCode === null && server.signalCode === null) {
        const gone = new Promise((r) => server.once('exit', r));
        try {
          process.kill(-server.pid, 'SIGTERM');
        } catch {
          /* already gone */
        }
        const t = setTimeout(() => this.killServerNow(), 5_000);
        await gone;
        clearTimeout(t);
      }
      // Its children (extension host, pty host, file watcher) share the group; make sure none outlives it.
      if (server?.pid) {
        try {
          process.kill(-server.pid, 'SIGKILL');
        } catch {
          /* the group is gone */
        }
      }
      this.serverLog?.end();
      const logs = join(this.dirs().user, 'logs');
      const saved = join(RESULTS, `${this.opts.name}-logs`);
      rmSync(saved, { recursive: true, force: true });
      if (existsSync(logs)) cpSync(logs, saved, { recursive: true });
      live.delete(this);
      if (!this.opts.keepState && process.env.PIE_E2E_KEEP !== '1') rmSync(this.state, { recursive: true, force: true });
      else this.log(`state kept in ${this.state}`);
    }
  }
}

/**
 * One VS Code shared by the tests of a file: the packed extension with its own default model (`pie.modelPath` unset:
 * the model packed into the .vsix), started in `before` and closed in `after`. `get()` returns it, or throws why it did
 * not start; `modelPath()` is the same model file in the checkout (for the CLI).
 */
export function sharedVsCode(name: string, webgpu: WebGpuFlags, settings: Record<string, unknown> = {}): { get: () => VsCode; modelPath: () => string } {
  let vs: VsCode | null = null;
  let startError: Error | null = null;
  let model = '';
  before(async () => {
    const { path, why } = await fixtureModel(DEFAULT_MODEL);
    if (!path) throw new Error(why);
    model = path;
    try {
      vs = await VsCode.start({ name, vsix: packageVsix(), workspace: join(ROOT, 'test', 'e2e', 'workspace'), settings, webgpu, log: (line) => console.log(`# ${line}`) });
    } catch (e) {
      startError = e as Error;
    }
  }, { timeout: 300_000 });
  after(async () => {
    await vs?.close();
  }, { timeout: 60_000 });
  return {
    get: () => {
      if (!vs) throw startError ?? new Error('VS Code did not start');
      return vs;
    },
    modelPath: () => model,
  };
}
