// The extension host entry: the only code that imports 'vscode'. It wires commands to the engine panel; every
// registration goes into context.subscriptions so that deactivation disposes it.
import * as vscode from 'vscode';
import { EnginePanel } from './panel.js';

export function activate(context: vscode.ExtensionContext): void {
  context.subscriptions.push(vscode.commands.registerCommand('pie.showEngine', () => EnginePanel.show(context.extensionUri)));
}

export function deactivate(): void {
  EnginePanel.current?.dispose();
}
