// Workspace context: pieces of other files (and the clipboard) that a completion sees beside the current file. Shared by
// every host (the VS Code extension, the language server, the CLI's evaluation): plain data, no 'vscode', no DOM, no
// tensors. The engine lays the chunks it is sent out ahead of the file in its cache and keeps them there with PIE.

/** Where a chunk came from. */
export type ContextSource = 'edit' | 'visit' | 'visible' | 'clipboard' | 'definition' | 'open';

/** A piece of another file (or the clipboard) offered to the model beside the current file. */
export interface ContextChunk {
  /** Stable identity while the chunk covers the same place: `${path}:${startLine}` (the clipboard: `clipboard:` and a
   *  hash of its text). The engine keeps a chunk's cache rows while its id stays; a changed text under the same id is
   *  an edit inside the chunk (only its changed tokens are encoded). */
  id: string;
  /** Workspace-relative path with '/' separators ('' for the clipboard). */
  path: string;
  /** The source lines [startLine, endLine), 0-based. */
  startLine: number;
  endLine: number;
  text: string;
  source: ContextSource;
  /** Similarity to the lines around the cursor; chunks are sent best first. */
  score: number;
}
