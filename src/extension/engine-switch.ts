// Which host runs the engine (pie.engineHost): the webview on navigator.gpu, or the language server on Dawn in Node.
// "auto" starts the webview and falls back to the language server when the webview has no WebGPU adapter (desktop VS
// Code on Linux without flags, a VM, a blocklisted GPU). Everything else in the extension talks to this switch, which
// forwards to the engine in use; the engine panel stays in the webview and, with the Node host, draws what the switch
// forwards to it (the engine's messages and the active document's cache from pie/state).
import * as vscode from 'vscode';
import type { EngineMessage, EngineSettings, HostMessage } from '../protocol/messages.js';
import type { Engine, EngineClient, EngineState, HostKind } from './engine.js';
import { LspEngine } from './lsp-engine.js';

export type EngineHostSetting = 'auto' | HostKind;

export class EngineSwitch implements Engine {
  private node: LspEngine | null = null;
  private active: Engine;
  private model: { path: string; name: string } | null = null;
  private readonly stateEmitter = new vscode.EventEmitter<EngineState>();
  private readonly messageEmitter = new vscode.EventEmitter<EngineMessage>();
  private readonly disposables: vscode.Disposable[] = [];
  private nodeSubs: vscode.Disposable[] = [];
  readonly onState = this.stateEmitter.event;
  readonly onMessage = this.messageEmitter.event;
  /** Why "auto" moved to the Node host (the webview's reason), for the status bar. */
  fellBackBecause: string | null = null;

  constructor(
    readonly webview: EngineClient,
    private readonly extensionPath: string,
    private settings: EngineSettings,
    private setting: EngineHostSetting,
  ) {
    this.active = webview;
    this.disposables.push(
      webview.onState((s) => {
        if (this.active !== webview) return;
        // the webview has no WebGPU adapter at all: "auto" moves to the Node host
        if (s.kind === 'unavailable' && s.reason === 'no-adapter' && this.setting === 'auto') return void this.useNode(s.message);
        this.stateEmitter.fire(s);
      }),
      webview.onMessage((m) => {
        if (this.active === webview) this.messageEmitter.fire(m);
      }),
    );
    if (setting === 'node') void this.useNode(null);
  }

  get state(): EngineState {
    return this.active.state;
  }

  get host(): HostKind {
    return this.active === this.webview ? 'webview' : 'node';
  }

  async setModel(path: string, name: string): Promise<void> {
    this.model = { path, name };
    // the webview keeps the model too (with the Node host its page only draws): a later switch back finds it
    await this.webview.setModel(path, name);
    if (this.node && this.active === this.node) await this.node.setModel(path, name);
  }

  /** pie.engineHost changed: "webview" and "auto" start over in the webview, "node" moves to the language server. */
  async setHost(setting: EngineHostSetting): Promise<void> {
    if (setting === this.setting) return;
    this.setting = setting;
    if (setting === 'node') return this.useNode(null);
    await this.useWebview();
  }

  updateSettings(settings: EngineSettings): void {
    this.settings = settings;
    this.webview.updateSettings(settings);
    this.node?.updateSettings(settings);
  }

  post(m: HostMessage): void {
    // the panel is the webview's, whichever host runs the engine
    if (this.active === this.webview || m.type === 'shown' || m.type === 'focus') this.webview.post(m);
    if (this.active === this.webview) return;
    this.active.post(m);
    if (m.type === 'focus') void this.drawCache();
  }

  request<T extends EngineMessage>(make: (id: number) => HostMessage, timeoutMs: number, token?: vscode.CancellationToken): Promise<T | null> {
    return this.active.request<T>(make, timeoutMs, token);
  }

  /** Test hook: the engine in use loses its GPU device. */
  async loseDevice(): Promise<void> {
    if (this.node && this.active === this.node) await this.node.loseDevice();
    else this.webview.post({ type: 'loseDevice' });
  }

  dispose(): void {
    for (const d of [...this.disposables.splice(0), ...this.nodeSubs.splice(0)]) d.dispose();
    this.node?.dispose();
    this.stateEmitter.dispose();
    this.messageEmitter.dispose();
  }

  private async useNode(why: string | null): Promise<void> {
    this.fellBackBecause = why;
    if (!this.node) {
      const node = new LspEngine(this.extensionPath, this.settings);
      this.node = node;
      this.nodeSubs.push(
        node.onState((s) => {
          if (this.active === node) this.stateEmitter.fire(s);
        }),
        node.onMessage((m) => {
          if (this.active !== node) return;
          this.webview.mirror(m);
          if (m.type === 'completion' || m.type === 'resynced' || m.type === 'ready') void this.drawCache();
          this.messageEmitter.fire(m);
        }),
      );
    }
    this.active = this.node;
    this.webview.setRemote(why ? `the language server (Node), because the webview has none: ${why}` : 'the language server (Node)');
    this.stateEmitter.fire(this.node.state);
    if (this.model) await this.node.setModel(this.model.path, this.model.name);
  }

  private async useWebview(): Promise<void> {
    this.fellBackBecause = null;
    await this.node?.stop();
    this.active = this.webview;
    this.webview.setRemote(null);
    this.stateEmitter.fire(this.webview.state);
  }

  /** The active document's cache from the server, for the panel. */
  private async drawCache(): Promise<void> {
    const node = this.node;
    if (!node || this.active !== node) return;
    this.webview.post({ type: 'cacheView', view: await node.cacheView(node.focused) });
  }
}
