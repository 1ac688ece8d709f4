// `pie serve --stdio` (dist/cli.js, built by `npm run build`) in a child process with a vscode-jsonrpc connection to it:
// what the language-server tests (test/gpu/lsp*.test.ts) each add their own client behaviour to.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createMessageConnection, type MessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import { projectRoot } from '../../src/cli/models.js';

export interface ServerProcess {
  proc: ChildProcess;
  conn: MessageConnection;
  /** Everything the server wrote to standard error so far. */
  stderr(): string;
  exited: Promise<number | null>;
  /** shutdown and exit, a SIGKILL if it has not exited 10 s later, and the connection disposed. */
  stop(): Promise<void>;
}

/** Starts `pie serve --stdio ARGS` with the test hooks on; the caller registers its handlers, then `conn.listen()`. */
export function spawnServer(args: string[]): ServerProcess {
  const proc = spawn(process.execPath, [join(projectRoot(), 'dist', 'cli.js'), 'serve', '--stdio', ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PIE_TEST_HOOKS: '1' } });
  let stderr = '';
  proc.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const conn = createMessageConnection(new StreamMessageReader(proc.stdout!), new StreamMessageWriter(proc.stdin!));
  return {
    proc,
    conn,
    stderr: () => stderr,
    exited,
    async stop() {
      await conn.sendRequest('shutdown').catch(() => undefined);
      await conn.sendNotification('exit').catch(() => undefined);
      const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 10_000))]);
      if (code === 'timeout') proc.kill('SIGKILL');
      conn.dispose();
    },
  };
}
