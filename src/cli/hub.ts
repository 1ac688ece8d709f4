// `pie pull` and `pie models`, and `--model hf:...` for every command: the Hub through src/models/hub.ts, with a
// progress bar on the terminal (standard error) and the catalog beside the cache.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CATALOG, type CatalogEntry } from '../models/catalog.js';
import { type DownloadProgress, hubOptionsFromEnv, type HubOptions, isHubRef, resolveModel, scanCache } from '../models/hub.js';
import { printTable } from './common.js';
import { projectRoot } from './models.js';

const MB = (n: number) => `${(n / 1e6).toFixed(n < 10e6 ? 1 : 0)} MB`;

/** Bytes, rate and time left, redrawn in place on a terminal; a line per 10% otherwise (logs, CI). */
export function progressBar(label: string, out: NodeJS.WriteStream = process.stderr): (p: DownloadProgress) => void {
  let lastDraw = 0;
  let lastDecile = -1;
  return (p) => {
    const now = performance.now();
    const frac = p.total ? p.bytes / p.total : 1;
    const left = p.rate > 0 ? (p.total - p.bytes) / p.rate : Infinity;
    const text = `${label} ${MB(p.bytes)} / ${MB(p.total)} ${(frac * 100).toFixed(0).padStart(3)}%  ${MB(p.rate)}/s  ${Number.isFinite(left) ? `${left.toFixed(0)} s left` : ''}`;
    if (out.isTTY) {
      if (now - lastDraw < 100 && p.bytes < p.total) return;
      lastDraw = now;
      const width = 24;
      const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
      out.write(`\r[${bar}] ${text}\x1b[K${p.bytes >= p.total ? '\n' : ''}`);
    } else {
      const decile = Math.floor(frac * 10);
      if (decile === lastDecile) return;
      lastDecile = decile;
      out.write(`${text}\n`);
    }
  };
}

/** A model argument as a local path: `hf:` references from the cache, else downloaded with a progress bar. */
export async function localModel(spec: string): Promise<string> {
  if (!isHubRef(spec)) return spec;
  const o = await hubOptionsFromEnv();
  const r = await resolveModel(spec, o, { onProgress: progressBar(spec.slice(3)), log: (s) => process.stderr.write(`${s}\n`) });
  return r.path;
}

/** `pie pull ORG/NAME/FILE | ORG/NAME:QUANT | CATALOG-ID`: into the Hugging Face cache; prints the path. */
export async function pull(spec: string, json: boolean): Promise<void> {
  const entry = CATALOG.find((e) => e.id === spec && e.repo);
  const ref = entry ? `hf:${entry.repo}/${entry.file}` : spec.startsWith('hf:') ? spec : `hf:${spec}`;
  const o = await hubOptionsFromEnv();
  const t0 = performance.now();
  let resumedFrom = 0;
  const bar = progressBar(ref.slice(3));
  const r = await resolveModel(ref, o, {
    onProgress: (p) => {
      resumedFrom = p.resumedFrom;
      bar(p);
    },
    log: (s) => process.stderr.write(`${s}\n`),
  });
  const seconds = (performance.now() - t0) / 1000;
  if (json) console.log(JSON.stringify({ ref: `hf:${r.repo}/${r.file}`, path: r.path, cached: r.cached, resumedFrom, seconds: Number(seconds.toFixed(2)) }));
  else {
    process.stderr.write(r.cached ? `already in the cache (${o.cacheDir})\n` : `downloaded in ${seconds.toFixed(1)} s\n`);
    console.log(r.path);
  }
}

interface ModelRow {
  id: string;
  ref: string;
  family: string;
  quant: string;
  bytes: number;
  fim: boolean;
  /** Where it is on this machine, or null. */
  path: string | null;
}

/** `pie models`: the catalog, each entry with its local path when it is in the cache, then whatever else the cache
 *  holds (GGUF files other tools downloaded). */
export async function models(json: boolean): Promise<void> {
  const o: HubOptions = await hubOptionsFromEnv();
  const cached = await scanCache(o);
  const rows: ModelRow[] = CATALOG.map((e: CatalogEntry) => {
    const hit = cached.find((c) => c.repo === e.repo && c.file === e.file);
    const bundled = e.bundled ? join(projectRoot(), e.bundled) : null;
    return {
      id: e.id,
      ref: e.repo ? `hf:${e.repo}/${e.file}` : e.bundled!,
      family: e.family,
      quant: e.quant,
      bytes: hit?.bytes ?? e.bytes,
      fim: e.fim,
      path: hit?.path ?? (bundled && existsSync(bundled) ? bundled : null),
    };
  });
  for (const c of cached) {
    if (rows.some((r) => r.path === c.path)) continue;
    rows.push({ id: '', ref: `hf:${c.repo}/${c.file}`, family: '', quant: '', bytes: c.bytes, fim: false, path: c.path });
  }
  if (json) {
    console.log(JSON.stringify({ cacheDir: o.cacheDir, endpoint: o.endpoint, offline: o.offline, models: rows }));
    return;
  }
  console.log(`Hugging Face cache: ${o.cacheDir}${o.offline ? ' (HF_HUB_OFFLINE: nothing is downloaded)' : ''}`);
  printTable(
    ['id', 'family', 'quant', 'size', 'here', 'reference'],
    rows.map((r) => [r.id || '(in the cache)', r.family, r.quant, MB(r.bytes), r.path ? 'yes' : '', r.ref]),
  );
  console.log('\n`pie pull ID` (or ORG/NAME/FILE, ORG/NAME:QUANT) downloads one; `--model hf:ORG/NAME/FILE` uses it.');
}
