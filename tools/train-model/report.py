#!/usr/bin/env python3
"""Prints the model card's tables (Markdown) from a run's records: evaluation JSON files (evaluate.py), verify.json
(verify_export.py) and log.csv (train.py).

  /usr/bin/python3 tools/train-model/report.py --eval E1.json [E2.json] --verify verify.json --log log.csv
"""
from __future__ import annotations

import argparse
import csv
import json


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('--eval', nargs='+', default=[])
    ap.add_argument('--verify')
    ap.add_argument('--log')
    a = ap.parse_args()
    if a.log:
        rows = list(csv.DictReader(open(a.log)))
        last = rows[-1]
        held = [r for r in rows if r['heldout_loss']]
        tail = [float(r['train_loss']) for r in rows[-5:]]
        print(f"steps {last['step']}, tokens {int(last['tokens']):,}, {float(last['seconds']) / 60:.1f} min; "
              f"train loss (mean of the last 5 logged) {sum(tail) / len(tail):.3f}; held-out loss "
              f"{held[-1]['heldout_loss']} (the first --seq-len positions of each window) / "
              f"{held[-1]['heldout_loss_long']} (whole windows)\n")
    for path in a.eval:
        e = json.load(open(path))
        for task, groups in e['summary'].items():
            print(f"**{task}** ({groups['all']['samples']} samples, step {e['step']}, seed {e['seed']}, "
                  f"prompt <= {e['context']} tokens)\n")
            print('| | model EM | model ES | previous line EM | previous line ES | frequent next line EM | '
                  'frequent next line ES |')
            print('| --- | --- | --- | --- | --- | --- | --- |')
            for g, v in groups.items():
                cells = []
                for who in ('model', 'previous line', 'frequent next line'):
                    cells += [f"{100 * v[who]['exact_match']:.1f}%", f"{v[who]['edit_similarity']:.3f}"]
                name = f"**{g}**" if g == 'all' else g
                print(f"| {name} ({v['samples']}) | " + ' | '.join(cells) + ' |')
            print()
    if a.verify:
        v = json.load(open(a.verify))
        print('| sequence | tokens | engine vs PyTorch f64 | llama.cpp vs PyTorch f64 | engine vs llama.cpp | argmax '
              'mismatches engine/llama.cpp |')
        print('| --- | --- | --- | --- | --- | --- |')
        for r in v['logits']:
            print(f"| {r['sequence']} | {r['tokens']} | {r['engine_vs_torch']['relative']:.2e} | "
                  f"{r['llama_vs_torch']['relative']:.2e} | {r['engine_vs_llama']['relative']:.2e} | "
                  f"{r['engine_vs_llama']['argmax_mismatches']} |")
        print()
        print(f"tokenizer: engine {v['tokenizer_engine']['mismatches']} mismatches in "
              f"{v['tokenizer_engine']['texts']} texts ({v['tokenizer_engine']['tokens']} tokens); llama.cpp "
              f"{v.get('tokenizer_llama', {}).get('mismatches')} mismatches; greedy: {json.dumps(v['greedy']['engine_vs_torch'])} "
              f"{json.dumps(v['greedy']['llama_vs_torch'])}; ok {v['ok']}")


if __name__ == '__main__':
    main()
