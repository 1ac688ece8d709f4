// Shared by the Node and browser paths: from an adapter to a GpuContext with the features and limits we use.
import { EngineError } from '../errors.js';
import { GpuContext, type GpuDescription } from './context.js';

export class NoGpuError extends EngineError {
  constructor(message: string) {
    super('no-adapter', message);
    this.name = 'NoGpuError';
  }
}

/**
 * `limits` caps what is asked for (a device with lower limits than the adapter offers: a smaller GPU, or the tests of
 * what happens when a model or a context does not fit).
 */
export async function contextFromAdapter(adapter: GPUAdapter, backend: string, cpuHint: boolean, keepAlive: unknown[] = [], limits: Record<string, number> = {}): Promise<GpuContext> {
  const want: GPUFeatureName[] = [];
  const f16 = adapter.features.has('shader-f16');
  const subgroups = adapter.features.has('subgroups' as GPUFeatureName);
  const timestamps = adapter.features.has('timestamp-query');
  if (f16) want.push('shader-f16');
  if (subgroups) want.push('subgroups' as GPUFeatureName);
  if (timestamps) want.push('timestamp-query');
  const a = adapter.limits;
  // Ask for the adapter's own maxima: the defaults (128 MiB bindings, 256 invocations) are below what models need.
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: a.maxStorageBufferBindingSize,
    maxBufferSize: a.maxBufferSize,
    maxComputeWorkgroupStorageSize: a.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: a.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: a.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: a.maxComputeWorkgroupSizeY,
    maxStorageBuffersPerShaderStage: a.maxStorageBuffersPerShaderStage,
  };
  for (const [k, v] of Object.entries(limits)) requiredLimits[k] = Math.min(v, requiredLimits[k] ?? v);
  const device = await adapter.requestDevice({ requiredFeatures: want, requiredLimits, label: 'pie-engine' });
  const i = adapter.info;
  const text = `${i.vendor} ${i.architecture} ${i.device} ${i.description}`.toLowerCase();
  const info: GpuDescription = {
    backend,
    vendor: i.vendor ?? '',
    architecture: i.architecture ?? '',
    device: i.device ?? '',
    description: i.description ?? '',
    cpu: cpuHint || /swiftshader|llvmpipe|lavapipe|software/.test(text),
  };
  return new GpuContext(device, info, { f16, subgroups, timestamps }, keepAlive);
}

/** The browser (webview) path: navigator.gpu. */
export async function acquireBrowserGpu(gpu: GPU | undefined, powerPreference: GPUPowerPreference = 'high-performance'): Promise<GpuContext> {
  if (!gpu) {
    throw new NoGpuError('WebGPU is not available in this VS Code window (navigator.gpu is missing). Use a VS Code build with WebGPU, or enable it for the browser that runs code-server.');
  }
  const tried: string[] = [];
  for (const options of [{ powerPreference }, { powerPreference, featureLevel: 'compatibility' }] as GPURequestAdapterOptions[]) {
    const adapter = await gpu.requestAdapter(options);
    if (adapter) return contextFromAdapter(adapter, 'navigator.gpu', false);
    tried.push(JSON.stringify(options));
  }
  throw new NoGpuError(
    `navigator.gpu exists but gave no adapter (tried ${tried.join(', ')}): WebGPU is off or the GPU is blocklisted. ` +
      'Update the GPU driver; in a browser (code-server), enable WebGPU (Chrome/Edge 113+, on Linux chrome://flags/#enable-unsafe-webgpu), ' +
      'and keep hardware acceleration on.',
  );
}
