#!/usr/bin/env python3
"""Trains the byte-level BPE tokenizer of pie-code-tiny on (a seeded sample of) the train split.

  /usr/bin/python3 tools/train-model/train_tokenizer.py [--data .cache/train-data] [--vocab 4096] [--sample-mb 32]

Vocabulary: ids 0-5 the special tokens of bpe.SPECIAL_TOKENS (EOS, BOS, FIM prefix/middle/suffix/pad; GGUF control
tokens), ids 6-261 the 256 bytes, then one token per merge up to --vocab. Text is split with the 'qwen2' pre-tokenizer
(bpe.PRE_REGEX) first and pairs are counted only inside its pieces. Each step merges the most frequent pair (ties: the
smaller pair of ids, so the result depends only on the data and the seed). Writes <data>/tokenizer.json and prints
statistics, including bytes per token on the held-out split.
"""
from __future__ import annotations

import argparse
import hashlib
import heapq
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bpe  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent.parent


def sample_texts(path: Path, seed: int, max_bytes: int) -> list[str]:
    """A seeded sample of the files of a jsonl split, up to max_bytes (files taken in hash order)."""
    rows = []
    with open(path) as f:
        for line in f:
            d = json.loads(line)
            h = hashlib.sha256(f'{seed}:{d["pkg"]}/{d["path"]}'.encode()).digest()
            rows.append((h, d['text']))
    rows.sort(key=lambda r: r[0])
    out, total = [], 0
    for _, t in rows:
        n = len(t.encode('utf-8'))
        if total + n > max_bytes:
            continue
        out.append(t)
        total += n
    return out


def train(texts: list[str], n_merges: int, log_every: int = 500) -> list[tuple[str, str]]:
    t0 = time.time()
    counts = Counter()
    for t in texts:
        counts.update(bpe.PRE.findall(t))
    print(f'pre-tokenized: {sum(counts.values())} pieces, {len(counts)} distinct ({time.time() - t0:.1f}s)', file=sys.stderr)

    # symbols: strings in the byte alphabet; words: lists of symbol ids
    sym_of: list[str] = [bpe.BYTE_TO_CHAR[b] for b in range(256)]
    id_of = {s: i for i, s in enumerate(sym_of)}
    words: list[list[int]] = []
    freqs: list[int] = []
    for piece, c in counts.items():
        w = [id_of[ch] for ch in bpe.to_byte_chars(piece)]
        if len(w) > 1:
            words.append(w)
            freqs.append(c)
    pair_count: dict[tuple[int, int], int] = defaultdict(int)
    where: dict[tuple[int, int], set[int]] = defaultdict(set)
    for wi, w in enumerate(words):
        f = freqs[wi]
        for a, b in zip(w, w[1:]):
            pair_count[(a, b)] += f
            where[(a, b)].add(wi)
    heap = [(-c, p) for p, c in pair_count.items()]
    heapq.heapify(heap)

    merges: list[tuple[str, str]] = []
    while len(merges) < n_merges and heap:
        negc, pair = heapq.heappop(heap)
        c = pair_count.get(pair, 0)
        if c != -negc:
            if c > 0:
                heapq.heappush(heap, (-c, pair))  # stale entry: put the current count back
            continue
        if c <= 0:
            break
        a, b = pair
        new = len(sym_of)
        sym_of.append(sym_of[a] + sym_of[b])
        merges.append((sym_of[a], sym_of[b]))
        changed: set[tuple[int, int]] = set()
        for wi in list(where[pair]):
            w = words[wi]
            f = freqs[wi]
            for p in zip(w, w[1:]):
                pair_count[p] -= f
                changed.add(p)
            out = []
            i = 0
            while i < len(w):
                if i < len(w) - 1 and w[i] == a and w[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            for p in zip(w, w[1:]):
                where[p].discard(wi)
            words[wi] = out
            for p in zip(out, out[1:]):
                pair_count[p] += f
                where[p].add(wi)
                changed.add(p)
        for p in changed:
            cnt = pair_count[p]
            if cnt > 0:
                heapq.heappush(heap, (-cnt, p))
            else:
                pair_count.pop(p, None)
                where.pop(p, None)
        if len(merges) % log_every == 0:
            print(f'  merge {len(merges)}: {sym_of[new]!r} x{c} ({time.time() - t0:.1f}s)', file=sys.stderr)
    return merges


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', default=str(ROOT / '.cache/train-data'))
    ap.add_argument('--out', default=None, help='default: <data>/tokenizer.json')
    ap.add_argument('--vocab', type=int, default=4096)
    ap.add_argument('--sample-mb', type=float, default=32.0)
    ap.add_argument('--seed', type=int, default=1234)
    args = ap.parse_args()
    data = Path(args.data)
    t0 = time.time()
    texts = sample_texts(data / 'train.jsonl', args.seed, int(args.sample_mb * 1e6))
    sample_bytes = sum(len(t.encode('utf-8')) for t in texts)
    print(f'sample: {len(texts)} files, {sample_bytes / 1e6:.1f} MB', file=sys.stderr)
    n_special = len(bpe.SPECIAL_TOKENS)
    n_merges = args.vocab - n_special - 256
    merges = train(texts, n_merges)
    t_train = time.time() - t0

    tokens = [t for _, t in bpe.SPECIAL_TOKENS] + [bpe.BYTE_TO_CHAR[b] for b in range(256)] + [a + b for a, b in merges]
    token_type = [bpe.TOKEN_CONTROL] * n_special + [bpe.TOKEN_NORMAL] * (len(tokens) - n_special)
    special = {role: i for i, (role, _) in enumerate(bpe.SPECIAL_TOKENS)}
    # a merge result equal to an earlier token text cannot happen in byte-level BPE (each merge makes a new string)
    assert len(set(tokens)) == len(tokens), 'duplicate token text'
    tok = bpe.Tokenizer(tokens, token_type, [f'{a} {b}' for a, b in merges], special)

    # statistics: bytes per token on a held-out sample and on a train sample
    def bpt(texts_: list[str]) -> tuple[float, int, int]:
        nb = sum(len(t.encode('utf-8')) for t in texts_)
        nt = sum(len(tok.encode(t)) for t in texts_)
        return nb / max(1, nt), nb, nt
    t1 = time.time()
    test_texts = sample_texts(data / 'test.jsonl', args.seed, 4_000_000)
    by_lang = defaultdict(list)
    with open(data / 'test.jsonl') as f:
        for line in f:
            d = json.loads(line)
            by_lang[d['lang']].append(d['text'])
    stats = {
        'vocab': len(tokens), 'merges': len(merges), 'pre': bpe.PRE_NAME, 'seed': args.seed,
        'sample_files': len(texts), 'sample_bytes': sample_bytes, 'train_seconds': round(t_train, 1),
        'heldout_bytes_per_token': round(bpt(test_texts)[0], 3),
        'heldout_bytes_per_token_by_lang': {k: round(bpt(v[:400])[0], 3) for k, v in sorted(by_lang.items())},
        'longest_tokens': sorted(tokens[n_special:], key=lambda t: -len(t))[:10],
    }
    print(f'encode stats took {time.time() - t1:.1f}s', file=sys.stderr)
    out = Path(args.out) if args.out else data / 'tokenizer.json'
    tok.save(out, stats)
    print(json.dumps(stats, ensure_ascii=False, indent=1))
    print(f'wrote {out}: {len(tokens)} tokens ({len(merges)} merges) in {time.time() - t0:.1f}s')


if __name__ == '__main__':
    main()
