// The device's measured copy bandwidth: the ceiling a memory-bound kernel (a decode step reading every weight once)
// can hope to approach. Pure WebGPU, no DOM or editor imports: usable from the CLI, the server and the webview.
import type { GpuContext } from './context.js';

export interface CopyBandwidth {
  /** Bytes copied per second (each byte is read once and written once), median over the timed copies. */
  bytesPerS: number;
  /** Size of the copied buffer. */
  bytes: number;
  /** Copies of the buffer in each timed submission (1 unless `minMs` asked for more). */
  copies: number;
  /** Wall time of each timed submission, in milliseconds (submit to onSubmittedWorkDone). */
  copyMs: number[];
}

/**
 * Times `copyBufferToBuffer` of one buffer of `bytes` (default 128 MiB, capped at the device's largest buffer) into
 * another, `runs` times after one untimed warm-up copy (which also makes the driver commit both buffers' memory), and
 * returns the median. Each timed submission is awaited with queue.onSubmittedWorkDone, so the time includes one
 * submission's overhead: negligible against 128 MiB on a CPU driver, not against a few MiB on a fast GPU. With `minMs`,
 * each submission holds `copies` copies of the buffer, doubled (up to `maxCopies`, default 256) until one submission
 * takes at least `minMs`: a cheap measurement of a few tens of MiB that the overhead does not dominate on any device
 * (the engine's boot: src/engine/host.ts).
 */
export async function measureCopyBandwidth(ctx: GpuContext, opts: { bytes?: number; runs?: number; minMs?: number; maxCopies?: number } = {}): Promise<CopyBandwidth> {
  const limit = ctx.device.limits.maxBufferSize;
  const bytes = Math.floor(Math.min(opts.bytes ?? 128 << 20, limit) / 256) * 256;
  const runs = Math.max(1, opts.runs ?? 5);
  const usage = GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const src = ctx.device.createBuffer({ label: 'bandwidth-src', size: bytes, usage });
  const dst = ctx.device.createBuffer({ label: 'bandwidth-dst', size: bytes, usage });
  try {
    const copy = async (copies: number): Promise<number> => {
      const enc = ctx.device.createCommandEncoder({ label: 'bandwidth' });
      for (let i = 0; i < copies; i++) enc.copyBufferToBuffer(src, 0, dst, 0, bytes);
      const t0 = performance.now();
      ctx.device.queue.submit([enc.finish()]);
      await ctx.device.queue.onSubmittedWorkDone();
      return performance.now() - t0;
    };
    let copies = 1;
    let ms = await copy(copies); // warm-up
    const maxCopies = Math.max(1, opts.maxCopies ?? 256);
    if (opts.minMs) {
      while (ms < opts.minMs && copies < maxCopies) {
        copies = Math.min(maxCopies, copies * 2);
        ms = await copy(copies);
      }
    }
    const copyMs: number[] = [];
    for (let i = 0; i < runs; i++) copyMs.push(await copy(copies));
    ctx.throwIfFailed();
    const s = [...copyMs].sort((a, b) => a - b);
    const m = s.length >> 1;
    const med = s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
    return { bytesPerS: (bytes * copies) / (med / 1000), bytes, copies, copyMs };
  } finally {
    src.destroy();
    dst.destroy();
  }
}
