// A real Vulkan driver with less memory, for out-of-memory tests: builds the layer in vk-memory-cap.c with the system's C
// compiler (once per source, into .cache/vk-memory-cap) and enables it for the Dawn instances this process creates
// afterwards. The cap can be changed at any time; the layer reads it at each allocation.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const LAYER = 'VK_LAYER_PIE_memory_cap';

export interface MemoryCap {
  /** Device memory the driver holds for this process now (bytes). */
  held(): number;
  /** Allocations the layer refused so far. */
  refusals(): number;
  /** Caps device memory at `bytes`, or lifts the cap (null). */
  set(bytes: number | null): void;
}

/**
 * Builds and enables the layer (before the GPU is acquired), or says what is missing: a C compiler and the Vulkan
 * headers (libvulkan-dev; scripts/setup-cpu-gpu.sh installs it).
 */
export function enableMemoryCap(): MemoryCap | { missing: string } {
  if (!existsSync('/usr/include/vulkan/vk_layer.h')) return { missing: 'the Vulkan headers (/usr/include/vulkan/vk_layer.h: apt-get install libvulkan-dev, or run scripts/setup-cpu-gpu.sh)' };
  const source = readFileSync(join(here, 'vk-memory-cap.c'));
  const dir = resolve(here, '..', '..', '.cache', 'vk-memory-cap', createHash('sha256').update(source).digest('hex').slice(0, 12));
  const lib = join(dir, 'libpie_memory_cap.so');
  if (!existsSync(lib)) {
    mkdirSync(dir, { recursive: true });
    try {
      execFileSync('cc', ['-shared', '-fPIC', '-O2', '-Wall', '-Werror', '-fvisibility=hidden', '-o', lib, join(here, 'vk-memory-cap.c')], { stdio: 'pipe' });
    } catch (e) {
      return { missing: `a C compiler that builds test/helpers/vk-memory-cap.c (cc: ${(e as { stderr?: Buffer }).stderr?.toString() || (e as Error).message})` };
    }
    const manifest = {
      file_format_version: '1.1.0',
      layer: {
        name: LAYER,
        type: 'GLOBAL',
        library_path: lib,
        api_version: '1.3.0',
        implementation_version: '1',
        description: 'caps device memory for pie-complete tests',
        functions: { vkGetInstanceProcAddr: 'PieMemoryCap_GetInstanceProcAddr', vkGetDeviceProcAddr: 'PieMemoryCap_GetDeviceProcAddr' },
      },
    };
    writeFileSync(join(dir, 'pie_memory_cap.json'), JSON.stringify(manifest));
  }
  const log = join(mkdtempSync(join(tmpdir(), 'pie-vk-memory-')), 'log.txt');
  writeFileSync(log, '');
  process.env.VK_LAYER_PATH = dir;
  process.env.VK_INSTANCE_LAYERS = LAYER;
  process.env.PIE_VK_MEMORY_LOG = log;
  delete process.env.PIE_VK_MEMORY_CAP;
  const lines = () => readFileSync(log, 'utf8').split('\n').filter((l) => l);
  return {
    held: () => Number(lines().at(-1)?.split(' ')[2] ?? 0),
    refusals: () => lines().filter((l) => l.startsWith('refuse ')).length,
    set: (bytes) => {
      if (bytes === null) delete process.env.PIE_VK_MEMORY_CAP;
      else process.env.PIE_VK_MEMORY_CAP = String(Math.floor(bytes));
    },
  };
}
