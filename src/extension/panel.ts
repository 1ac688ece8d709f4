// The engine panel: a webview that runs the engine on navigator.gpu. CSP default-src 'none', scripts only by nonce,
// local resources limited to dist/ and media/.
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import type { EngineMessage } from '../protocol/messages.js';

export class EnginePanel {
  static current: EnginePanel | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  private constructor(private readonly panel: vscode.WebviewPanel, extensionUri: vscode.Uri) {
    const webview = panel.webview;
    webview.html = html(webview, extensionUri);
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      webview.onDidReceiveMessage((m: EngineMessage) => {
        if (m.type === 'ready') void vscode.window.showInformationMessage(`PIE engine: ${m.device}`);
        else void vscode.window.showErrorMessage(`PIE engine unavailable: ${m.message}`);
      }),
    );
  }

  static show(extensionUri: vscode.Uri): void {
    if (EnginePanel.current) {
      EnginePanel.current.panel.reveal();
      return;
    }
    const panel = vscode.window.createWebviewPanel('pie.engine', 'PIE Engine', vscode.ViewColumn.Beside, {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')],
    });
    EnginePanel.current = new EnginePanel(panel, extensionUri);
  }

  dispose(): void {
    if (EnginePanel.current === this) EnginePanel.current = undefined;
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }
}

function html(webview: vscode.Webview, extensionUri: vscode.Uri): string {
  const nonce = randomBytes(16).toString('base64');
  const script = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview.js'));
  const style = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'engine.css'));
  const csp = `default-src 'none'; style-src ${webview.cspSource}; script-src 'nonce-${nonce}';`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<link rel="stylesheet" href="${style}">
<title>PIE Engine</title>
</head>
<body>
<h1>PIE Engine</h1>
<p id="status">Starting WebGPU…</p>
<script nonce="${nonce}" src="${script}"></script>
</body>
</html>`;
}
