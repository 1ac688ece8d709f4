#!/usr/bin/env python3
"""How well a checkpoint uses fill-in-the-middle: the loss of one held-out line, predicted four ways.

  /usr/bin/python3 tools/train-model/fim_gap.py --ckpt RUN/ckpt.pt [--samples 100]

For each sample (a non-blank line of a held-out file, drawn with a seed as in evaluate.py), the mean negative log
likelihood per token (nats) of that line's tokens after:
  fim        BOS <|fim_prefix|> prefix <|fim_suffix|> suffix <|fim_middle|>   (evaluate.py's PSM prompt)
  no-prefix  the same with an empty prefix
  no-suffix  the same with an empty suffix (the prefix's end two tokens before the middle)
  spm        BOS <|fim_prefix|> <|fim_suffix|> suffix <|fim_middle|> prefix   (the SPM prompt: the line continues the prefix)
  l2r        BOS prefix (left to right)
With the suffix as extra context, fim should not be above l2r; a model whose FIM mode is under-trained is above it even
with no suffix. Prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bpe import fim_prompt  # noqa: E402
from model import load_checkpoint  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--ckpt', required=True)
    ap.add_argument('--data', default=str(HERE.parent.parent / '.cache/train-data'))
    ap.add_argument('--samples', type=int, default=100)
    ap.add_argument('--context', type=int, default=896, help='as evaluate.py: prefix 3/4 of it, suffix 1/4')
    ap.add_argument('--seed', type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(1)
    _, tok, model, step = load_checkpoint(a.ckpt)
    files = [json.loads(l) for l in open(Path(a.data) / 'test.jsonl')]
    rng = random.Random(a.seed)
    sums = {k: 0.0 for k in ('fim', 'no-prefix', 'no-suffix', 'spm', 'l2r')}
    count = 0
    for _ in range(a.samples):
        while True:
            lines = rng.choice(files)['text'].split('\n')
            if len(lines) < 10:
                continue
            k = rng.randrange(1, len(lines) - 1)
            if lines[k].strip():
                break
        p = tok.encode('\n'.join(lines[:k]) + '\n')[-(3 * a.context // 4):]
        s = tok.encode('\n'.join(lines[k + 1:]))[:a.context // 4 - 4]
        line = tok.encode(lines[k] + '\n')
        prompts = {'fim': fim_prompt(tok, p, s, 'psm'), 'no-prefix': fim_prompt(tok, [], s, 'psm'),
                   'no-suffix': fim_prompt(tok, p, [], 'psm'), 'spm': fim_prompt(tok, p, s, 'spm'), 'l2r': [tok.bos] + p}
        for name, prompt in prompts.items():
            with torch.no_grad():
                logits = model(torch.tensor([prompt + line]))[0, len(prompt) - 1:-1].float()
            sums[name] += F.cross_entropy(logits, torch.tensor(line), reduction='sum').item()
        count += len(line)
    print(json.dumps({'ckpt': a.ckpt, 'step': step, 'samples': a.samples, 'tokens': count,
                      'nll': {k: round(v / count, 3) for k, v in sums.items()}}))


if __name__ == '__main__':
    main()
