// The webview entry: boots the engine's GPU context on navigator.gpu and reports what it found to the extension host.
import { acquireBrowserGpu } from '../engine/gpu/acquire.js';
import type { EngineMessage, HostMessage } from '../protocol/messages.js';

interface VsCodeApi {
  postMessage(message: EngineMessage): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const status = document.getElementById('status')!;

async function boot(): Promise<void> {
  try {
    const ctx = await acquireBrowserGpu(navigator.gpu);
    const features = Object.entries(ctx.features)
      .filter(([, on]) => on)
      .map(([name]) => name);
    status.textContent = `WebGPU device: ${ctx.describe()} (features: ${features.join(', ') || 'none'})`;
    vscode.postMessage({ type: 'ready', device: ctx.describe(), features });
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    status.textContent = message;
    vscode.postMessage({ type: 'unavailable', message });
  }
}

window.addEventListener('message', (event: MessageEvent<HostMessage>) => {
  if (event.data.type === 'hello') void boot();
});
void boot();
