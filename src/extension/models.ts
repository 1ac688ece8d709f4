// Choosing and getting a model in VS Code: "PIE: Select model" (the catalog with what fits, the decode speed to expect
// on this device and what is downloaded, a Hugging Face repository's GGUF files, or a file on disk), downloads into the
// shared Hugging Face cache with a progress notification that can be cancelled, and `hf:` values of pie.modelPath
// resolved from that cache.
import { totalmem } from 'node:os';
import { basename } from 'node:path';
import * as vscode from 'vscode';
import { CATALOG, type CatalogEntry, type DeviceBudget, deviceSpeed, expectedTokPerS, fit, recommend, speedBasis, speedNote } from '../models/catalog.js';
import { formatRef, HubError, hubOptionsFromEnv, type HubOptions, isHubRef, parseModelRef, repoGgufFiles, resolveModel, scanCache } from '../models/hub.js';
import type { Config } from './config.js';
import type { EngineState } from './engine.js';

const MB = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : `${(n / 1e6).toFixed(n < 10e6 ? 1 : 0)} MB`);
/** WebGPU's default binding limit, for the fit check before the engine has reported its device. */
const DEFAULT_BINDING = 128 * 2 ** 20;

export async function hubOptions(config: Config): Promise<HubOptions> {
  const o = await hubOptionsFromEnv();
  return config.hubEndpoint ? { ...o, endpoint: config.hubEndpoint.replace(/\/+$/, '') } : o;
}

/** The device's budget for the catalog: pie.gpuMemoryGiB, else the system memory for a CPU adapter, else 4 GiB assumed
 *  (WebGPU does not report a GPU's memory); and its speed, from the bandwidth and the loaded model's decode that the
 *  engine measured when it booted (absent until it is ready). */
export function deviceBudget(config: Config, engine: EngineState): DeviceBudget {
  const ready = engine.kind === 'ready' ? engine : null;
  const maxBindingBytes = ready ? ready.limits.maxStorageBufferBindingSize : DEFAULT_BINDING;
  const m = ready?.model;
  const speed = m?.copyBytesPerS
    ? deviceSpeed(m.copyBytesPerS, { software: ready!.cpu, measured: m.decodeTokPerS ? { name: m.name, tokPerS: m.decodeTokPerS, weightBytes: m.weightBytes, layers: m.layers } : undefined })
    : undefined;
  const known = { ...(ready?.cpu ? { software: true } : {}), ...(speed ? { speed } : {}) };
  if (config.gpuMemoryGiB > 0) return { memoryBytes: config.gpuMemoryGiB * 2 ** 30, memoryAssumed: false, maxBindingBytes, ...known };
  if (ready?.cpu) return { memoryBytes: totalmem() / 2, memoryAssumed: false, maxBindingBytes, ...known };
  return { memoryBytes: 4 * 2 ** 30, memoryAssumed: true, maxBindingBytes, ...known };
}

/**
 * A model setting as a local path: `hf:` references from the cache, else downloaded with a progress notification
 * (bytes, rate, time left, Cancel). Throws HubError with what happened and what to do.
 */
export async function localModelPath(spec: string, config: Config): Promise<string> {
  if (!isHubRef(spec)) return spec;
  const o = await hubOptions(config);
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `PIE: downloading ${spec.slice(3)}`, cancellable: true },
    async (progress, token) => {
      const ac = new AbortController();
      const sub = token.onCancellationRequested(() => ac.abort());
      let reported = 0;
      let lastAt = 0;
      try {
        const r = await resolveModel(spec, o, {
          signal: ac.signal,
          onProgress: (p) => {
            const now = Date.now();
            const pct = (p.bytes / p.total) * 100;
            if (now - lastAt < 250 && p.bytes < p.total) return;
            lastAt = now;
            const left = p.rate > 0 ? Math.ceil((p.total - p.bytes) / p.rate) : NaN;
            const resumed = p.resumedFrom > 0 ? `, resumed at ${MB(p.resumedFrom)}` : '';
            progress.report({ increment: pct - reported, message: `${MB(p.bytes)} of ${MB(p.total)}, ${MB(p.rate)}/s, ${Number.isFinite(left) ? `${left} s left` : 'starting'}${resumed}` });
            reported = pct;
          },
        });
        return r.path;
      } finally {
        sub.dispose();
      }
    },
  );
}

interface Pick extends vscode.QuickPickItem {
  action: 'entry' | 'repo' | 'file' | 'cached';
  entry?: CatalogEntry;
  ref?: string;
}

/** "PIE: Select model": returns the new pie.modelPath value (a path or hf:REPO/FILE), or undefined when dismissed. */
export async function selectModel(config: Config, engine: EngineState): Promise<string | undefined> {
  const o = await hubOptions(config);
  const cached = await scanCache(o);
  const budget = deviceBudget(config, engine);
  const best = recommend(budget, config.engine.maxContext);
  const current = config.modelPath;
  const items: Pick[] = [{ label: 'Recommended models', kind: vscode.QuickPickItemKind.Separator, action: 'entry' }];
  for (const e of CATALOG) {
    const f = fit(e, budget, config.engine.maxContext);
    const here = e.bundled || cached.some((c) => c.repo === e.repo && c.file === e.file);
    const value = e.repo ? formatRef({ repo: e.repo, file: e.file }) : '';
    const recommended = e.id === best.entry.id;
    const tags = [recommended ? `$(star-full) recommended${best.slow ? ' (slow)' : ''}` : '', value === current ? '$(check) in use' : '', here ? 'downloaded' : ''].filter(Boolean);
    // "fits · ~24 tok/s", "fits · too slow here: ~1.8 tok/s" (expectedTokPerS: the weights read per token over the
    // measured bandwidth, calibrated by the loaded model's measured decode)
    const tokPerS = expectedTokPerS(e, budget);
    const fitNote = f.fits ? ['fits', ...(tokPerS !== undefined ? [speedNote(tokPerS)] : [])] : ['does not fit'];
    const about = `${e.family}${e.fim ? ', fill-in-the-middle' : ''}${e.repo ? ` · ${e.repo}` : ''}${e.note ? ` · ${e.note}` : ''}`;
    items.push({
      label: `${f.fits ? '' : '$(warning) '}${e.label} ${e.quant}`,
      description: [MB(e.bytes), `needs ${MB(f.need.total)}`, ...fitNote, ...tags].join(' · '),
      // the recommendation's why: nothing fast enough here (slow), or nothing of the catalog fits (the bundled model)
      detail: !f.fits ? `Does not fit: ${f.why}` : recommended && best.why ? `${best.slow ? 'Slow here' : 'Recommended'}: ${best.why}` : about,
      action: 'entry',
      entry: e,
    });
  }
  const others = cached.filter((c) => !CATALOG.some((e) => e.repo === c.repo && e.file === c.file));
  if (others.length) {
    items.push({ label: 'In the Hugging Face cache', kind: vscode.QuickPickItemKind.Separator, action: 'cached' });
    for (const c of others) items.push({ label: basename(c.file), description: `${MB(c.bytes)} · ${c.repo}`, action: 'cached', ref: formatRef(c) });
  }
  items.push(
    { label: 'Other', kind: vscode.QuickPickItemKind.Separator, action: 'repo' },
    { label: '$(cloud-download) Hugging Face repository...', detail: `A repository id (ORG/NAME), then one of its GGUF files, from ${o.endpoint}`, action: 'repo' },
    { label: '$(file) Model file...', detail: 'A .gguf file on this machine', action: 'file' },
  );
  const pick = await vscode.window.showQuickPick(items, { title: 'PIE: Select model', placeHolder: `A code model for completions (${budget.memoryAssumed ? 'GPU memory assumed 4 GiB: set pie.gpuMemoryGiB' : `${MB(budget.memoryBytes)} of memory for it`}${budget.speed ? `; speeds from the ${speedBasis(budget.speed)}` : ''})`, matchOnDescription: true, matchOnDetail: true });
  if (!pick) return undefined;
  if (pick.action === 'file') {
    const files = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'GGUF models': ['gguf'] }, title: 'PIE: Select model file' });
    return files?.[0]?.fsPath;
  }
  let ref = pick.ref;
  if (pick.action === 'entry') {
    if (pick.entry!.bundled) return '';
    ref = formatRef({ repo: pick.entry!.repo!, file: pick.entry!.file });
  }
  if (pick.action === 'repo') ref = await pickRepoFile(o);
  if (!ref) return undefined;
  // downloaded (or found in the cache) before the setting changes, so that a failure leaves the current model in use
  await localModelPath(ref, config);
  return ref;
}

async function pickRepoFile(o: HubOptions): Promise<string | undefined> {
  const repo = await vscode.window.showInputBox({
    title: 'PIE: Hugging Face repository',
    prompt: `A model repository with GGUF files, on ${o.endpoint}`,
    placeHolder: 'ggml-org/Qwen2.5-Coder-1.5B-Q8_0-GGUF',
    validateInput: (v) => (/^[\w.-]+\/[\w.-]+$/.test(v.trim()) ? undefined : 'ORG/NAME, as in the repository address'),
  });
  if (!repo) return undefined;
  const files = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `PIE: listing ${repo.trim()}` }, () => repoGgufFiles(o, repo.trim()));
  if (!files.length) throw new HubError('not-found', `${repo.trim()} has no .gguf files.`);
  const pick = await vscode.window.showQuickPick(
    files.map((f) => ({ label: f.file, description: MB(f.bytes) })),
    { title: `PIE: a GGUF file of ${repo.trim()}` },
  );
  return pick ? formatRef({ repo: parseModelRef(`${repo.trim()}/${pick.label}`).repo, file: pick.label }) : undefined;
}
