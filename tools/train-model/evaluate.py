#!/usr/bin/env python3
"""Scores a checkpoint on held-out packages (the test split) against the issue's two baselines.

  /usr/bin/python3 tools/train-model/evaluate.py --ckpt RUN/ckpt.pt [--samples 300] [--out RUN/eval.json]

Tasks (positions drawn with a seed from the test split: the languages in turn, then a line uniformly within that
language's held-out files; the same positions for the model and the baselines):
  next-line  the prompt is BOS + the file up to the start of a non-blank line (its last --context tokens); the model
             decodes greedily until it emits a newline (or 64 tokens); the prediction is the text up to that newline.
  fim-line   one whole non-blank line is removed from a file (single-line infilling); the prompt as for fim below; the
             model decodes greedily until it emits a newline (or EOS, or 64 tokens); the prediction is its first line.
  fim        one to three whole lines are removed from a file; the prompt is, by --fim-order,
             BOS <|fim_prefix|> prefix <|fim_suffix|> suffix <|fim_middle|>  (psm) or
             BOS <|fim_prefix|> <|fim_suffix|> suffix <|fim_middle|> prefix  (spm) (prefix: its last 3/4 of --context tokens,
             suffix: its first 1/4); the model decodes greedily until EOS (or 96 tokens, or a 4th line end), and the
             prediction is all of it (the model must end the middle itself).
Metrics: exact match and edit similarity (1 - Levenshtein / max length, on characters), both on the lines with
leading and trailing white space removed (each line of a multi-line middle stripped), averaged over the samples.
Baselines: 'previous line' (repeat the line before the cursor) and 'frequent next line' (the line that most often
followed the previous line in the train split; the most frequent line overall when that line was never seen).
Writes JSON with every score, per language too.
"""
from __future__ import annotations

import argparse
import json
import pickle
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bpe  # noqa: E402
from model import greedy, load_checkpoint  # noqa: E402

ROOT = HERE.parent.parent


def levenshtein(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def norm(s: str) -> str:
    return '\n'.join(l.strip() for l in s.strip('\n').split('\n')).strip()


def scores(pred: str, gold: str) -> tuple[float, float]:
    p, g = norm(pred), norm(gold)
    em = float(p == g)
    m = max(len(p), len(g))
    es = 1.0 if m == 0 else 1.0 - levenshtein(p, g) / m
    return em, es


def next_line_table(train_path: Path) -> tuple[dict, str]:
    """For each stripped line of the train split: the stripped line that most often follows it (ties: the pair seen
    first). One Counter of pairs keeps the memory to about 2 GB for the 260 MB split."""
    pairs = Counter()
    overall = Counter()
    with open(train_path) as f:
        for row in f:
            lines = [l.strip() for l in json.loads(row)['text'].split('\n')]
            lines = [l for l in lines if l]
            overall.update(lines)
            pairs.update(zip(lines, lines[1:]))
    best: dict[str, tuple[int, str]] = {}
    for (a, b), c in pairs.items():  # insertion order: first seen first
        if a not in best or c > best[a][0]:
            best[a] = (c, b)
    most = overall.most_common(1)[0][0]
    del pairs, overall
    return {a: b for a, (c, b) in best.items()}, most


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--ckpt', required=True)
    ap.add_argument('--data', default=str(ROOT / '.cache/train-data'))
    ap.add_argument('--samples', type=int, default=300, help='per task')
    ap.add_argument('--context', type=int, default=896,
                    help='prompt tokens at most (with the 96 generated: within the 1024 trained positions)')
    ap.add_argument('--seed', type=int, default=4321)
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    ap.add_argument('--threads', type=int, default=1,
                    help='torch threads (1: on a busy machine more threads spin-wait on each other in greedy decoding)')
    ap.add_argument('--tasks', default='next-line,fim-line,fim', help='next-line, fim-line, fim, or several (one '
                    'process per task runs them in parallel; each task draws its positions from its own seeded stream)')
    ap.add_argument('--fim-order', default='psm', choices=('psm', 'spm', 'off'),
                    help='the FIM prompt (bpe.fim_prompt; off: left to right from the prefix, the suffix unused)')
    ap.add_argument('--out', default=None, help='default: <ckpt dir>/eval.json')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.time()
    cfg, tok, model, step = load_checkpoint(a.ckpt, a.device)
    cache = Path(a.data) / 'next-line-table.pkl'  # depends on the train split only
    train_path = Path(a.data) / 'train.jsonl'
    if cache.is_file() and cache.stat().st_mtime > train_path.stat().st_mtime:
        with open(cache, 'rb') as fc:
            table, most_frequent = pickle.load(fc)
    else:
        table, most_frequent = next_line_table(train_path)
        with open(cache, 'wb') as fc:
            pickle.dump((table, most_frequent), fc, protocol=pickle.HIGHEST_PROTOCOL)
    t_table = time.time() - t0

    files = [json.loads(l) for l in open(Path(a.data) / 'test.jsonl')]
    rng = random.Random(f'{a.seed}:{a.tasks}')
    nl_ids = {i for i in range(tok.vocab_size) if tok.token_type[i] == bpe.TOKEN_NORMAL and '\n' in tok.decode([i])}

    def first_line(prompt: list[int]) -> str:
        """Greedy decoding until a newline (or EOS, or 64 tokens): the text up to that newline."""
        out = greedy(model, prompt, 64, stop=lambda t: t[-1] in nl_ids or t[-1] == tok.eos)
        return tok.decode([t for t in out if t != tok.eos]).split('\n')[0]

    def prev_line(lines: list[str], k: int) -> str:
        for j in range(k - 1, -1, -1):
            if lines[j].strip():
                return lines[j]
        return ''

    # the languages in turn (equal shares), then a file with probability proportional to its line count (a line drawn
    # uniformly from that language's held-out code)
    by_lang: dict[str, list] = defaultdict(list)
    for f in files:
        by_lang[f['lang']].append(f)
    langs = sorted(by_lang)
    weights = {l: [f['text'].count('\n') + 1 for f in by_lang[l]] for l in langs}
    results = {t: [] for t in a.tasks.split(',')}
    while any(len(r) < a.samples for r in results.values()):
        task = next(t for t, r in results.items() if len(r) < a.samples)
        lang = langs[len(results[task]) % len(langs)]
        f = rng.choices(by_lang[lang], weights=weights[lang])[0]
        lines = f['text'].split('\n')
        if len(lines) < 4:
            continue
        k = rng.randrange(1, len(lines) - 1)
        if not lines[k].strip():
            continue
        prev = prev_line(lines, k)
        base_prev = prev
        base_freq = table.get(prev.strip(), most_frequent)
        prefix = '\n'.join(lines[:k]) + '\n'
        if task == 'next-line':
            gold = lines[k]
            pred = first_line([tok.bos] + tok.encode(prefix)[-(a.context - 1):])
        else:
            # fim-line: single-line infilling (as in InCoder's and SantaCoder's evaluations), one line removed and the
            # prediction the middle's first line (what the model says about the rest is not scored); fim: 1-3 lines
            n = 1 if task == 'fim-line' else rng.randint(1, 3)
            suffix = '\n'.join(lines[k + n:])
            prompt = bpe.fim_prompt(tok, tok.encode(prefix)[-(3 * a.context // 4):],
                                    tok.encode(suffix)[:a.context // 4 - 4], a.fim_order)
            if task == 'fim-line':
                gold = lines[k]
                pred = first_line(prompt)
            else:
                gold = '\n'.join(lines[k:k + n]) + '\n'
                # the middle is everything up to EOS (the model must end it itself; the gold line count is not used).
                # Past 4 line ends the prediction can no longer match (middles have 1-3 lines), so decoding stops there.
                out = greedy(model, prompt, 96, stop=lambda t: t[-1] == tok.eos or tok.decode(t).count('\n') > 3)
                pred = tok.decode([t for t in out if t != tok.eos])
        results[task].append({'lang': f['lang'], 'model': scores(pred, gold), 'previous line': scores(base_prev, gold),
                              'frequent next line': scores(base_freq, gold)})

    summary = {}
    for task, rows in results.items():
        groups = {'all': rows}
        for r in rows:
            groups.setdefault(r['lang'], []).append(r)
        summary[task] = {}
        for g, rs in sorted(groups.items()):
            summary[task][g] = {'samples': len(rs)}
            for who in ('model', 'previous line', 'frequent next line'):
                summary[task][g][who] = {'exact_match': round(sum(r[who][0] for r in rs) / len(rs), 4),
                                         'edit_similarity': round(sum(r[who][1] for r in rs) / len(rs), 4)}
    report = {'ckpt': a.ckpt, 'step': step, 'seed': a.seed, 'tasks': a.tasks, 'samples': a.samples, 'context': a.context,
              'fim_order': a.fim_order, 'summary': summary,
              'seconds': round(time.time() - t0, 1), 'table_seconds': round(t_table, 1)}
    out = Path(a.out or Path(a.ckpt).parent / 'eval.json')
    out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == '__main__':
    main()
