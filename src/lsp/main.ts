// The language server as the extension ships it (dist/server.mjs, started by vscode-languageclient with --stdio): the
// model always comes in initializationOptions (the extension resolves pie.modelPath and the bundled default itself).
// `pie serve --stdio` (the CLI) is the same server with the CLI's model resolution (hf: references, the default).
import { serve } from './server.js';

const conn = serve({
  async resolveModel(spec) {
    if (!spec) throw new Error('no model: pass initializationOptions.model (a GGUF file), or run the server as `pie serve --stdio`');
    return spec;
  },
});
conn.onExit(() => process.exit(0));
