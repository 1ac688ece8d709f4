// What to tell a user whose WebGPU adapter is a CPU driver: which one, how slow it is measured to be, and what gives a
// faster one. Plain text from the adapter's description (GpuContext.describe(), or the webview's device string), so
// every host (CLI, status bar, panel) says the same: shared code beside the catalog, not the engine's. Figures:
// `PIE_GPU=<adapter> node dist/cli.js bench engine --prompt-tokens 32 --gen-tokens 8 --runs 1`, the bundled
// pie-code-tiny, 2 CPU cores, 2026-12-04 (docs/engine.md).

const FASTER = 'a GPU driver with Vulkan, Metal or Direct3D 12 (a browser or VS Code with WebGPU hardware acceleration) is much faster';

/** A sentence for a CPU adapter, null for anything else. */
export function slowAdapterNote(device: string): string | null {
  const d = device.toLowerCase();
  if (d.includes('swiftshader')) {
    return `WebGPU runs on SwiftShader, a CPU driver: decoding measured 34 ms per token for the bundled model, 3.8x slower than Mesa's lavapipe (scripts/setup-cpu-gpu.sh installs it), and ${FASTER}.`;
  }
  if (d.includes('opengl es') || d.includes('[gles') || (d.includes('llvmpipe') && d.includes('opengl'))) {
    return `WebGPU runs on OpenGL ES over Mesa's llvmpipe, a CPU driver: decoding measured 18 ms per token for the bundled model, 2x slower than Mesa's lavapipe (scripts/setup-cpu-gpu.sh installs it), and ${FASTER}.`;
  }
  if (d.includes('lavapipe') || d.includes('llvmpipe')) {
    return `WebGPU runs on Mesa's lavapipe, a CPU driver: fine for the bundled model (9 ms per token), slow for real code models (Qwen2.5-Coder-0.5B prefills about 11 tokens/s); ${FASTER}.`;
  }
  return null;
}
