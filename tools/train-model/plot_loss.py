#!/usr/bin/env python3
"""Draws the loss curve of a training run (its log.csv; several for a run in stages) as a self-contained SVG (no
plotting library needed).

  /usr/bin/python3 tools/train-model/plot_loss.py RUN/log.csv [STAGE2/log.csv ...] models/loss.svg

x: tokens seen (millions, the stages one after the other); y: cross-entropy (nats per token). Lines: train loss (the
logged steps, thin), held-out loss over the first --seq-len positions of each held-out window, and over whole windows
(the longest of the run). Dashed vertical lines mark where training switched to other windows, and where a stage began
(each stage builds its held-out windows from its own arguments, so its held-out lines start anew).
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

W, H = 760, 420
L, R, T, B = 64, 170, 30, 50


def main() -> None:
    srcs, dst = [Path(p) for p in sys.argv[1:-1]], Path(sys.argv[-1])
    tr, ho, hl, marks = [], [], [], []
    offset = 0.0
    for k, src in enumerate(srcs):
        rows = list(csv.DictReader(open(src)))
        x = lambda r: offset + int(r['tokens']) / 1e6
        if k > 0:
            marks.append((offset, f'stage {k + 1}'))
            # the stage's own curves: None breaks the held-out lines
            ho.append(None)
            hl.append(None)
        tr += [(x(r), float(r['train_loss'])) for r in rows if r['train_loss']]
        ho += [(x(r), float(r['heldout_loss'])) for r in rows if r.get('heldout_loss')]
        hl += [(x(r), float(r['heldout_loss_long'])) for r in rows if r.get('heldout_loss_long')]
        for a, b in zip(rows, rows[1:]):
            if a.get('seq_len') and b.get('seq_len') and a['seq_len'] != b['seq_len']:
                marks.append((x(a), f'{b["seq_len"]}-token windows'))
        offset = x(rows[-1])
    xmax = max(p[0] for p in tr)
    ys = [p[1] for p in tr + ho + hl if p]
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
    for i, (mx, label) in enumerate(marks):
        out.append(f'<line x1="{px(mx):.1f}" y1="{T}" x2="{px(mx):.1f}" y2="{H - B}" stroke="#999" '
                   'stroke-dasharray="4 4"/>')
        out.append(f'<text x="{px(mx) - 4:.1f}" y="{T + 14 + 14 * i}" fill="#666" text-anchor="end">{label}</text>')

    def line(pts, color, width, label, k):
        for part in ' '.join(f'{px(p[0]):.1f},{py(p[1]):.1f}' if p else '|' for p in pts).split('|'):
            if part.strip():
                out.append(f'<polyline points="{part.strip()}" fill="none" stroke="{color}" stroke-width="{width}"/>')
        ly = T + 16 + 20 * k
        out.append(f'<line x1="{W - R + 12}" y1="{ly}" x2="{W - R + 36}" y2="{ly}" stroke="{color}" '
                   f'stroke-width="{max(2, width)}"/>')
        out.append(f'<text x="{W - R + 42}" y="{ly + 4}">{label}</text>')

    line(tr, '#9ecae1', 1, 'train', 0)
    line(ho, '#d94801', 2, 'held-out, start', 1)
    line(hl, '#54278f', 2, 'held-out, whole', 2)
    last = [p for p in ho if p][-1][1], [p for p in hl if p][-1][1]
    out.append(f'<text x="{L}" y="{T - 10}" font-weight="bold">pie-code-tiny: loss (final held-out '
               f'{last[0]:.3f} / {last[1]:.3f})</text>')
    out.append('</svg>')
    dst.write_text('\n'.join(out) + '\n')
    print(f'wrote {dst}')


if __name__ == '__main__':
    main()
