// A ByteSource over a file on disk (Node only): positional reads through a fs/promises FileHandle, no whole-file load.
import { open, type FileHandle } from 'node:fs/promises';
import { EngineError } from '../errors.js';
import type { ByteSource } from './gguf.js';

export async function fileSource(path: string): Promise<ByteSource & { close(): Promise<void> }> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new EngineError('model-unreadable', `model file ${path} does not exist`);
    throw new EngineError('model-unreadable', `cannot open model file ${path}: ${(e as Error).message}`);
  }
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    throw new EngineError('model-unreadable', `model file ${path} is not a regular file`);
  }
  const size = st.size;
  return {
    size,
    async read(offset: number, length: number): Promise<Uint8Array> {
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
        throw new RangeError(`invalid read of ${length} bytes at offset ${offset} from ${path}`);
      }
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(out, done, length - done, offset + done);
        if (bytesRead === 0) break; // end of file (the file shrank): the caller sees a short result
        done += bytesRead;
      }
      return done === length ? out : out.subarray(0, done);
    },
    close: () => fh.close(),
  };
}
