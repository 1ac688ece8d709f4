// The device's measured copy bandwidth: the ceiling a memory-bound kernel (a decode step reading every weight once)
// can hope to approach. Pure WebGPU, no DOM or editor imports: usable from the CLI, the server and the webview.
import type { GpuContext } from './context.js';

export interface CopyBandwidth {
  /** Bytes copied per second (each byte is read once and written once), median over the timed copies. */
  bytesPerS: number;
  /** Size of the copied buffer. */
  bytes: number;
  /** Wall time of each timed copy, in milliseconds (submit to onSubmittedWorkDone). */
  copyMs: number[];
}

/**
 * Times `copyBufferToBuffer` of one buffer of `bytes` (default 128 MiB, capped at the device's largest buffer) into
 * another, `runs` times after one untimed warm-up copy (which also makes the driver commit both buffers' memory), and
 * returns the median. Each copy is its own submission, awaited with queue.onSubmittedWorkDone, so the time includes
 * one submission's overhead: negligible against tens of MiB.
 */
export async function measureCopyBandwidth(ctx: GpuContext, opts: { bytes?: number; runs?: number } = {}): Promise<CopyBandwidth> {
  const limit = ctx.device.limits.maxBufferSize;
  const bytes = Math.floor(Math.min(opts.bytes ?? 128 << 20, limit) / 256) * 256;
  const runs = Math.max(1, opts.runs ?? 5);
  const usage = GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const src = ctx.device.createBuffer({ label: 'bandwidth-src', size: bytes, usage });
  const dst = ctx.device.createBuffer({ label: 'bandwidth-dst', size: bytes, usage });
  try {
    const copy = async (): Promise<number> => {
      const enc = ctx.device.createCommandEncoder({ label: 'bandwidth' });
      enc.copyBufferToBuffer(src, 0, dst, 0, bytes);
      const t0 = performance.now();
      ctx.device.queue.submit([enc.finish()]);
      await ctx.device.queue.onSubmittedWorkDone();
      return performance.now() - t0;
    };
    await copy(); // warm-up
    const copyMs: number[] = [];
    for (let i = 0; i < runs; i++) copyMs.push(await copy());
    ctx.throwIfFailed();
    const s = [...copyMs].sort((a, b) => a - b);
    const m = s.length >> 1;
    const med = s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
    return { bytesPerS: bytes / (med / 1000), bytes, copyMs };
  } finally {
    src.destroy();
    dst.destroy();
  }
}
