#!/usr/bin/env python3
"""Exports a llama GGUF (models/pie-code-tiny.gguf) to the layout transformers.js loads, for bench/peers.mjs and
test/gpu/peers.test.ts:

  OUT/config.json              model_type "llama" (LlamaForCausalLM): what transformers.js reads to name the model's
                               class and to shape its past key/values (num_key_value_heads, head_dim, layers)
  OUT/generation_config.json   BOS, EOS and padding ids
  OUT/tokenizer.json           a Hugging Face "tokenizers" file built from the GGUF's vocabulary: byte-level BPE with
                               the GGUF's merges in rank order, the qwen2 pre-tokenizer regex (tokenizer.ggml.pre), the
                               control tokens as special added tokens, BOS prepended by the post-processor (as
                               add_bos_token does for our engine and llama.cpp)
  OUT/tokenizer_config.json
  OUT/onnx/model.onnx          the decoder in fp32 with past key/values (below)
  OUT/export.json              what was exported from what: the GGUF's sha256, this script's sha256, the graph's size

  /usr/bin/python3 tools/export-transformersjs/export.py [--gguf models/pie-code-tiny.gguf] [--graph fused|plain] [--out DIR]

Needs Python 3 with numpy and onnx only (Debian: python3-onnx, which brings python3-numpy); no PyTorch: the weights
come from the GGUF. Takes well under a second for pie-code-tiny. Without --out it writes
.cache/transformersjs/<gguf name>-<first 12 hex of its sha256>-<graph>/ (git-ignored, as all of .cache/) and skips the
work when export.json there already names the same GGUF, graph and exporter.

The graph is written node by node with onnx.helper (no tracing), with the inputs and outputs transformers.js gives the
"model" session of a decoder-only model:

  inputs   input_ids (int64, batch x sequence), attention_mask (int64, batch x past+sequence), position_ids (plain only:
           int64, batch x sequence), past_key_values.{i}.key / .value (float32, batch x kv heads x past x head dim),
           num_logits_to_keep (int64 scalar: logits of the last k positions only, 0 = all; transformers.js passes 1 while
           generating and 0 to a plain forward call)
  outputs  logits (float32, batch x kept x vocabulary), present.{i}.key / .value (past and new rows concatenated)

and computes what GGUF llama / llama.cpp / our engine compute for this file: RMSNorm, RoPE on the interleaved pairs
(2i, 2i+1) of GGUF's "normal" layout (the weights used as stored; no Hugging Face permutation) with the angle of pair i
at position p computed as ggml does (p * thetaScale * ... * thetaScale, i products, each rounded to f32), causal
grouped-query attention, SwiGLU, tied output embeddings. The F16 weights become float32 (exactly: every F16 value is an
f32), so both engines run the same numbers in f32. Two forms (--graph):

  fused (default)  onnxruntime's LLM operators, the form onnxruntime-genai's model builder gives the models that
                   transformers.js runs on WebGPU: SkipSimplifiedLayerNormalization, one MatMul for packed Q/K/V,
                   GroupQueryAttention (RoPE from cos/sin tables, past/present, causal; seqlens from attention_mask)
  plain            standard ONNX operators only, as Hugging Face's Optimum exports a LlamaForCausalLM: RMSNorm as
                   x / sqrt(mean(x^2) + eps) * w, RoPE from position_ids, attention masked by position and by
                   attention_mask
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_GGUF = ROOT / 'models' / 'pie-code-tiny.gguf'
OPSET = 17

# --- GGUF -----------------------------------------------------------------------------------------------------------
# tools/train-model's reader (gguf_read.py needs numpy only, not that folder's other dependencies).
sys.path.insert(0, str(ROOT / 'tools' / 'train-model'))
import gguf_read  # noqa: E402


def read_gguf(path: Path) -> tuple[dict, dict]:
    """(metadata, {name: float32 array in row-major (out, in) layout}) of a GGUF v2/v3 file with F32/F16 tensors."""
    try:
        md, tensors = gguf_read.read_gguf(path)
    except ValueError as e:
        raise SystemExit(f'{path}: {e}')
    for name, (_, t) in tensors.items():
        if t not in (gguf_read.GGML_F32, gguf_read.GGML_F16):
            raise SystemExit(f'{path}: tensor {name} has ggml type {t}; this exporter reads F32 and F16 only')
    return md, {name: a for name, (a, _) in tensors.items()}


# --- tokenizer.json ---------------------------------------------------------------------------------------------------
# llama.cpp's pre-tokenizer regexes by tokenizer.ggml.pre, as our engine has them (src/engine/model/tokenizer.ts). Only
# those of the models we export are listed; the case-insensitive group is spelled out (as in the GGUF-era regex) so that
# every regex engine reads it the same way.
PRE_REGEX = {
    'qwen2': (r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
              r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"),
}
TOKEN_CONTROL, TOKEN_USER_DEFINED = 3, 4


def tokenizer_files(md: dict) -> tuple[dict, dict]:
    """(tokenizer.json, tokenizer_config.json) from the GGUF's tokenizer.ggml.* metadata."""
    if md.get('tokenizer.ggml.model') != 'gpt2':
        raise SystemExit(f"tokenizer.ggml.model is {md.get('tokenizer.ggml.model')!r}; this exporter writes byte-level BPE "
                         "('gpt2') vocabularies only")
    pre = md.get('tokenizer.ggml.pre', 'default')
    if pre not in PRE_REGEX:
        raise SystemExit(f'tokenizer.ggml.pre is {pre!r}; the exporter knows {sorted(PRE_REGEX)}')
    tokens: list[str] = md['tokenizer.ggml.tokens']
    types: list[int] = md.get('tokenizer.ggml.token_type', [1] * len(tokens))
    merges: list[str] = md['tokenizer.ggml.merges']
    bos = md.get('tokenizer.ggml.bos_token_id')
    eos = md.get('tokenizer.ggml.eos_token_id')
    pad = md.get('tokenizer.ggml.padding_token_id')
    add_bos = bool(md.get('tokenizer.ggml.add_bos_token', True))
    added = [{'id': i, 'content': t, 'single_word': False, 'lstrip': False, 'rstrip': False, 'normalized': False,
              'special': types[i] == TOKEN_CONTROL}
             for i, t in enumerate(tokens) if types[i] in (TOKEN_CONTROL, TOKEN_USER_DEFINED)]
    post = None
    if add_bos and bos is not None:
        b = tokens[bos]
        post = {
            'type': 'TemplateProcessing',
            'single': [{'SpecialToken': {'id': b, 'type_id': 0}}, {'Sequence': {'id': 'A', 'type_id': 0}}],
            'pair': [{'SpecialToken': {'id': b, 'type_id': 0}}, {'Sequence': {'id': 'A', 'type_id': 0}},
                     {'SpecialToken': {'id': b, 'type_id': 1}}, {'Sequence': {'id': 'B', 'type_id': 1}}],
            'special_tokens': {b: {'id': b, 'ids': [bos], 'tokens': [b]}},
        }
    tok = {
        'version': '1.0',
        'truncation': None,
        'padding': None,
        'added_tokens': added,
        'normalizer': None,
        'pre_tokenizer': {'type': 'Sequence', 'pretokenizers': [
            {'type': 'Split', 'pattern': {'Regex': PRE_REGEX[pre]}, 'behavior': 'Isolated', 'invert': False},
            {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': False, 'use_regex': False},
        ]},
        'post_processor': post,
        'decoder': {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': False, 'use_regex': False},
        'model': {'type': 'BPE', 'dropout': None, 'unk_token': None, 'continuing_subword_prefix': '',
                  'end_of_word_suffix': '', 'fuse_unk': False, 'byte_fallback': False, 'ignore_merges': False,
                  'vocab': {t: i for i, t in enumerate(tokens)}, 'merges': merges},
    }
    cfg = {
        'tokenizer_class': 'PreTrainedTokenizerFast',
        'model_max_length': md.get('llama.context_length', 2048),
        'add_bos_token': add_bos,
        'add_eos_token': False,
        'clean_up_tokenization_spaces': False,
        'bos_token': tokens[bos] if bos is not None else None,
        'eos_token': tokens[eos] if eos is not None else None,
        'pad_token': tokens[pad] if pad is not None else None,
    }
    return tok, cfg


# --- the ONNX graph ---------------------------------------------------------------------------------------------------
class Graph:
    def __init__(self):
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.n = 0

    def name(self, hint: str) -> str:
        self.n += 1
        return f'{hint}_{self.n}'

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, n_out: int = 1, **attrs) -> str | list[str]:
        outs = [self.name(hint or op_type) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=self.name(op_type), **attrs))
        return outs[0] if n_out == 1 else outs

    def const(self, value, name: str | None = None, dtype=None) -> str:
        a = np.asarray(value, dtype=dtype)
        n = name or self.name('const')
        self.inits.append(numpy_helper.from_array(a, n))
        return n


class LlamaShape(NamedTuple):
    dim: int
    n_layers: int
    n_heads: int
    n_kv: int
    head_dim: int
    eps: float
    rope_base: float


def llama_shape(md: dict) -> LlamaShape:
    """The hyperparameters the graphs and config.json are written from; refuses what this exporter does not write."""
    arch = md['general.architecture']
    if arch != 'llama':
        raise SystemExit(f'general.architecture is {arch!r}; this exporter writes llama models')
    dim = md['llama.embedding_length']
    n_heads = md['llama.attention.head_count']
    hd = dim // n_heads
    if md.get('llama.rope.dimension_count', hd) != hd:
        raise SystemExit('partial rotary dimensions are not exported')
    if md.get('llama.rope.scaling.type', 'none') not in ('none', None):
        raise SystemExit('RoPE scaling is not exported')
    return LlamaShape(dim, md['llama.block_count'], n_heads, md['llama.attention.head_count_kv'], hd,
                      float(md['llama.attention.layer_norm_rms_epsilon']), md.get('llama.rope.freq_base', 10000.0))


def rope_angle_basis(head_dim: int, base: float) -> np.ndarray:
    """ggml's thetaScale = powf(base, -2 / head_dim) as f32."""
    return np.float32(np.power(np.float32(base), np.float32(-2.0 / head_dim), dtype=np.float32))


def build_plain(md: dict, W: dict) -> onnx.ModelProto:
    """The graph in standard ONNX operators only (as Optimum exports a LlamaForCausalLM)."""
    dim, n_layers, n_heads, n_kv, hd, eps, base = llama_shape(md)
    emb = W['token_embd.weight']  # (vocab, dim)
    vocab = emb.shape[0]
    g_per_kv = n_heads // n_kv
    half = hd // 2

    G = Graph()
    F = TensorProto.FLOAT
    I64 = TensorProto.INT64
    inputs, outputs = io_specs(n_layers, n_kv, hd, vocab, position_ids=True)

    c = G.const
    i0, i1, i2 = c([0], 'i64_0', np.int64), c([1], 'i64_1', np.int64), c([2], 'i64_2', np.int64)
    axis_last = c([-1], 'i64_m1', np.int64)

    # --- shapes, positions and the mask (shared by all layers) ---
    ids_shape = G.op('Shape', ['input_ids'])
    B = G.op('Gather', [ids_shape, i0], axis=0)          # [1]
    S = G.op('Gather', [ids_shape, i1], axis=0)          # [1]
    P = G.op('Gather', [G.op('Shape', ['past_key_values.0.key']), i2], axis=0)  # [1] past length
    T = G.op('Add', [P, S])                              # [1] total length

    # RoPE angles (B, S, half): a_0 = f32(p), a_i = f32(a_{i-1} * thetaScale), as ggml_rope_cache_init / our shader
    pos = G.op('Unsqueeze', [G.op('Cast', ['position_ids'], to=F), axis_last])   # (B, S, 1)
    scale = c(np.array([rope_angle_basis(hd, base)], np.float32), 'theta_scale')
    cols = [pos]
    for _ in range(1, half):
        cols.append(G.op('Mul', [cols[-1], scale]))
    ang = G.op('Concat', cols, axis=-1)                  # (B, S, half)
    ang = G.op('Unsqueeze', [ang, c([1, 4], 'axes_1_4', np.int64)])  # (B, 1, S, half, 1)
    cos = G.op('Cos', [ang], 'rope_cos')
    sin = G.op('Sin', [ang], 'rope_sin')

    # attention bias (B, 1, 1, S, T): 0 where key j <= P + query i and attention_mask[b, j] = 1, else the f32 minimum
    zero_s = c(np.array(0, np.int64), 'zero_i64')
    one_s = c(np.array(1, np.int64), 'one_i64')
    S_s = G.op('Squeeze', [S, i0])
    T_s = G.op('Squeeze', [T, i0])
    qpos = G.op('Add', [G.op('Range', [zero_s, S_s, one_s]), P])         # (S,)
    kpos = G.op('Range', [zero_s, T_s, one_s])                          # (T,)
    causal = G.op('LessOrEqual', [G.op('Unsqueeze', [kpos, i0]), G.op('Unsqueeze', [qpos, i1])])  # (S, T)
    keep = G.op('Cast', ['attention_mask'], to=TensorProto.BOOL)        # (B, T)
    keep = G.op('Unsqueeze', [keep, c([1, 2, 3], 'axes_1_2_3', np.int64)])  # (B, 1, 1, 1, T)
    allowed = G.op('And', [causal, keep])                               # (B, 1, 1, S, T)
    bias = G.op('Where', [allowed, c(np.array(0, np.float32), 'f_zero'),
                          c(np.array(np.finfo(np.float32).min, np.float32), 'f_min')], 'attn_bias')

    def rms(x: str, w: np.ndarray, name: str) -> str:
        var = G.op('ReduceMean', [G.op('Pow', [x, c(np.array(2.0, np.float32), G.name('two'))])], axes=[-1], keepdims=1)
        den = G.op('Sqrt', [G.op('Add', [var, c(np.array(eps, np.float32), G.name('eps'))])])
        return G.op('Mul', [G.op('Div', [x, den]), c(w.astype(np.float32), name)])

    def linear(x: str, w: np.ndarray, name: str) -> str:
        """x @ w.T, w in (out, in) layout, stored transposed."""
        return G.op('MatMul', [x, c(np.ascontiguousarray(w.T), name)])

    def heads(x: str, n: int) -> str:
        """(B, S, n*hd) -> (B, n, S, hd)"""
        r = G.op('Reshape', [x, c([0, 0, n, hd], G.name(f'shape_heads{n}'), np.int64)])
        return G.op('Transpose', [r], perm=[0, 2, 1, 3])

    def rope(x: str, n: int) -> str:
        """(B, n, S, hd) with pairs (2i, 2i+1) rotated by the angles."""
        x5 = G.op('Reshape', [x, c([0, n, -1, half, 2], G.name('shape_pairs'), np.int64)])
        x0, x1 = G.op('Split', [x5, c([1, 1], G.name('split11'), np.int64)], n_out=2, axis=-1)
        y0 = G.op('Sub', [G.op('Mul', [x0, cos]), G.op('Mul', [x1, sin])])
        y1 = G.op('Add', [G.op('Mul', [x0, sin]), G.op('Mul', [x1, cos])])
        y = G.op('Concat', [y0, y1], axis=-1)
        return G.op('Reshape', [y, c([0, n, -1, hd], G.name('shape_unpairs'), np.int64)])

    x = G.op('Gather', [c(emb, 'token_embd.weight'), 'input_ids'], axis=0)  # (B, S, dim)
    inv_sqrt_hd = c(np.array(1.0 / np.sqrt(hd), np.float32), 'attn_scale')
    for i in range(n_layers):
        p = f'blk.{i}.'
        h = rms(x, W[p + 'attn_norm.weight'], p + 'attn_norm.weight')
        q = rope(heads(linear(h, W[p + 'attn_q.weight'], p + 'attn_q.weight'), n_heads), n_heads)
        k = rope(heads(linear(h, W[p + 'attn_k.weight'], p + 'attn_k.weight'), n_kv), n_kv)
        v = heads(linear(h, W[p + 'attn_v.weight'], p + 'attn_v.weight'), n_kv)
        k_all = G.op('Concat', [f'past_key_values.{i}.key', k], axis=2)
        v_all = G.op('Concat', [f'past_key_values.{i}.value', v], axis=2)
        G.nodes.append(helper.make_node('Identity', [k_all], [f'present.{i}.key'], name=G.name('present_k')))
        G.nodes.append(helper.make_node('Identity', [v_all], [f'present.{i}.value'], name=G.name('present_v')))
        # grouped-query attention: query head h reads kv head h // g; the g query heads of a kv head side by side
        q5 = G.op('Reshape', [G.op('Mul', [q, inv_sqrt_hd]), c([0, n_kv, g_per_kv, -1, hd], G.name('shape_gq'), np.int64)])
        k5 = G.op('Unsqueeze', [G.op('Transpose', [k_all], perm=[0, 1, 3, 2]), i2])  # (B, n_kv, 1, hd, T)
        v5 = G.op('Unsqueeze', [v_all, i2])                                          # (B, n_kv, 1, T, hd)
        scores = G.op('Add', [G.op('MatMul', [q5, k5]), bias])                       # (B, n_kv, g, S, T)
        y = G.op('MatMul', [G.op('Softmax', [scores], axis=-1), v5])                 # (B, n_kv, g, S, hd)
        y = G.op('Reshape', [y, c([0, n_heads, -1, hd], G.name('shape_heads_back'), np.int64)])
        y = G.op('Reshape', [G.op('Transpose', [y], perm=[0, 2, 1, 3]), c([0, 0, dim], G.name('shape_merge'), np.int64)])
        x = G.op('Add', [x, linear(y, W[p + 'attn_output.weight'], p + 'attn_output.weight')])
        h = rms(x, W[p + 'ffn_norm.weight'], p + 'ffn_norm.weight')
        gate = linear(h, W[p + 'ffn_gate.weight'], p + 'ffn_gate.weight')
        up = linear(h, W[p + 'ffn_up.weight'], p + 'ffn_up.weight')
        act = G.op('Mul', [G.op('Mul', [gate, G.op('Sigmoid', [gate])]), up])      # SiLU(gate) * up
        x = G.op('Add', [x, linear(act, W[p + 'ffn_down.weight'], p + 'ffn_down.weight')])

    # the last num_logits_to_keep positions (0: all), then the output norm and the tied output matrix
    start = G.op('Neg', [G.op('Unsqueeze', ['num_logits_to_keep', i0])])
    x = G.op('Slice', [x, start, c([np.iinfo(np.int64).max], 'i64_max', np.int64), i1])
    x = rms(x, W['output_norm.weight'], 'output_norm.weight')
    out_w = W.get('output.weight', emb)
    G.nodes.append(helper.make_node('MatMul', [x, c(np.ascontiguousarray(out_w.T), 'output.weight.T')], ['logits'],
                                    name=G.name('lm_head')))

    graph = helper.make_graph(G.nodes, 'pie-code-tiny', inputs, outputs, G.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', OPSET)], producer_name='pie-complete',
                              producer_version='tools/export-transformersjs')
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def rope_tables(hd: int, base: float, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """cos, sin (rows, hd/2) in f32 of the angles ggml (and our engine) use: a_0 = f32(p), a_i = f32(a_{i-1} * s)."""
    s = rope_angle_basis(hd, base)
    a = np.empty((rows, hd // 2), np.float32)
    a[:, 0] = np.arange(rows, dtype=np.float32)
    for i in range(1, hd // 2):
        a[:, i] = a[:, i - 1] * s  # f32 * f32, rounded to f32: numpy keeps float32
    return np.cos(a.astype(np.float64)).astype(np.float32), np.sin(a.astype(np.float64)).astype(np.float32)


def build_fused(md: dict, W: dict, rope_rows: int) -> onnx.ModelProto:
    """The graph in onnxruntime's fused operators, the form onnxruntime-genai's model builder gives the LLMs that
    transformers.js runs on WebGPU (onnx-community's exports): per layer SkipSimplifiedLayerNormalization (residual add +
    RMSNorm), one MatMul for packed Q/K/V, GroupQueryAttention (RoPE on the interleaved pairs with cos/sin tables,
    past and present keys/values, causal), the output MatMul, and SwiGLU in MatMul/Sigmoid/Mul. The RoPE tables hold
    rope_rows positions (positions past them are an error in onnxruntime)."""
    dim, n_layers, n_heads, n_kv, hd, eps, base = llama_shape(md)
    emb = W['token_embd.weight']
    vocab = emb.shape[0]

    G = Graph()
    F = TensorProto.FLOAT
    I64 = TensorProto.INT64
    inputs, outputs = io_specs(n_layers, n_kv, hd, vocab, position_ids=False)
    c = G.const
    i0, i1 = c([0], 'i64_0', np.int64), c([1], 'i64_1', np.int64)
    ms = 'com.microsoft'

    # GroupQueryAttention's lengths from the attention mask: seqlens_k = sum(mask) - 1 per batch row (int32), and the
    # total length (int32 scalar)
    seqlens = G.op('Cast', [G.op('Sub', [G.op('ReduceSum', ['attention_mask', i1], keepdims=0), c(np.array(1, np.int64), 'one_i64')])],
                   to=TensorProto.INT32)
    total = G.op('Cast', [G.op('Gather', [G.op('Shape', ['attention_mask']), c(np.array(1, np.int64), 'one_s')], axis=0)],
                 to=TensorProto.INT32)
    cos_t, sin_t = rope_tables(hd, base, rope_rows)
    cos = c(cos_t, 'cos_cache')
    sin = c(sin_t, 'sin_cache')

    def linear_w(name: str) -> str:
        return c(np.ascontiguousarray(W[name].T), name)

    def skip_norm(x: str, residual: str | None, w: np.ndarray, name: str) -> tuple[str, str]:
        """(RMSNorm(x + residual), x + residual); without a residual, RMSNorm(x) and x."""
        if residual is None:
            return G.op('SimplifiedLayerNormalization', [x, c(w.astype(np.float32), name)], axis=-1, epsilon=eps,
                        stash_type=1), x
        out, total_sum = G.name('norm'), G.name('residual')
        G.nodes.append(helper.make_node('SkipSimplifiedLayerNormalization', [x, residual, c(w.astype(np.float32), name)],
                                        [out, '', '', total_sum], name=G.name('SkipSimplifiedLayerNormalization'),
                                        domain=ms, epsilon=eps))
        return out, total_sum

    x = G.op('Gather', [c(emb, 'token_embd.weight'), 'input_ids'], axis=0)  # (B, S, dim)
    residual = None
    for i in range(n_layers):
        p = f'blk.{i}.'
        h, residual = skip_norm(x, residual, W[p + 'attn_norm.weight'], p + 'attn_norm.weight')
        wqkv = np.concatenate([W[p + 'attn_q.weight'], W[p + 'attn_k.weight'], W[p + 'attn_v.weight']], axis=0)
        qkv = G.op('MatMul', [h, c(np.ascontiguousarray(wqkv.T), p + 'attn_qkv.weight')])
        G.nodes.append(helper.make_node(
            'GroupQueryAttention',
            [qkv, '', '', f'past_key_values.{i}.key', f'past_key_values.{i}.value', seqlens, total, cos, sin],
            [f'attn_{i}', f'present.{i}.key', f'present.{i}.value'], name=G.name('GroupQueryAttention'), domain=ms,
            num_heads=n_heads, kv_num_heads=n_kv, do_rotary=1, rotary_interleaved=1))
        x = G.op('MatMul', [f'attn_{i}', linear_w(p + 'attn_output.weight')])
        h, residual = skip_norm(x, residual, W[p + 'ffn_norm.weight'], p + 'ffn_norm.weight')
        gate = G.op('MatMul', [h, linear_w(p + 'ffn_gate.weight')])
        up = G.op('MatMul', [h, linear_w(p + 'ffn_up.weight')])
        act = G.op('Mul', [G.op('Mul', [gate, G.op('Sigmoid', [gate])]), up])
        x = G.op('MatMul', [act, linear_w(p + 'ffn_down.weight')])
    # the last num_logits_to_keep positions (0: all), the last residual add and norm, the tied output matrix
    start = G.op('Neg', [G.op('Unsqueeze', ['num_logits_to_keep', i0])])
    end = c([np.iinfo(np.int64).max], 'i64_max', np.int64)
    x = G.op('Slice', [x, start, end, i1])
    residual = G.op('Slice', [residual, start, end, i1])
    h, _ = skip_norm(x, residual, W['output_norm.weight'], 'output_norm.weight')
    out_w = W.get('output.weight', emb)
    G.nodes.append(helper.make_node('MatMul', [h, c(np.ascontiguousarray(out_w.T), 'output.weight.T')], ['logits'],
                                    name=G.name('lm_head')))
    graph = helper.make_graph(G.nodes, 'pie-code-tiny', inputs, outputs, G.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', OPSET), helper.make_opsetid(ms, 1)],
                              producer_name='pie-complete', producer_version='tools/export-transformersjs')
    model.ir_version = 8
    # (no onnx.checker here: it knows no onnxruntime operators; onnxruntime checks the graph when it loads it)
    return model


def io_specs(n_layers: int, n_kv: int, hd: int, vocab: int, position_ids: bool) -> tuple[list, list]:
    """The inputs and outputs transformers.js expects of a decoder with past key/values."""
    F = TensorProto.FLOAT
    I64 = TensorProto.INT64
    inputs = [
        helper.make_tensor_value_info('input_ids', I64, ['batch_size', 'sequence_length']),
        helper.make_tensor_value_info('attention_mask', I64, ['batch_size', 'total_sequence_length']),
    ]
    if position_ids:
        inputs.append(helper.make_tensor_value_info('position_ids', I64, ['batch_size', 'sequence_length']))
    outputs = [helper.make_tensor_value_info('logits', F, ['batch_size', 'logits_length', vocab])]
    for i in range(n_layers):
        for kv in ('key', 'value'):
            inputs.append(helper.make_tensor_value_info(f'past_key_values.{i}.{kv}', F,
                                                        ['batch_size', n_kv, 'past_sequence_length', hd]))
            outputs.append(helper.make_tensor_value_info(f'present.{i}.{kv}', F,
                                                         ['batch_size', n_kv, 'total_sequence_length', hd]))
    inputs.append(helper.make_tensor_value_info('num_logits_to_keep', I64, []))
    return inputs, outputs


def sha256_file(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, 'rb') as f:
        for b in iter(lambda: f.read(1 << 20), b''):
            h.update(b)
    return h.hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--gguf', type=Path, default=DEFAULT_GGUF)
    ap.add_argument('--out', type=Path, help='default: .cache/transformersjs/<name>-<sha256[:12]>')
    ap.add_argument('--graph', choices=('fused', 'plain'), default='fused',
                    help="fused: onnxruntime's LLM operators (GroupQueryAttention, SkipSimplifiedLayerNormalization), "
                         'as onnx-community exports for transformers.js; plain: standard ONNX operators only')
    ap.add_argument('--force', action='store_true', help='export even when the output is up to date')
    a = ap.parse_args()
    t0 = time.time()
    gguf = a.gguf.resolve()
    model_sha = sha256_file(gguf)
    tool_sha = sha256_file(Path(__file__))
    out = a.out or ROOT / '.cache' / 'transformersjs' / f'{gguf.stem}-{model_sha[:12]}-{a.graph}'
    stamp = out / 'export.json'
    if not a.force and stamp.exists():
        try:
            s = json.loads(stamp.read_text())
            if s.get('ggufSha256') == model_sha and s.get('exporterSha256') == tool_sha and s.get('graph') == a.graph and \
                    (out / 'onnx' / 'model.onnx').exists():
                print(out)
                return 0
        except ValueError:
            pass
    md, W = read_gguf(gguf)
    tok, tok_cfg = tokenizer_files(md)
    # RoPE tables (fused graph): twice the context, for the benchmark's decoding past a full context
    model = build_fused(md, W, 2 * md['llama.context_length']) if a.graph == 'fused' else build_plain(md, W)
    (out / 'onnx').mkdir(parents=True, exist_ok=True)
    onnx_bytes = model.SerializeToString()
    (out / 'onnx' / 'model.onnx').write_bytes(onnx_bytes)
    shape = llama_shape(md)
    bos = md.get('tokenizer.ggml.bos_token_id')
    eos = md.get('tokenizer.ggml.eos_token_id')
    pad = md.get('tokenizer.ggml.padding_token_id')
    config = {
        'architectures': ['LlamaForCausalLM'],
        'model_type': 'llama',
        'vocab_size': W['token_embd.weight'].shape[0],
        'hidden_size': shape.dim,
        'intermediate_size': md['llama.feed_forward_length'],
        'num_hidden_layers': shape.n_layers,
        'num_attention_heads': shape.n_heads,
        'num_key_value_heads': shape.n_kv,
        'head_dim': shape.head_dim,
        'max_position_embeddings': md['llama.context_length'],
        'rms_norm_eps': shape.eps,
        'rope_theta': shape.rope_base,
        'hidden_act': 'silu',
        'tie_word_embeddings': 'output.weight' not in W,
        'bos_token_id': bos,
        'eos_token_id': eos,
        'pad_token_id': pad,
        'torch_dtype': 'float32',
        # for transformers.js: the one graph is fp32 (onnx/model.onnx), in one file
        'transformers.js_config': {'dtype': 'fp32', 'use_external_data_format': False},
        # not read by anyone: a reminder that the graph, not this config, is the computation
        'pie_note': 'RoPE on interleaved pairs (GGUF llama layout) inside onnx/model.onnx; exported from GGUF by '
                    'tools/export-transformersjs/export.py (no PyTorch weights)',
    }
    (out / 'config.json').write_text(json.dumps(config, indent=2) + '\n')
    (out / 'generation_config.json').write_text(json.dumps(
        {'bos_token_id': bos, 'eos_token_id': eos, 'pad_token_id': pad}, indent=2) + '\n')
    (out / 'tokenizer.json').write_text(json.dumps(tok, ensure_ascii=False) + '\n')
    (out / 'tokenizer_config.json').write_text(json.dumps(tok_cfg, indent=2) + '\n')
    stamp.write_text(json.dumps({
        'gguf': str(gguf.relative_to(ROOT)) if gguf.is_relative_to(ROOT) else str(gguf),
        'ggufSha256': model_sha,
        'exporterSha256': tool_sha,
        'graph': a.graph,
        'onnxBytes': len(onnx_bytes),
        'onnxNodes': len(model.graph.node),
        'opset': OPSET,
        'onnxVersion': onnx.__version__,
        'numpyVersion': np.__version__,
        'seconds': round(time.time() - t0, 2),
    }, indent=2) + '\n')
    print(out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
