#!/usr/bin/env python3
"""Draws the loss curve of a training run (its log.csv) as a self-contained SVG (no plotting library needed).

  /usr/bin/python3 tools/train-model/plot_loss.py RUN/log.csv models/loss.svg

x: tokens seen (millions); y: cross-entropy (nats per token). Lines: train loss (the logged steps, thin), held-out loss
over the first 512 positions of each held-out window, and held-out loss over whole 1024-token windows. A dashed
vertical line marks where training switched to longer windows.
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

W, H = 760, 420
L, R, T, B = 64, 170, 30, 50


def main() -> None:
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    rows = list(csv.DictReader(open(src)))
    tr = [(int(r['tokens']) / 1e6, float(r['train_loss'])) for r in rows if r['train_loss']]
    ho = [(int(r['tokens']) / 1e6, float(r['heldout_loss'])) for r in rows if r.get('heldout_loss')]
    hl = [(int(r['tokens']) / 1e6, float(r['heldout_loss_long'])) for r in rows if r.get('heldout_loss_long')]
    switch = None
    for a, b in zip(rows, rows[1:]):
        if a.get('seq_len') and b.get('seq_len') and a['seq_len'] != b['seq_len']:
            switch = (int(a['tokens']) / 1e6, b['seq_len'])
    xmax = max(x for x, _ in tr)
    ys = [y for _, y in tr + ho + hl]
    ymin, ymax = max(0.0, min(ys) - 0.2), min(max(ys), min(ys) + 6.0)

    def px(x: float) -> float:
        return L + (W - L - R) * x / xmax

    def py(y: float) -> float:
        y = min(max(y, ymin), ymax)
        return T + (H - T - B) * (1 - (y - ymin) / (ymax - ymin))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>']
    # grid and axes
    step = 0.5 if ymax - ymin <= 4 else 1.0
    y = (int(ymin / step) + 1) * step
    while y < ymax:
        out.append(f'<line x1="{L}" y1="{py(y):.1f}" x2="{W - R}" y2="{py(y):.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{L - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:g}</text>')
        y += step
    xs = 0.5 if xmax <= 5 else 1.0 if xmax <= 10 else 2.0 if xmax <= 20 else 5.0
    x = 0.0
    while x <= xmax + 1e-9:
        out.append(f'<line x1="{px(x):.1f}" y1="{T}" x2="{px(x):.1f}" y2="{H - B}" stroke="#f0f0f0"/>')
        out.append(f'<text x="{px(x):.1f}" y="{H - B + 16}" text-anchor="middle">{x:g}</text>')
        x += xs
    out.append(f'<rect x="{L}" y="{T}" width="{W - L - R}" height="{H - T - B}" fill="none" stroke="#444"/>')
    out.append(f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">tokens seen (millions)</text>')
    out.append(f'<text x="16" y="{(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 16 {(T + H - B) / 2})">'
               'cross-entropy (nats/token)</text>')
    if switch:
        out.append(f'<line x1="{px(switch[0]):.1f}" y1="{T}" x2="{px(switch[0]):.1f}" y2="{H - B}" stroke="#999" '
                   'stroke-dasharray="4 4"/>')
        out.append(f'<text x="{px(switch[0]) + 4:.1f}" y="{T + 14}" fill="#666">{switch[1]}-token windows</text>')

    def line(pts, color, width, label, k):
        d = ' '.join(f'{px(x):.1f},{py(y):.1f}' for x, y in pts)
        out.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="{width}"/>')
        ly = T + 16 + 20 * k
        out.append(f'<line x1="{W - R + 12}" y1="{ly}" x2="{W - R + 36}" y2="{ly}" stroke="{color}" '
                   f'stroke-width="{max(2, width)}"/>')
        out.append(f'<text x="{W - R + 42}" y="{ly + 4}">{label}</text>')

    line(tr, '#9ecae1', 1, 'train', 0)
    line(ho, '#d94801', 2, 'held-out (512)', 1)
    if hl and hl != ho:
        line(hl, '#54278f', 2, 'held-out (1024)', 2)
    out.append(f'<text x="{L}" y="{T - 10}" font-weight="bold">pie-code-tiny: loss (final held-out '
               f'{ho[-1][1]:.3f} / {hl[-1][1] if hl else ho[-1][1]:.3f})</text>')
    out.append('</svg>')
    dst.write_text('\n'.join(out) + '\n')
    print(f'wrote {dst}')


if __name__ == '__main__':
    main()
