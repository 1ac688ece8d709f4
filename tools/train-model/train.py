#!/usr/bin/env python3
"""Trains pie-code-tiny: a Llama-architecture model (model.py) on the corpus of prepare_data.py with the tokenizer of
train_tokenizer.py, on a mixture of fill-in-the-middle (PSM) and plain left-to-right examples.

  /usr/bin/python3 tools/train-model/train.py --preset smoke --out .cache/train-runs/smoke     # a few minutes, CPU
  nice -n 19 /usr/bin/python3 tools/train-model/train.py --preset cpu1h --threads 2      # the first model (68 min, f32)
  nice -n 19 /usr/bin/python3 tools/train-model/train.py --preset cpu-amx --threads 2    # the shipped model's first stage
  python3 tools/train-model/train.py --preset gpu --out runs/gpu --device cuda                  # the real run

Examples. Each file of the train split is cut at line ends into chunks of about --chunk-tokens tokens' worth of
characters (so that an example mostly fits one window); with probability --fim-rate a chunk becomes a FIM example,
split into prefix / middle / suffix (at any character, mid-token, as the editor's cursor does): for a share
--fim-lines of them the middle is what an editor asks for (one to three whole lines, or the rest of a line and up to
two more), for the others two uniformly random positions bound it. Each piece is tokenized on its own, and the example is
    BOS <|fim_prefix|> prefix <|fim_suffix|> suffix <|fim_middle|> middle EOS         (PSM order)
or, for a share --spm-rate of the FIM examples,
    BOS <|fim_prefix|> <|fim_suffix|> suffix <|fim_middle|> prefix middle EOS         (SPM order: the middle continues
                                                                                       the prefix as left to right does)
(bpe.fim_prompt, the layouts of session.ts); otherwise it is BOS text EOS. Windows of --seq-len + 1 tokens, no padding: each FIM example starts a window and lies
whole in it, the rest of the window is filled from the concatenated left-to-right examples (--pack fim-whole).
Everything is drawn from seeded generators (per data worker and epoch), so a run is reproducible from --seed.

Precision: bf16 autocast of the matrix products where the hardware has bf16 units (--precision auto): a CUDA GPU, or a
CPU with AMX / AVX512-BF16, where oneDNN (inside Debian's PyTorch 1.13) runs them 10-15x faster than f32 BLAS (measured
on this project's 2-core Sapphire Rapids machine: 1.7 TFLOP/s against 0.1-0.14). Weights, optimizer state, norms, RoPE
and the loss stay in f32.

Logs: <out>/log.csv (step, tokens, seconds, lr, train loss, held-out loss), <out>/ckpt.pt (latest; --resume continues
from it), <out>/config.json. Held-out loss: a fixed set of windows built the same way from the test split.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bpe  # noqa: E402
from model import Llama, ModelConfig, load_gguf_weights  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent.parent

# name -> (model config overrides, training overrides)
PRESETS = {
    # proves the loop and the export; minutes on one CPU core
    'smoke': (dict(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, ffn_dim=176, context_length=2048),
              dict(seq_len=256, batch_size=8, grad_accum=1, lr=3e-3, warmup=20, max_steps=300, max_minutes=5.0,
                   eval_interval=50, eval_windows=16)),
    # CPU, about 70 minutes on 2 shared cores (the first pie-code-tiny, which did not beat the baselines): 2.4M
    # parameters (4.8 MB as F16); 512-token windows for the first 75% of the time, then 1024-token windows
    'cpu1h': (dict(dim=192, n_layers=4, n_heads=6, n_kv_heads=2, ffn_dim=512, context_length=1024),
              dict(seq_len=512, batch_size=8, grad_accum=1, lr=3e-3, warmup=30, max_steps=100000, max_minutes=68.0,
                   eval_interval=100, eval_windows=24, schedule='time', seq_phases='1024@0.75')),
    # CPU with bf16 matrix units (AMX: Intel Sapphire Rapids and later), about 3.5 hours on 2 cores: 5.4M parameters
    # (11 MB as F16), head_dim 64 (4 query heads: the T x T attention scores, not the matrix products, are what costs
    # on a CPU); windows of 512 tokens, then 1024 from 70% of the time, then 2048 (the full context) from 90%. The
    # shipped model: this preset (200 minutes, --pack split), then a FIM stage from its checkpoint (see the README)
    'cpu-amx': (dict(dim=256, n_layers=6, n_heads=4, n_kv_heads=2, ffn_dim=688, context_length=2048),
                dict(seq_len=512, batch_size=16, grad_accum=1, lr=2e-3, warmup=200, max_steps=10**6, max_minutes=210.0,
                     eval_interval=250, eval_windows=48, schedule='time', seq_phases='1024@0.7,2048@0.9')),
    # CPU, hours: 5.4M parameters (11 MB as F16)
    'cpu': (dict(dim=256, n_layers=6, n_heads=4, n_kv_heads=2, ffn_dim=688, context_length=2048),
            dict(seq_len=512, batch_size=16, grad_accum=2, lr=2e-3, warmup=200, max_steps=20000, max_minutes=360.0,
                 eval_interval=250, eval_windows=64)),
    # one GPU, a few hours: 21.5M parameters (23 MB as Q8_0)
    'gpu': (dict(dim=512, n_layers=8, n_heads=8, n_kv_heads=2, ffn_dim=1152, context_length=2048),
            dict(seq_len=2048, batch_size=32, grad_accum=1, lr=1.5e-3, warmup=500, max_steps=30000, max_minutes=300.0,
                 eval_interval=500, eval_windows=256)),
}


def load_docs(path: Path, max_bytes: float | None) -> list[str]:
    docs, total = [], 0
    with open(path) as f:
        for line in f:
            t = json.loads(line)['text']
            docs.append(t)
            total += len(t)
            if max_bytes and total >= max_bytes:
                break
    return docs


def chunk_doc(text: str, max_chars: int, rng: random.Random) -> list[str]:
    """Cuts text at line ends into pieces of at most about max_chars (the first cut point is random, so the chunk
    boundaries move from epoch to epoch)."""
    if len(text) <= max_chars:
        return [text]
    out = []
    start = 0
    target = rng.randint(max_chars // 4, max_chars)
    while start < len(text):
        end = min(len(text), start + target)
        if end < len(text):
            nl = text.rfind('\n', start + 1, end)
            if nl > start:
                end = nl + 1
        out.append(text[start:end])
        start = end
        target = max_chars
    return out


def fim_span(text: str, rng: random.Random, line_frac: float, code_lines: bool = True) -> tuple[int, int]:
    """Where the middle of a FIM example starts and ends. With probability line_frac an editor's kind of middle: from
    the start of a random line, or from a random point inside it, to the end of that line or of one of the next two
    (newline included); otherwise two uniformly random points (the middle can be anything, even empty)."""
    if rng.random() < line_frac:
        starts = [0] + [i + 1 for i, c in enumerate(text) if c == '\n' and i + 1 < len(text)]
        if code_lines:  # from a line with code on it (not a blank line: there, a middle is often a lone newline)
            ends = [text.find('\n', i) for i in starts]
            starts = [i for i, e in zip(starts, ends) if text[i:e if e >= 0 else len(text)].strip()] or starts
        k = rng.randrange(len(starts))
        i = starts[k]
        j = i
        for _ in range(rng.randint(1, 3)):
            nl = text.find('\n', j)
            j = len(text) if nl < 0 else nl + 1
            if j == len(text):
                break
        if rng.random() < 0.5:
            eol = text.find('\n', i)
            i = rng.randint(i, len(text) if eol < 0 else eol)
        return i, j
    i, j = sorted((rng.randint(0, len(text)), rng.randint(0, len(text))))
    return i, j


def make_example(tok: bpe.Tokenizer, text: str, rng: random.Random, fim_rate: float, fim_lines: float,
                 code_lines: bool = True, spm_rate: float = 0.0) -> list[int]:
    if rng.random() < fim_rate and len(text) >= 2:
        i, j = fim_span(text, rng, fim_lines, code_lines)
        pre, mid, suf = text[:i], text[i:j], text[j:]
        # (no draw when spm_rate is 0: runs from before SPM existed reproduce)
        order = 'spm' if spm_rate > 0 and rng.random() < spm_rate else 'psm'
        return bpe.fim_prompt(tok, tok.encode(pre), tok.encode(suf), order) + tok.encode(mid) + [tok.eos]
    return [tok.bos] + tok.encode(text) + [tok.eos]


class Windows(torch.utils.data.IterableDataset):
    """Endless windows of seq_len + 1 tokens from shuffled, chunked, FIM-transformed documents."""

    def __init__(self, docs, tok, seq_len, chunk_chars, fim_rate, fim_lines, seed, start_epoch=0, shuffle_windows=256,
                 pack='fim-whole', short_chunks=0.0, spm_rate=0.0):
        super().__init__()
        self.pack, self.short_chunks, self.spm_rate = pack, short_chunks, spm_rate
        self.docs, self.tok, self.seq_len = docs, tok, seq_len
        self.chunk_chars, self.fim_rate, self.fim_lines = chunk_chars, fim_rate, fim_lines
        self.seed, self.start_epoch = seed, start_epoch
        self.shuffle_windows = shuffle_windows

    def _windows(self, wid: int, nw: int):
        buf: list[int] = []  # left-to-right tokens (and, with pack 'split', FIM examples too)
        fims: list[list[int]] = []  # FIM examples waiting for a window of their own
        n = self.seq_len + 1
        epoch = self.start_epoch
        while True:
            rng = random.Random(f'{self.seed}:{epoch}:{wid}')
            order = list(range(wid, len(self.docs), nw))
            rng.shuffle(order)
            for di in order:
                # a share of the files in chunks a quarter as long: FIM examples of a few hundred tokens, several to
                # a window (more middles, and more of their ends, per step)
                cc = self.chunk_chars // 4 if self.short_chunks and rng.random() < self.short_chunks else self.chunk_chars
                for chunk in chunk_doc(self.docs[di], cc, rng):
                    ex = make_example(self.tok, chunk, rng, self.fim_rate, self.fim_lines, self.pack != 'split', self.spm_rate)
                    if self.pack == 'split' or ex[1] != self.tok.fim_prefix:
                        buf.extend(ex)
                    elif len(ex) <= n:
                        fims.append(ex)
                    else:  # a FIM example longer than a window: its text goes left to right instead
                        buf.extend([self.tok.bos] + self.tok.encode(chunk) + [self.tok.eos])
                    # each FIM example starts a window (whole, so its middle sees all of its prefix and suffix); the
                    # rest of that window is filled from the stream of left-to-right examples
                    while fims:
                        k, size = 1, len(fims[0])  # FIM examples that fit one window together
                        while k < len(fims) and size + len(fims[k]) <= n:
                            size += len(fims[k])
                            k += 1
                        fill = n - size
                        if len(buf) < fill:
                            if len(fims) <= 64 or sum(map(len, fims[k:])) < fill - len(buf):
                                break  # wait for more left-to-right text
                            while len(buf) < fill:  # a backlog (--fim-rate near 1): later FIM examples are cut
                                buf.extend(fims.pop(k))
                        yield [t for f in fims[:k] for t in f] + buf[:fill]
                        del fims[:k]
                        buf = buf[fill:]
                    while len(buf) >= n:
                        yield buf[:n]
                        buf = buf[n:]
            epoch += 1

    def __iter__(self):
        """The windows through a shuffle buffer, so that the windows of one long file spread over many batches."""
        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        rng = random.Random(f'{self.seed}:shuffle:{self.start_epoch}:{wid}')
        pool: list[list[int]] = []
        for w in self._windows(wid, nw):
            if len(pool) < self.shuffle_windows:
                pool.append(w)
                continue
            i = rng.randrange(len(pool))
            out, pool[i] = pool[i], w
            yield torch.tensor(out, dtype=torch.long)


def heldout_windows(path: Path, tok, seq_len, chunk_chars, fim_rate, fim_lines, seed, n, pack,
                    short_chunks, spm_rate=0.0) -> torch.Tensor:
    docs = load_docs(path, None)
    rng = random.Random(f'{seed}:heldout')
    rng.shuffle(docs)
    it = iter(Windows(docs, tok, seq_len, chunk_chars, fim_rate, fim_lines, seed + 7919, pack=pack,
                      short_chunks=short_chunks, spm_rate=spm_rate))
    return torch.stack([next(it) for _ in range(n)])


def seq_phases(seq_len: int, spec: str) -> list[tuple[int, float]]:
    """[(window length, fraction of the run from which it is used)], first (seq_len, 0.0); spec "1024@0.7,2048@0.9"."""
    out = [(seq_len, 0.0)]
    for part in filter(None, (x.strip() for x in spec.split(','))):
        n, at = part.split('@')
        out.append((int(n), float(at)))
    assert all(b[1] > a[1] for a, b in zip(out, out[1:])), f'phases must start in order: {spec}'
    return out


def bf16_fast(device: torch.device) -> bool:
    """Whether bf16 matrix products beat f32 here: a CUDA GPU with bf16, or a CPU whose oneDNN has bf16 units."""
    if device.type == 'cuda':
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path('/proc/cpuinfo').read_text().split()
    except OSError:
        return False
    return torch.backends.mkldnn.is_available() and ('amx_bf16' in flags or 'avx512_bf16' in flags)


def progress(step: int, elapsed: float, a) -> float:
    """Fraction of the run done: by steps, or (--schedule time) by wall clock."""
    if a.schedule == 'time':
        return min(1.0, elapsed / (a.max_minutes * 60))
    return min(1.0, step / max(1, a.max_steps))


def lr_at(step: int, a, elapsed: float = 0.0) -> float:
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    if a.schedule == 'time':
        p = progress(step, elapsed, a)
    else:
        p = min(1.0, (step - a.warmup) / max(1, a.max_steps - a.warmup))
    return a.min_lr + 0.5 * (a.lr - a.min_lr) * (1 + math.cos(math.pi * p))


@torch.no_grad()
def evaluate(model, windows: torch.Tensor, device, bs: int, autocast, short: int) -> tuple[float, float]:
    """(mean loss over the first `short` positions of each window, mean loss over whole windows)."""
    model.eval()
    tot_s, tot_l, n = 0.0, 0.0, 0
    for i in range(0, len(windows), bs):
        w = windows[i:i + bs].to(device)
        with autocast():
            logits = model(w[:, :-1])
        ce = torch.nn.functional.cross_entropy(logits.float().transpose(1, 2), w[:, 1:], reduction='none')
        tot_s += ce[:, :short].mean(1).sum().item()
        tot_l += ce.mean(1).sum().item()
        n += len(w)
    model.train()
    return tot_s / max(1, n), tot_l / max(1, n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--preset', default='smoke', choices=sorted(PRESETS))
    ap.add_argument('--data', default=str(ROOT / '.cache/train-data'))
    ap.add_argument('--tokenizer', default=None, help='default: <data>/tokenizer.json')
    ap.add_argument('--out', default=None, help='default: .cache/train-runs/<preset>')
    ap.add_argument('--seed', type=int, default=1234)
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    ap.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    ap.add_argument('--num-workers', type=int, default=0, help='DataLoader workers (tokenization runs there)')
    ap.add_argument('--compile', action='store_true', help='torch.compile (PyTorch 2, GPU)')
    ap.add_argument('--resume', action='store_true')
    ap.add_argument('--data-epoch', type=int, default=0,
                    help='where the seeded data stream starts (a second stage starts at 1: a new shuffle and new FIM '
                         'splits of the same files; the held-out windows depend only on the FIM and packing options)')
    ap.add_argument('--init-from', default=None,
                    help='a checkpoint to start from (weights and optimizer state), or a GGUF of export_gguf.py (its '
                         'weights only), with a new run and schedule: a further stage, e.g. more fill-in-the-middle; '
                         'the model and tokenizer must be the same')
    ap.add_argument('--max-train-mb', type=float, default=None, help='read only the first MB of the train split')
    ap.add_argument('--fim-rate', type=float, default=0.5)
    ap.add_argument('--fim-lines', type=float, default=0.5,
                    help='share of the FIM examples whose middle is whole lines or the rest of a line and up to two '
                         'more (an editor\'s completion); the others split at two uniformly random points')
    ap.add_argument('--spm-rate', type=float, default=0.0,
                    help='share of the FIM examples in SPM order (the rest PSM); 0 draws nothing (older runs reproduce)')
    ap.add_argument('--chunk-tokens', type=int, default=None, help='default: seq_len')
    ap.add_argument('--ckpt-interval', type=int, default=None, help='default: eval_interval')
    for k in ('dim', 'n_layers', 'n_heads', 'n_kv_heads', 'ffn_dim', 'context_length'):
        ap.add_argument('--' + k.replace('_', '-'), type=int, default=None)
    ap.add_argument('--untied', action='store_true', help='a separate output matrix')
    for k, t in (('seq_len', int), ('batch_size', int), ('grad_accum', int), ('lr', float), ('warmup', int),
                 ('max_steps', int), ('max_minutes', float), ('eval_interval', int), ('eval_windows', int)):
        ap.add_argument('--' + k.replace('_', '-'), type=t, default=None)
    ap.add_argument('--min-lr', type=float, default=None, help='default: lr / 10')
    ap.add_argument('--schedule', choices=('steps', 'time'), default=None,
                    help='cosine decay over --max-steps (steps) or over --max-minutes of wall clock (time: for a fixed '
                         'time budget on a shared machine; the run then stops at --max-minutes)')
    ap.add_argument('--seq-phases', default=None,
                    help='longer windows later in the run: "LEN@P,..." switches to windows of LEN tokens once a '
                         'fraction P of the run is done (the batch shrinks to keep the tokens per step); the held-out '
                         'set uses the longest LEN')
    ap.add_argument('--precision', choices=('auto', 'f32', 'bf16'), default='auto',
                    help='bf16 autocast for the matrix products (f32 weights, optimizer and norms); auto: bf16 on a '
                         'GPU that has it, and on a CPU with bf16 matrix units (AMX or AVX512-BF16, through oneDNN)')
    ap.add_argument('--pack', choices=('fim-whole', 'split'), default='fim-whole',
                    help='fim-whole: each FIM example starts a window and lies whole in it (the rest of the window '
                         'from left-to-right examples); split: all examples concatenated and cut anywhere, and line '
                         'middles from any line, blank ones too (the first stage of the shipped model, reproduced '
                         'exactly; half its FIM middles lost their prefix to the previous window)')
    ap.add_argument('--short-chunks', type=float, default=0.0,
                    help='the share of files cut into chunks a quarter of --chunk-tokens long')
    ap.add_argument('--weight-decay', type=float, default=0.1)
    a = ap.parse_args()

    mc, tc = PRESETS[a.preset]
    for k, v in tc.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    for k, v in (('schedule', 'steps'), ('seq_phases', '')):
        if getattr(a, k) is None:
            setattr(a, k, v)
    if a.min_lr is None:
        a.min_lr = a.lr / 10
    if a.ckpt_interval is None:
        a.ckpt_interval = a.eval_interval
    data = Path(a.data)
    tok = bpe.Tokenizer.load(a.tokenizer or data / 'tokenizer.json')
    cfg = ModelConfig(vocab_size=tok.vocab_size, **{k: (getattr(a, k) if getattr(a, k) is not None else v)
                                                    for k, v in mc.items()})
    cfg.tie_embeddings = not a.untied
    assert a.seq_len <= cfg.context_length
    out = Path(a.out or ROOT / '.cache/train-runs' / a.preset)
    out.mkdir(parents=True, exist_ok=True)

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    device = torch.device(a.device)
    phases = seq_phases(a.seq_len, a.seq_phases)
    use_bf16 = a.precision == 'bf16' or (a.precision == 'auto' and bf16_fast(device))
    print(f'precision: {"bf16 autocast" if use_bf16 else "f32"} on {device}', file=sys.stderr)

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)

    model = Llama(cfg).to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': a.weight_decay}, {'params': no_decay, 'weight_decay': 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8)
    step, tokens_seen, elapsed0 = 0, 0, 0.0
    ckpt_path = out / 'ckpt.pt'
    if a.resume and ckpt_path.is_file():
        ck = torch.load(ckpt_path, map_location=device)
        model.load_state_dict(ck['model'])
        opt.load_state_dict(ck['optimizer'])
        step, tokens_seen, elapsed0 = ck['step'], ck['tokens'], ck['seconds']
        print(f'resumed from step {step}', file=sys.stderr)
    elif a.init_from and a.init_from.endswith('.gguf'):
        # an exported model (e.g. the shipped models/pie-code-tiny.gguf): its weights, rounded as stored; a new optimizer
        md = load_gguf_weights(model, a.init_from)
        assert md['tokenizer.ggml.merges'] == tok.merges, f'{a.init_from} has another tokenizer'
        print(f'starting from the weights of {a.init_from} (a new optimizer)', file=sys.stderr)
    elif a.init_from:
        ck = torch.load(a.init_from, map_location=device)
        assert ck['config'] == cfg.to_dict(), f'{a.init_from} is another model: {ck["config"]} != {cfg.to_dict()}'
        assert ck['tokenizer']['merges'] == tok.merges, f'{a.init_from} has another tokenizer'
        model.load_state_dict(ck['model'])
        opt.load_state_dict(ck['optimizer'])
        print(f'starting from {a.init_from} (its step {ck["step"]}, {ck["tokens"]:,} tokens)', file=sys.stderr)
    fwd = torch.compile(model) if a.compile else model

    t0 = time.time()
    chunk_chars = int((a.chunk_tokens or a.seq_len) * 3.0)
    docs = load_docs(data / 'train.jsonl', a.max_train_mb * 1e6 if a.max_train_mb else None)
    long_len = max(n for n, _ in phases)
    assert long_len <= cfg.context_length
    val = heldout_windows(data / 'test.jsonl', tok, long_len, int((a.chunk_tokens or long_len) * 3.0), a.fim_rate,
                          a.fim_lines, a.seed, a.eval_windows, a.pack, a.short_chunks, a.spm_rate)
    print(f'{len(docs)} train files, {sum(map(len, docs)) / 1e6:.1f} M chars; {len(val)} held-out windows; '
          f'model {model.num_params() / 1e6:.2f} M parameters ({time.time() - t0:.1f}s)', file=sys.stderr)
    def make_loader(seq_len: int, batch_size: int, epoch: int):
        cc = int((a.chunk_tokens or seq_len) * 3.0)
        ds = Windows(docs, tok, seq_len, cc, a.fim_rate, a.fim_lines, a.seed, start_epoch=epoch, pack=a.pack,
                     short_chunks=a.short_chunks, spm_rate=a.spm_rate)
        return iter(torch.utils.data.DataLoader(ds, batch_size=batch_size, num_workers=a.num_workers,
                                                pin_memory=device.type == 'cuda', persistent_workers=a.num_workers > 0))

    phase, it = -1, None

    config = {'model': cfg.to_dict(), 'train': {k: v for k, v in vars(a).items()}, 'torch': torch.__version__,
              'device': str(device), 'params': model.num_params(), 'tokenizer_vocab': tok.vocab_size}
    (out / 'config.json').write_text(json.dumps(config, indent=1))
    new_log = not (a.resume and (out / 'log.csv').is_file())
    logf = open(out / 'log.csv', 'w' if new_log else 'a', newline='')
    log = csv.writer(logf)
    if new_log:
        log.writerow(['step', 'tokens', 'seconds', 'lr', 'train_loss', 'heldout_loss', 'tokens_per_s', 'seq_len',
                      'heldout_loss_long'])

    def save():
        torch.save({'model': model.state_dict(), 'optimizer': opt.state_dict(), 'config': cfg.to_dict(), 'step': step,
                    'tokens': tokens_seen, 'seconds': elapsed0 + time.time() - t_start,
                    'tokenizer': {'tokens': tok.tokens, 'token_type': tok.token_type, 'merges': tok.merges,
                                  'special': tok.special, 'pre': tok.pre},
                    'args': vars(a)}, str(ckpt_path) + '.tmp')
        os.replace(str(ckpt_path) + '.tmp', ckpt_path)

    t_start = time.time()
    t_last, tok_last = t_start, tokens_seen
    model.train()
    while step < a.max_steps:
        elapsed = time.time() - t_start + elapsed0
        p = progress(step, elapsed, a)
        now_phase = max(i for i, (_, start) in enumerate(phases) if p >= start)
        if now_phase != phase:  # a new stream at each phase, and on resume
            phase = now_phase
            n = phases[phase][0]
            bs = max(1, a.batch_size * a.seq_len // n)
            print(f'step {step}: windows of {n} tokens, batch {bs}', file=sys.stderr)
            it = make_loader(n, bs, a.data_epoch + (step if phase == 0 else 10_000 * phase + step))
        lr = lr_at(step, a, elapsed)
        for g in opt.param_groups:
            g['lr'] = lr
        loss_sum = 0.0
        for _ in range(a.grad_accum):
            batch = next(it).to(device, non_blocking=True)
            with autocast():
                _, loss = fwd(batch[:, :-1], batch[:, 1:])
            (loss / a.grad_accum).backward()
            loss_sum += loss.item() / a.grad_accum
            tokens_seen += batch[:, 1:].numel()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        elapsed = time.time() - t_start
        done = step >= a.max_steps or elapsed0 + elapsed > a.max_minutes * 60
        held, held_long = '', ''
        if step % a.eval_interval == 0 or done or step == 1:
            hs, hl = evaluate(model, val, device, max(1, a.batch_size // 2), autocast, a.seq_len)
            held, held_long = f'{hs:.4f}', f'{hl:.4f}'
        if step % 10 == 0 or held or done:
            now = time.time()
            tps = (tokens_seen - tok_last) / max(1e-9, now - t_last)
            t_last, tok_last = now, tokens_seen
            log.writerow([step, tokens_seen, f'{elapsed0 + elapsed:.1f}', f'{lr:.3e}', f'{loss_sum:.4f}', held,
                          f'{tps:.0f}', batch.shape[1] - 1, held_long])
            logf.flush()
            print(f'step {step} loss {loss_sum:.4f}' + (f' held-out {held} (long {held_long})' if held else '') +
                  f' lr {lr:.2e} {tps:.0f} tok/s {elapsed:.0f}s', file=sys.stderr)
        if step % a.ckpt_interval == 0 or done:
            save()
        if done:
            break
    logf.close()
    print(json.dumps({'steps': step, 'tokens': tokens_seen, 'seconds': round(elapsed0 + time.time() - t_start, 1),
                      'params': model.num_params(), 'out': str(out)}))


if __name__ == '__main__':
    main()
