// The note for a CPU adapter, on the device strings the hosts really get (GpuContext.describe() in Node, the webview's).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { slowAdapterNote } from '../../src/models/adapter-note.js';

test('CPU adapters are named with their measured speed and what is faster; a GPU gets no note', () => {
  const swift = slowAdapterNote('google swiftshader swiftshader-device-subzero- SwiftShader driver 5.0.0 [SwiftShader (CPU Vulkan driver from Chromium)]');
  assert.match(swift ?? '', /^WebGPU runs on SwiftShader, a CPU driver: decoding measured 34 ms per token .* 3\.8x slower than Mesa's lavapipe .*a GPU driver/);
  assert.equal(slowAdapterNote('google swiftshader [navigator.gpu]'), swift, 'the webview (Chromium) says the same');
  assert.match(slowAdapterNote('llvmpipe-llvm-15-0-6-256-bits- OpenGL version OpenGL ES 3.2 Mesa 22.3.6 [OpenGL ES compatibility (Mesa llvmpipe)]') ?? '', /^WebGPU runs on OpenGL ES over Mesa's llvmpipe.*2x slower than Mesa's lavapipe/);
  assert.match(slowAdapterNote('mesa software llvmpipe-llvm-15-0-6-256-bits- llvmpipe: Mesa 25.0.7 (LLVM 15.0.6) 0.0.1 [lavapipe (Mesa CPU Vulkan driver)]') ?? '', /^WebGPU runs on Mesa's lavapipe, a CPU driver/);
  assert.equal(slowAdapterNote('nvidia hopper NVIDIA H200 [Vulkan (system driver)]'), null);
  assert.equal(slowAdapterNote('apple metal-3 Apple M2 [navigator.gpu]'), null);
});
