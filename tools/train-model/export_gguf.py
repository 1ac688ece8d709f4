#!/usr/bin/env python3
"""Writes a trained pie-code-tiny checkpoint as a GGUF v3 file that llama.cpp and our engine load.

  /usr/bin/python3 tools/train-model/export_gguf.py --ckpt RUN/ckpt.pt --out model.gguf [--dtype f16|f32|q8_0]
  /usr/bin/python3 tools/train-model/export_gguf.py --vocab-only --tokenizer tokenizer.json --out vocab.gguf

Our own writer (no gguf package is installable offline here), following llama.cpp's gguf spec (ggml/docs/gguf.md):
little-endian header "GGUF", version 3, tensor and key-value counts; key-values; tensor infos (name, dims innermost
first, type, offset); tensor data aligned to 32 bytes.

Metadata: general.architecture = llama and the llama.* keys llama.cpp's llama loader reads; the tokenizer as a GGUF
'gpt2' (byte-level BPE) vocabulary with tokenizer.ggml.pre = qwen2, token types (control for the special tokens), merges,
bos/eos/padding ids, and the FIM ids under llama.cpp's key names tokenizer.ggml.fim_pre_token_id / fim_suf_token_id /
fim_mid_token_id / fim_pad_token_id (our src/engine/model/tokenizer.ts reads these, and the older prefix/suffix/middle
names). add_bos_token = true: both engines then start a prompt with BOS, as training did.

Tensors: llama.cpp's names (model.gguf_tensors); norms in F32; matrices in --dtype (F16 default; Q8_0 is llama.cpp's
block format: 32 weights share one f16 scale d = max|w|/127, q = round(w/d) half away from zero). Wq and Wk are written
unpermuted because the model was trained with the interleaved RoPE pairs of GGUF llama (see model.py).
"""
from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bpe  # noqa: E402

# the format's constants, and read_gguf for the checks (model.py, verify_export.py import it from here)
from gguf_read import (ALIGNMENT, GGML_F16, GGML_F32, GGML_Q8_0, GGUF_MAGIC, T_ARRAY, T_BOOL, T_FLOAT32,  # noqa: E402,F401
                       T_FLOAT64, T_INT8, T_INT16, T_INT32, T_INT64, T_STRING, T_UINT8, T_UINT16, T_UINT32, T_UINT64,
                       read_gguf)

GGUF_VERSION = 3
# llama_ftype (general.file_type)
FILE_TYPE = {'f32': 0, 'f16': 1, 'q8_0': 7}


class U32(int):
    pass


class I32(int):
    pass


class F32(float):
    pass


class GGUFWriter:
    def __init__(self):
        self.kv: list[tuple[str, int, object]] = []
        self.tensors: list[tuple[str, tuple[int, ...], int, bytes]] = []

    # metadata -------------------------------------------------------------------------------------------------------
    def add(self, key: str, value, vtype: int | None = None, elem_type: int | None = None) -> None:
        if vtype is None:
            if isinstance(value, bool):
                vtype = T_BOOL
            elif isinstance(value, U32):
                vtype = T_UINT32
            elif isinstance(value, I32):
                vtype = T_INT32
            elif isinstance(value, int):
                vtype = T_UINT32 if value >= 0 else T_INT32
            elif isinstance(value, float):
                vtype = T_FLOAT32
            elif isinstance(value, str):
                vtype = T_STRING
            elif isinstance(value, (list, tuple)):
                vtype = T_ARRAY
            else:
                raise TypeError(f'{key}: cannot store {type(value)}')
        if vtype == T_ARRAY and elem_type is None:
            v0 = value[0]
            elem_type = T_STRING if isinstance(v0, str) else T_INT32 if isinstance(v0, int) else T_FLOAT32
        self.kv.append((key, vtype, (value, elem_type)))

    def add_tensor(self, name: str, data: np.ndarray, ggml_type: int) -> None:
        """data: numpy array in row-major (PyTorch) layout; GGUF dims are its shape reversed."""
        dims = tuple(int(d) for d in reversed(data.shape))
        if ggml_type == GGML_F32:
            raw = np.ascontiguousarray(data, dtype='<f4').tobytes()
        elif ggml_type == GGML_F16:
            raw = np.ascontiguousarray(data, dtype='<f2').tobytes()
        elif ggml_type == GGML_Q8_0:
            raw = quantize_q8_0(data)
        else:
            raise ValueError(ggml_type)
        self.tensors.append((name, dims, ggml_type, raw))

    # encoding -------------------------------------------------------------------------------------------------------
    @staticmethod
    def _str(s: str) -> bytes:
        b = s.encode('utf-8')
        return struct.pack('<Q', len(b)) + b

    def _scalar(self, vtype: int, v) -> bytes:
        fmt = {T_UINT8: '<B', T_INT8: '<b', T_UINT16: '<H', T_INT16: '<h', T_UINT32: '<I', T_INT32: '<i',
               T_FLOAT32: '<f', T_BOOL: '<?', T_UINT64: '<Q', T_INT64: '<q', T_FLOAT64: '<d'}
        if vtype == T_STRING:
            return self._str(v)
        return struct.pack(fmt[vtype], v)

    def write(self, path: str | Path) -> int:
        out = bytearray()
        out += GGUF_MAGIC + struct.pack('<IQQ', GGUF_VERSION, len(self.tensors), len(self.kv))
        for key, vtype, (value, elem_type) in self.kv:
            out += self._str(key) + struct.pack('<I', vtype)
            if vtype == T_ARRAY:
                out += struct.pack('<IQ', elem_type, len(value))
                if elem_type == T_INT32:
                    out += np.asarray(value, dtype='<i4').tobytes()
                elif elem_type == T_FLOAT32:
                    out += np.asarray(value, dtype='<f4').tobytes()
                else:
                    for v in value:
                        out += self._scalar(elem_type, v)
            else:
                out += self._scalar(vtype, value)
        offset = 0
        offsets = []
        for name, dims, ggml_type, raw in self.tensors:
            offsets.append(offset)
            offset += len(raw)
            offset += (-offset) % ALIGNMENT
        for (name, dims, ggml_type, raw), off in zip(self.tensors, offsets):
            out += self._str(name) + struct.pack('<I', len(dims))
            for d in dims:
                out += struct.pack('<Q', d)
            out += struct.pack('<IQ', ggml_type, off)
        out += b'\0' * ((-len(out)) % ALIGNMENT)
        base = len(out)
        for (name, dims, ggml_type, raw), off in zip(self.tensors, offsets):
            assert len(out) - base == off
            out += raw
            out += b'\0' * ((-len(out)) % ALIGNMENT)
        Path(path).write_bytes(bytes(out))
        return len(out)


def q8_0_round(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def quantize_q8_0(w: np.ndarray) -> bytes:
    """llama.cpp's quantize_row_q8_0_ref: blocks of 32 along the rows: f16 d = amax/127, int8 q = round(x / d)."""
    w = np.asarray(w, dtype=np.float32)
    assert w.shape[-1] % 32 == 0, 'Q8_0 needs rows that are a multiple of 32'
    blocks = w.reshape(-1, 32)
    amax = np.abs(blocks).max(axis=1)
    d = amax / 127.0
    idv = np.where(d != 0, 1.0 / np.where(d != 0, d, 1), 0).astype(np.float32)
    q = q8_0_round(blocks * idv[:, None]).astype(np.int8)
    rec = np.zeros(blocks.shape[0], dtype=[('d', '<f2'), ('q', 'i1', 32)])
    rec['d'] = d.astype(np.float16)
    rec['q'] = q
    return rec.tobytes()


def dequantize_q8_0(w: np.ndarray) -> np.ndarray:
    """What a Q8_0 tensor holds after quantize_q8_0, as float32 (for comparing logits with the file)."""
    shape = w.shape
    rec = np.frombuffer(quantize_q8_0(w), dtype=[('d', '<f2'), ('q', 'i1', 32)])
    return (rec['q'].astype(np.float32) * rec['d'].astype(np.float32)[:, None]).reshape(shape)


def stored_weight(w: np.ndarray, name: str, dtype: str) -> tuple[np.ndarray, int]:
    """(the values the file will hold, as float32; the ggml type) of one tensor."""
    if w.ndim == 1 or dtype == 'f32':
        return w.astype(np.float32), GGML_F32
    if dtype == 'f16':
        return w.astype(np.float16).astype(np.float32), GGML_F16
    if dtype == 'q8_0':
        if w.shape[-1] % 32 == 0:
            return dequantize_q8_0(w), GGML_Q8_0
        return w.astype(np.float16).astype(np.float32), GGML_F16
    raise ValueError(dtype)


def add_tokenizer(g: GGUFWriter, tok: bpe.Tokenizer) -> None:
    g.add('tokenizer.ggml.model', 'gpt2')
    g.add('tokenizer.ggml.pre', tok.pre)
    g.add('tokenizer.ggml.tokens', tok.tokens, T_ARRAY, T_STRING)
    g.add('tokenizer.ggml.token_type', [int(t) for t in tok.token_type], T_ARRAY, T_INT32)
    g.add('tokenizer.ggml.merges', tok.merges, T_ARRAY, T_STRING)
    g.add('tokenizer.ggml.bos_token_id', U32(tok.bos))
    g.add('tokenizer.ggml.eos_token_id', U32(tok.eos))
    g.add('tokenizer.ggml.padding_token_id', U32(tok.fim_pad))
    g.add('tokenizer.ggml.fim_pre_token_id', U32(tok.fim_prefix))
    g.add('tokenizer.ggml.fim_suf_token_id', U32(tok.fim_suffix))
    g.add('tokenizer.ggml.fim_mid_token_id', U32(tok.fim_middle))
    g.add('tokenizer.ggml.fim_pad_token_id', U32(tok.fim_pad))
    g.add('tokenizer.ggml.add_bos_token', True)
    g.add('tokenizer.ggml.add_eos_token', False)


def export(ckpt_path: str, out: str, dtype: str, name: str) -> dict:
    from model import gguf_tensors, load_checkpoint
    c, tok, model, step = load_checkpoint(ckpt_path)
    g = GGUFWriter()
    g.add('general.architecture', 'llama')
    g.add('general.name', name)
    g.add('general.file_type', U32(FILE_TYPE[dtype]))
    if dtype == 'q8_0':
        g.add('general.quantization_version', U32(2))
    g.add('llama.context_length', U32(c.context_length))
    g.add('llama.embedding_length', U32(c.dim))
    g.add('llama.block_count', U32(c.n_layers))
    g.add('llama.feed_forward_length', U32(c.ffn_dim))
    g.add('llama.attention.head_count', U32(c.n_heads))
    g.add('llama.attention.head_count_kv', U32(c.n_kv_heads))
    g.add('llama.rope.dimension_count', U32(c.head_dim))
    g.add('llama.rope.freq_base', F32(c.rope_base))
    g.add('llama.attention.layer_norm_rms_epsilon', F32(c.norm_eps))
    g.add('llama.vocab_size', U32(c.vocab_size))
    add_tokenizer(g, tok)
    for tname, p in gguf_tensors(model):
        w = p.detach().float().numpy()
        _, gt = stored_weight(w, tname, dtype)
        g.add_tensor(tname, w, gt)
    size = g.write(out)
    return {'bytes': size, 'params': model.num_params(), 'dtype': dtype, 'step': step}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--ckpt')
    ap.add_argument('--out', required=True)
    ap.add_argument('--dtype', default='f16', choices=sorted(FILE_TYPE))
    ap.add_argument('--name', default='pie-code-tiny')
    ap.add_argument('--vocab-only', action='store_true', help='tokenizer only (no tensors), from --tokenizer')
    ap.add_argument('--tokenizer')
    args = ap.parse_args()
    if args.vocab_only:
        tok = bpe.Tokenizer.load(args.tokenizer)
        g = GGUFWriter()
        g.add('general.architecture', 'llama')
        g.add('general.name', args.name + '-vocab')
        add_tokenizer(g, tok)
        print(json.dumps({'bytes': g.write(args.out), 'vocab': tok.vocab_size}))
        return
    if not args.ckpt:
        ap.error('--ckpt is required (or --vocab-only)')
    print(json.dumps(export(args.ckpt, args.out, args.dtype, args.name)))


if __name__ == '__main__':
    main()
