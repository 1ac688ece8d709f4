// Draws docs/pie-latency.svg from the JSON line of `pie bench edit`: time to the next token after a single-token
// insert in the middle, per method, against context length (log-log). Usage:
//   node dist/cli.js bench edit --model ../shared/fixtures/models/stories260K.gguf --context 256,512,1024,2048,4096 --json | tail -1 > bench/results/bench-edit.json
//   node bench/plot-edit.mjs bench/results/bench-edit.json docs/pie-latency.svg
import { readFileSync, writeFileSync } from 'node:fs';

const [input, output] = process.argv.slice(2);
const data = JSON.parse(readFileSync(input, 'utf8').trim().split('\n').pop());
const edit = 'insert 1 token';
const methods = [...new Set(data.results.map((r) => r.method))];
const colors = { pie: '#d62728', 'pie:0': '#ff7f0e', cfe: '#9467bd', prefix: '#1f77b4', full: '#2ca02c' };
const pts = (m) => data.results.filter((r) => r.method === m && r.edit === edit).map((r) => [r.context, r.medianMs]);
const all = data.results.filter((r) => r.edit === edit);
const [W, H, L, B, T, R] = [640, 400, 70, 50, 40, 120];
const xs = all.map((r) => r.context);
const ys = all.map((r) => r.medianMs);
const lx = (v) => Math.log10(v);
const [x0, x1] = [lx(Math.min(...xs)), lx(Math.max(...xs))];
const [y0, y1] = [Math.floor(lx(Math.min(...ys))), Math.ceil(lx(Math.max(...ys)))];
const px = (v) => L + ((lx(v) - x0) / (x1 - x0 || 1)) * (W - L - R);
const py = (v) => H - B - ((lx(v) - y0) / (y1 - y0 || 1)) * (H - B - T);
let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">\n`;
svg += `<rect width="${W}" height="${H}" fill="white"/>\n`;
svg += `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">Time to the next token after a 1-token insert in the middle</text>\n`;
for (let e = y0; e <= y1; e++) {
  const y = py(10 ** e);
  svg += `<line x1="${L}" x2="${W - R}" y1="${y}" y2="${y}" stroke="#ddd"/><text x="${L - 6}" y="${y + 4}" text-anchor="end">${10 ** e} ms</text>\n`;
}
for (const c of [...new Set(xs)]) {
  svg += `<line x1="${px(c)}" x2="${px(c)}" y1="${T}" y2="${H - B}" stroke="#eee"/><text x="${px(c)}" y="${H - B + 16}" text-anchor="middle">${c}</text>\n`;
}
svg += `<text x="${(W - R + L) / 2}" y="${H - 12}" text-anchor="middle">context (tokens)</text>\n`;
methods.forEach((m, i) => {
  const p = pts(m);
  svg += `<polyline fill="none" stroke="${colors[m] ?? '#000'}" stroke-width="2" points="${p.map(([x, y]) => `${px(x)},${py(y)}`).join(' ')}"/>\n`;
  for (const [x, y] of p) svg += `<circle cx="${px(x)}" cy="${py(y)}" r="3" fill="${colors[m] ?? '#000'}"/>\n`;
  svg += `<text x="${W - R + 10}" y="${T + 20 + 18 * i}" fill="${colors[m] ?? '#000'}">${m}</text>\n`;
});
svg += `<text x="${W - R + 10}" y="${H - B}" font-size="10" fill="#666">${data.device.slice(0, 22)}</text>\n</svg>\n`;
writeFileSync(output, svg);
