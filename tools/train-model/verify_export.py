#!/usr/bin/env python3
"""Checks an exported GGUF against the PyTorch checkpoint it came from, in our engine and in llama.cpp.

  /usr/bin/python3 tools/train-model/verify_export.py --ckpt RUN/ckpt.pt --gguf RUN/model.gguf [--out RUN/verify]

1. The file reads back (read_gguf): every tensor equals what the export meant to store (F16/Q8_0 rounding included).
2. Tokenizer: our Python BPE's ids equal our engine's (`node dist/cli.js tokenize --batch`) and llama.cpp's
   (node-llama-cpp tokenize) on held-out files of the test split and on awkward strings (Unicode, digits, spaces, CRLF).
3. Logits at every position of sequences (a held-out file in plain order, a held-out file as a FIM example in PSM and in SPM order, a short
   prompt): PyTorch in float64 with the weights the file holds (and the RoPE angles rounded to float32 as llama.cpp and
   the engine compute them: model.rope_tables), against our engine (WebGPU) and llama.cpp (CPU, f32 KV cache), through engine_logits.ts. Metric as in test/gpu/oracle.test.ts: per position max|a - b| / max|b|, the worst
   position reported; also the largest absolute difference and argmax mismatches.
4. Greedy continuations of 16 tokens agree (PyTorch, engine, llama.cpp), and `node dist/cli.js generate --prompt "def "
   --max-tokens 10 --json` runs and gives PyTorch's greedy tokens.
Writes <out>/verify.json and prints a summary; exits 1 when a check fails.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bpe  # noqa: E402
from export_gguf import read_gguf, stored_weight  # noqa: E402
from model import gguf_tensors, load_checkpoint  # noqa: E402

ROOT = HERE.parent.parent
TOL_REF = 1e-5     # engine vs float64 reference (docs/engine.md)
TOL_LLAMA = 5e-3   # engine vs llama.cpp, F32/F16 (docs/engine.md)
TOL_LLAMA_Q8 = 3e-2

AWKWARD = [
    'def f(x):\r\n\treturn x**2  # ok\r\n',
    'const π = 3.14159; let ñame = "héllo wörld"; // ünïcödé',
    'x = 1234567890 + 0.5e-10 - 0x1F\n\n\n    \n',
    '   leading spaces and trailing   \n\t\t tabs\t\n',
    "it's we're they've I'm you'll he'd IT'S",
    '中文注释 = "日本語テキスト" # 한국어\n',
    'emoji = "😀🎉👍🏽" + "\u200b\u00a0"\n',
    'if (a&&b||!c) { return a?.b ?? c; } // => <= >= !== ===\n',
    '',
    ' ',
    '\n',
]


def relative_worst(ours: np.ndarray, ref: np.ndarray) -> tuple[float, float, int]:
    """(worst per-position max|a-b|/max|b|, max |a-b|, argmax mismatches)."""
    diff = np.abs(ours - ref).max(axis=1)
    scale = np.abs(ref).max(axis=1)
    mism = int((ours.argmax(axis=1) != ref.argmax(axis=1)).sum())
    return float((diff / scale).max()), float(diff.max()), mism


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--ckpt', required=True)
    ap.add_argument('--gguf', required=True)
    ap.add_argument('--data', default=str(ROOT / '.cache/train-data'))
    ap.add_argument('--out', default=None, help='default: <gguf dir>/verify')
    ap.add_argument('--seq-len', type=int, default=1024)
    ap.add_argument('--tokenizer-files', type=int, default=300, help='held-out files for the tokenizer check')
    ap.add_argument('--seed', type=int, default=1234)
    ap.add_argument('--no-llama', action='store_true')
    a = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(a.out or Path(a.gguf).parent / 'verify')
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {'gguf': a.gguf, 'ckpt': a.ckpt}
    ok = True
    t0 = time.time()

    cfg, tok, model, _ = load_checkpoint(a.ckpt)

    # 1. read back
    md, tensors = read_gguf(a.gguf)
    dtype = {0: 'f32', 1: 'f16', 7: 'q8_0'}[md['general.file_type']]
    worst_rb = 0.0
    for name, p in gguf_tensors(model):
        want, _ = stored_weight(p.detach().float().numpy(), name, dtype)
        got, _ = tensors[name]
        assert got.shape == want.shape, f'{name}: shape {got.shape} != {want.shape}'
        worst_rb = max(worst_rb, float(np.abs(got - want).max()))
        p.data = torch.from_numpy(got.copy())  # the reference uses exactly the file's weights
    report['readback_max_abs_diff'] = worst_rb
    report['dtype'] = dtype
    report['metadata'] = {k: v for k, v in md.items() if not isinstance(v, list)}
    ok &= worst_rb == 0.0
    ref_model = model.double().eval()
    ref_model.ggml_angles = True  # float64 throughout, but the RoPE angles rounded as llama.cpp and the engine do

    # held-out texts
    rows = [json.loads(l) for l in open(Path(a.data) / 'test.jsonl')]
    rng = random.Random(a.seed)
    rng.shuffle(rows)
    texts = [r['text'] for r in rows if '<|' not in r['text']][:a.tokenizer_files]
    tok_texts = texts + AWKWARD

    # 2a. engine tokenizer (the CLI)
    py_ids = [tok.encode(t) for t in tok_texts]
    # stdout to a file: piped, the CLI's output is cut at 64 KiB (it exits before the pipe drains)
    (out / 'tokenize-in.json').write_text(json.dumps(tok_texts))
    with open(out / 'tokenize-in.json') as fin, open(out / 'tokenize-out.json', 'w') as fout:
        r = subprocess.run(['node', 'dist/cli.js', 'tokenize', '--model', a.gguf, '--json', '--batch'], cwd=ROOT,
                           stdin=fin, stdout=fout, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise SystemExit(f'pie tokenize failed: {r.stderr[-2000:]}')
    eng_ids = json.loads((out / 'tokenize-out.json').read_text().strip().splitlines()[-1])['ids']
    mism = [i for i in range(len(tok_texts)) if eng_ids[i] != py_ids[i]]
    report['tokenizer_engine'] = {'texts': len(tok_texts), 'tokens': sum(map(len, py_ids)), 'mismatches': len(mism),
                                  'mismatched': [tok_texts[i][:80] for i in mism[:5]]}
    ok &= not mism

    # 3. sequences
    L = a.seq_len
    long_texts = [t for t in texts if len(t) > 4 * L] or texts
    plain = [tok.bos] + tok.encode(long_texts[0])
    ft = long_texts[1] if len(long_texts) > 1 else texts[1]
    i, j = len(ft) // 3, len(ft) // 3 + min(200, len(ft) // 3)
    pre, suf, mid = tok.encode(ft[:i])[-(L // 2):], tok.encode(ft[j:])[:L // 4], tok.encode(ft[i:j])
    fim = bpe.fim_prompt(tok, pre, suf, 'psm') + mid
    spm = bpe.fim_prompt(tok, pre, suf, 'spm') + mid
    prompt = [tok.bos] + tok.encode('def ')
    seqs = [plain[:L], fim[:L], spm[:L], prompt]
    job = {'sequences': seqs, 'texts': tok_texts}
    (out / 'job.json').write_text(json.dumps(job))
    cmd = ['node', '--import', './scripts/register.mjs', str(HERE / 'engine_logits.ts'), '--model', a.gguf,
           '--in', str(out / 'job.json'), '--out', str(out)] + (['--no-llama'] if a.no_llama else [])
    t1 = time.time()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    report['engine_seconds'] = round(time.time() - t1, 1)
    if r.returncode != 0:
        raise SystemExit(f'engine_logits.ts failed: {r.stdout[-1000:]} {r.stderr[-3000:]}')
    res = json.loads((out / 'result.json').read_text())
    report['device'] = res.get('device')
    V = cfg.vocab_size
    report['logits'] = []
    with torch.no_grad():
        for k, s in enumerate(seqs):
            ref = ref_model(torch.tensor([s]))[0].numpy()
            ours = np.fromfile(out / f'ours-{k}.f32', dtype='<f4').reshape(len(s), V).astype(np.float64)
            row = {'sequence': ['held-out plain', 'held-out FIM (PSM)', 'held-out FIM (SPM)', '"def " prompt'][k], 'tokens': len(s)}
            row['engine_vs_torch'] = dict(zip(('relative', 'max_abs', 'argmax_mismatches'), relative_worst(ours, ref)))
            ok &= row['engine_vs_torch']['relative'] <= TOL_REF
            lf = out / f'llama-{k}.f32'
            if lf.is_file():
                lc = np.fromfile(lf, dtype='<f4').reshape(len(s), V).astype(np.float64)
                row['llama_vs_torch'] = dict(zip(('relative', 'max_abs', 'argmax_mismatches'), relative_worst(lc, ref)))
                row['engine_vs_llama'] = dict(zip(('relative', 'max_abs', 'argmax_mismatches'), relative_worst(ours, lc)))
                ok &= row['engine_vs_llama']['relative'] <= (TOL_LLAMA_Q8 if dtype == 'q8_0' else TOL_LLAMA)
            report['logits'].append(row)

        # 4. greedy continuations
        def greedy(seq: list[int], n: int) -> list[int]:
            s = list(seq)
            for _ in range(n):
                s.append(int(ref_model(torch.tensor([s]))[0, -1].argmax()))
            return s[len(seq):]
        tg = greedy(seqs[0], 16)
        def divergence(other: list[int] | None, tol: float) -> dict:
            """Where `other` first leaves PyTorch's greedy tokens, and whether that is a near tie: PyTorch's margin
            between its token and the other's is within 2 x tol x max|logit| (the logit tolerance of that engine)."""
            if other is None:
                return {'equal': False, 'missing': True}
            k = next((i for i in range(min(len(tg), len(other))) if tg[i] != other[i]), None)
            if k is None:
                return {'equal': len(other) == len(tg), 'near_tie': False}
            lg = ref_model(torch.tensor([seqs[0] + tg[:k]]))[0, -1]
            margin = float(lg[tg[k]] - lg[other[k]])
            return {'equal': False, 'first_difference': k, 'torch_margin': margin,
                    'near_tie': margin <= 2 * tol * float(lg.abs().max())}
        div_engine = divergence(res.get('oursGreedy'), TOL_REF)
        div_llama = divergence(res.get('llamaGreedy'), TOL_LLAMA_Q8 if dtype == 'q8_0' else TOL_LLAMA)
    report['greedy'] = {'torch': tg, 'engine': res.get('oursGreedy'), 'llama': res.get('llamaGreedy'),
                        'engine_vs_torch': div_engine, 'llama_vs_torch': div_llama}
    ok &= div_engine['equal'] or div_engine.get('near_tie', False)

    # 2b. llama.cpp
    report['llama_loaded'] = res.get('llamaLoaded')
    if res.get('llamaError'):
        report['llama_error'] = res['llamaError']
    if res.get('llamaLoaded'):
        lids = res['llamaIds']
        lm = [i for i in range(len(tok_texts)) if lids[i] != py_ids[i]]
        report['tokenizer_llama'] = {'texts': len(tok_texts), 'mismatches': len(lm),
                                     'mismatched': [tok_texts[i][:80] for i in lm[:5]]}
        report['llama_info'] = res.get('llamaInfo')
        ok &= not lm and (div_llama['equal'] or div_llama.get('near_tie', False))
    elif not a.no_llama:
        ok = False

    # 4b. the CLI
    r = subprocess.run(['node', 'dist/cli.js', 'generate', '--model', a.gguf, '--prompt', 'def ', '--max-tokens', '10',
                        '--json'], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        report['cli_generate'] = {'error': r.stderr[-1000:]}
        ok = False
    else:
        g = json.loads(r.stdout.strip().splitlines()[-1])
        with torch.no_grad():
            want = greedy(prompt, 10)
        eos_cut = want[:want.index(tok.eos)] if tok.eos in want else want
        report['cli_generate'] = {'text': g.get('text'), 'tokens': g.get('tokens'), 'torch_greedy': want,
                                  'promptTokens': g.get('promptTokens'), 'device': g.get('device')}
        toks = g.get('tokens')
        if isinstance(toks, list):
            ok &= toks == eos_cut[:len(toks)] and len(toks) == len(eos_cut)
    report['ok'] = bool(ok)
    report['seconds'] = round(time.time() - t0, 1)
    (out / 'verify.json').write_text(json.dumps(report, indent=1, ensure_ascii=False))
    print(json.dumps({k: report[k] for k in ('ok', 'dtype', 'readback_max_abs_diff', 'tokenizer_engine', 'logits',
                                             'greedy', 'llama_loaded', 'cli_generate', 'seconds')
                      if k in report} | ({'tokenizer_llama': report['tokenizer_llama']} if 'tokenizer_llama' in report
                                         else {}) | ({'llama_error': report['llama_error']} if 'llama_error' in report
                                                     else {}), indent=1, ensure_ascii=False))
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()
