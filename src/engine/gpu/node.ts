// The Node path: Dawn through the `webgpu` package. On a machine without a GPU it finds a CPU driver by itself.
// Order: a user-given VK_ICD_FILENAMES; the system's Vulkan drivers (a real GPU); Mesa 25 lavapipe; SwiftShader from
// Debian's chromium; OpenGL ES compatibility mode on Mesa llvmpipe. PIE_GPU=<name> picks one of them by name.
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { contextFromAdapter, NoGpuError } from './acquire.js';
import type { GpuContext } from './context.js';

interface Candidate {
  name: string;
  /** Text for reports, e.g. "lavapipe (Mesa CPU Vulkan driver)". */
  label: string;
  cpu: boolean;
  env: Record<string, string | undefined>;
  dawnFlags: string[];
  adapterOptions: GPURequestAdapterOptions;
  /** Missing prerequisite, if any: the candidate is reported but not tried. */
  missing?: string;
}

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** Where a lavapipe ICD json may be: PIE_LAVAPIPE_ICD, the project's .cache/lavapipe (scripts/setup-cpu-gpu.sh; seen from
 *  dist/ or from src/engine/gpu/), the working directory's, the system's. */
function findLavapipeIcd(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  const roots = [process.env.PIE_LAVAPIPE_ICD, resolve(here, '..', '.cache', 'lavapipe', 'lvp_icd.json'), resolve(here, '..', '..', '..', '.cache', 'lavapipe', 'lvp_icd.json'), resolve(process.cwd(), '.cache', 'lavapipe', 'lvp_icd.json')];
  for (const p of roots) if (p && existsSync(p)) return p;
  for (const dir of ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d']) {
    if (!existsSync(dir)) continue;
    const f = readdirSync(dir).find((n) => n.startsWith('lvp_icd'));
    if (f) return join(dir, f);
  }
  return null;
}

function systemIcds(): string[] {
  const out: string[] = [];
  for (const dir of ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d']) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) if (f.endsWith('.json') && !f.startsWith('lvp_icd')) out.push(join(dir, f));
  }
  return out;
}

function candidates(): Candidate[] {
  const list: Candidate[] = [];
  const userIcd = process.env.VK_ICD_FILENAMES;
  if (userIcd) {
    list.push({ name: 'env', label: `Vulkan (VK_ICD_FILENAMES=${userIcd})`, cpu: false, env: { VK_ICD_FILENAMES: userIcd }, dawnFlags: [], adapterOptions: { powerPreference: 'high-performance' } });
  }
  const sys = systemIcds();
  list.push({
    name: 'vulkan',
    label: 'Vulkan (system driver)',
    cpu: false,
    env: { VK_ICD_FILENAMES: sys.length ? sys.join(':') : undefined },
    dawnFlags: [],
    adapterOptions: { powerPreference: 'high-performance' },
    ...(sys.length ? {} : { missing: 'no Vulkan driver in /usr/share/vulkan/icd.d or /etc/vulkan/icd.d' }),
  });
  const lvp = findLavapipeIcd();
  list.push({
    name: 'lavapipe',
    label: 'lavapipe (Mesa CPU Vulkan driver)',
    cpu: true,
    env: { VK_ICD_FILENAMES: lvp ?? undefined },
    dawnFlags: [],
    adapterOptions: {},
    ...(lvp ? {} : { missing: 'no lavapipe ICD (run scripts/setup-cpu-gpu.sh, or install Mesa >= 23 mesa-vulkan-drivers)' }),
  });
  list.push({
    name: 'swiftshader',
    label: 'SwiftShader (CPU Vulkan driver from Chromium)',
    cpu: true,
    env: { VK_ICD_FILENAMES: SWIFTSHADER_ICD },
    dawnFlags: [],
    adapterOptions: {},
    ...(existsSync(SWIFTSHADER_ICD) ? {} : { missing: `${SWIFTSHADER_ICD} not found (apt-get install chromium)` }),
  });
  list.push({
    name: 'gles',
    label: 'OpenGL ES compatibility (Mesa llvmpipe)',
    cpu: true,
    env: { EGL_PLATFORM: 'surfaceless' },
    dawnFlags: ['backend=opengles'],
    adapterOptions: { featureLevel: 'compatibility' } as GPURequestAdapterOptions,
  });
  return list;
}

// Dawn instances must stay referenced while their devices live (a collected instance crashed the process).
const instances: unknown[] = [];

export interface NodeGpuOptions {
  /** Try only this candidate: env | vulkan | lavapipe | swiftshader | gles. Default: PIE_GPU, else all in order. */
  prefer?: string;
  /** Limits to ask for below the adapter's own (contextFromAdapter). */
  limits?: Record<string, number>;
}

export async function acquireNodeGpu(options: NodeGpuOptions = {}): Promise<GpuContext> {
  process.env.NODEVICE_SELECT ??= '1';
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  const prefer = options.prefer ?? process.env.PIE_GPU;
  const all = candidates();
  const list = prefer ? all.filter((c) => c.name === prefer) : all;
  if (prefer && list.length === 0) throw new NoGpuError(`PIE_GPU=${prefer} is not one of: ${all.map((c) => c.name).join(', ')}`);
  const tried: string[] = [];
  for (const c of list) {
    if (c.missing) {
      tried.push(`${c.label}: ${c.missing}`);
      continue;
    }
    const saved: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(c.env)) {
      saved[k] = process.env[k];
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    try {
      const gpu = create(c.dawnFlags);
      instances.push(gpu);
      const adapter = await gpu.requestAdapter(c.adapterOptions);
      if (!adapter) {
        tried.push(`${c.label}: no adapter`);
        continue;
      }
      const info = adapter.info;
      if (/null/i.test(info.description ?? '') && (info.vendor ?? '') === '') {
        tried.push(`${c.label}: only Dawn's null backend`);
        continue;
      }
      return await contextFromAdapter(adapter, c.label, c.cpu, [gpu], options.limits);
    } catch (e) {
      tried.push(`${c.label}: ${(e as Error).message}`);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  }
  throw new NoGpuError(
    `No WebGPU adapter found. Tried:\n  - ${tried.join('\n  - ')}\n` +
      'To run without a GPU, install a CPU driver: `apt-get install libvulkan1 chromium` (SwiftShader), or run scripts/setup-cpu-gpu.sh (Mesa 25 lavapipe).',
  );
}
