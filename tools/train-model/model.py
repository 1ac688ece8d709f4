"""The pie-code-tiny model in PyTorch: a Llama-architecture decoder exactly as GGUF 'llama' and llama.cpp compute it.

  x = tok_embeddings[ids]
  per layer:  h = x + Wo · attn(RoPE(Wq · rms(x)), RoPE(Wk · rms(x)), Wv · rms(x))      (causal, grouped-query)
              x = h + Wdown · (silu(Wgate · rms(h)) * Wup · rms(h))                     (SwiGLU)
  logits = Wout · rms(x)            (Wout = tok_embeddings when tied)

RoPE uses the 'normal' GGUF llama pair layout: dims (2i, 2i+1) of each head rotate together by pos * base^(-2i/head_dim).
That is how llama.cpp's LLAMA_ROPE_TYPE_NORM reads the weights of a GGUF file, so export_gguf.py writes Wq and Wk as they
are (no permutation). (Hugging Face's Llama rotates the half-split pairs (i, i + head_dim/2) instead, which is why
llama.cpp's convert_hf_to_gguf.py permutes Wq and Wk; a model trained here needs none.)

Grouped-query attention: query head h reads key/value head h // (n_heads / n_kv_heads), as llama.cpp broadcasts.
RMSNorm: x * rsqrt(mean(x^2) + eps) * w, in float32 (float64 for a float64 reference).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class ModelConfig:
    vocab_size: int = 4096
    dim: int = 256
    n_layers: int = 4
    n_heads: int = 4
    n_kv_heads: int = 2
    ffn_dim: int = 688
    context_length: int = 2048
    rope_base: float = 10000.0
    norm_eps: float = 1e-5
    tie_embeddings: bool = True

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    def to_dict(self) -> dict:
        return asdict(self)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """In float32 (float64 for a float64 x)."""
        dt = torch.float64 if x.dtype == torch.float64 else torch.float32
        xf = x.to(dt)
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (y * self.weight.to(dt)).type_as(x)


def rope_tables(head_dim: int, positions: torch.Tensor, base: float, ggml_angles: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin (float64) of shape (T, head_dim/2) for the given positions. The angle of pair i is
    pos * base^(-2i/head_dim), in float64; with ggml_angles, rounded as llama.cpp (and our engine) compute it in float32:
    theta_scale = f32(base^(-2/head_dim)), then pos * theta_scale^i by i successive f32 products. The two differ by up
    to pos * 2^-24 rad (6e-5 at position 1024), which is what a float64 reference of llama.cpp's forward pass needs."""
    half = head_dim // 2
    if not ggml_angles:
        i = torch.arange(0, half, dtype=torch.float64, device=positions.device)
        ang = positions.to(torch.float64)[:, None] * (base ** (-2.0 * i / head_dim))[None, :]
    else:
        scale = torch.tensor(float(torch.tensor(base, dtype=torch.float32)) **
                             float(torch.tensor(-2.0 / head_dim, dtype=torch.float32)), dtype=torch.float32)
        cols = [positions.to(torch.float32)]
        for _ in range(1, half):
            cols.append(cols[-1] * scale)
        ang = torch.stack(cols, dim=1).to(torch.float64)
    return ang.cos(), ang.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: (B, H, T, D); rotates the interleaved pairs (x[2i], x[2i+1]) (GGUF llama 'normal' layout), in float32 (float64
    for a float64 x)."""
    dt = torch.float64 if x.dtype == torch.float64 else torch.float32
    xf, cos, sin = x.to(dt), cos.to(dt), sin.to(dt)
    x0 = xf[..., 0::2]
    x1 = xf[..., 1::2]
    y0 = x0 * cos - x1 * sin
    y1 = x0 * sin + x1 * cos
    return torch.stack((y0, y1), dim=-1).flatten(-2).type_as(x)


_MASKS: dict = {}


def causal_mask(T: int, g: int, dtype: torch.dtype, device) -> torch.Tensor:
    """(g*T, T): 0 where key position <= query position, -inf after; g copies of the (T, T) mask stacked (one per
    query head of a group). Cached per shape: building it every step costs as much as the softmax."""
    key = (T, g, dtype, str(device))
    m = _MASKS.get(key)
    if m is None:
        m = torch.zeros(T, T, device=device).masked_fill(torch.ones(T, T, dtype=torch.bool, device=device).triu(1),
                                                         float('-inf')).repeat(g, 1).to(dtype)
        _MASKS[key] = m
    return m


class Attention(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.c = c
        hd = c.head_dim
        self.wq = nn.Linear(c.dim, c.n_heads * hd, bias=False)
        self.wk = nn.Linear(c.dim, c.n_kv_heads * hd, bias=False)
        self.wv = nn.Linear(c.dim, c.n_kv_heads * hd, bias=False)
        self.wo = nn.Linear(c.n_heads * hd, c.dim, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, cache: list | None = None) -> torch.Tensor:
        """cache (generation only): [k, v] of the earlier positions, extended in place; x then holds either the
        whole prompt (empty cache) or one new token."""
        B, T, _ = x.shape
        c = self.c
        hd = c.head_dim
        q = self.wq(x).view(B, T, c.n_heads, hd).transpose(1, 2)
        k = self.wk(x).view(B, T, c.n_kv_heads, hd).transpose(1, 2)
        v = self.wv(x).view(B, T, c.n_kv_heads, hd).transpose(1, 2)
        q = apply_rope(q, cos, sin)
        k = apply_rope(k, cos, sin)
        if cache is not None:
            if cache:
                assert T == 1, 'after the prompt, one token at a time'
                k = torch.cat((cache[0], k), dim=2)
                v = torch.cat((cache[1], v), dim=2)
            cache[:] = [k, v]
        g = c.n_heads // c.n_kv_heads
        causal = T > 1  # a single new token sees every cached position
        if hasattr(F, 'scaled_dot_product_attention'):  # PyTorch 2 (fused kernels on a GPU)
            if g > 1:
                k = k.repeat_interleave(g, dim=1)
                v = v.repeat_interleave(g, dim=1)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        else:
            # PyTorch 1.13 on the CPU: the T x T scores are the cost, so no pass over them that can be avoided. The
            # softmax scale goes on q; K and V are not copied per query head: query head h = kv * g + j reads kv head
            # kv, so the g query heads of one kv head are stacked as g*T rows, (B, n_kv_heads, g*T, hd).
            q = q * (1.0 / math.sqrt(hd))
            att = q.reshape(B, c.n_kv_heads, g * T, hd) @ k.transpose(-2, -1)  # (B, n_kv_heads, g*T, S)
            if causal:
                att = att + causal_mask(T, g, att.dtype, att.device)
            y = (F.softmax(att, dim=-1) @ v).view(B, c.n_heads, T, hd)
        return self.wo(y.transpose(1, 2).reshape(B, T, c.n_heads * hd))


class FeedForward(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.w_gate = nn.Linear(c.dim, c.ffn_dim, bias=False)
        self.w_up = nn.Linear(c.dim, c.ffn_dim, bias=False)
        self.w_down = nn.Linear(c.ffn_dim, c.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w_down(F.silu(self.w_gate(x)) * self.w_up(x))


class Block(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.attn_norm = RMSNorm(c.dim, c.norm_eps)
        self.attn = Attention(c)
        self.ffn_norm = RMSNorm(c.dim, c.norm_eps)
        self.ffn = FeedForward(c)

    def forward(self, x, cos, sin, cache=None):
        h = x + self.attn(self.attn_norm(x), cos, sin, cache)
        return h + self.ffn(self.ffn_norm(h))


class Llama(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        assert c.dim % c.n_heads == 0 and c.n_heads % c.n_kv_heads == 0 and c.head_dim % 2 == 0
        self.c = c
        self.tok_embeddings = nn.Embedding(c.vocab_size, c.dim)
        self.layers = nn.ModuleList([Block(c) for _ in range(c.n_layers)])
        self.norm = RMSNorm(c.dim, c.norm_eps)
        self.output = None if c.tie_embeddings else nn.Linear(c.dim, c.vocab_size, bias=False)
        self.ggml_angles = False  # RoPE angles rounded as llama.cpp rounds them (rope_tables); for references
        self.apply(self._init)
        for name, p in self.named_parameters():
            if name.endswith('wo.weight') or name.endswith('w_down.weight'):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c.n_layers))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, ids: torch.Tensor, targets: torch.Tensor | None = None, start_pos: int = 0,
                caches: list | None = None):
        B, T = ids.shape
        pos = torch.arange(start_pos, start_pos + T, device=ids.device)
        cos, sin = rope_tables(self.c.head_dim, pos, self.c.rope_base, self.ggml_angles)
        x = self.tok_embeddings(ids)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, None if caches is None else caches[i])
        x = self.norm(x)
        w = self.tok_embeddings.weight if self.output is None else self.output.weight
        logits = F.linear(x, w)
        if targets is None:
            return logits
        loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)
        return logits, loss


@torch.no_grad()
def load_checkpoint(path: str, device: str = 'cpu'):
    """A checkpoint of train.py, or a GGUF of export_gguf.py (step None), as (config, tokenizer, model, training step),
    the model in eval mode on `device`."""
    import bpe  # this folder is on sys.path for every script here
    if str(path).endswith('.gguf'):
        from export_gguf import read_gguf
        md, tensors = read_gguf(path)
        cfg = ModelConfig(vocab_size=md['llama.vocab_size'], dim=md['llama.embedding_length'],
                          n_layers=md['llama.block_count'], n_heads=md['llama.attention.head_count'],
                          n_kv_heads=md['llama.attention.head_count_kv'], ffn_dim=md['llama.feed_forward_length'],
                          context_length=md['llama.context_length'], rope_base=md['llama.rope.freq_base'],
                          norm_eps=md['llama.attention.layer_norm_rms_epsilon'])
        key = {'eos': 'eos_token_id', 'bos': 'bos_token_id', 'fim_prefix': 'fim_pre_token_id',
               'fim_middle': 'fim_mid_token_id', 'fim_suffix': 'fim_suf_token_id', 'fim_pad': 'fim_pad_token_id'}
        tok = bpe.Tokenizer(md['tokenizer.ggml.tokens'], md['tokenizer.ggml.token_type'], md['tokenizer.ggml.merges'],
                            {k: md[f'tokenizer.ggml.{v}'] for k, v in key.items()}, md['tokenizer.ggml.pre'])
        model = Llama(cfg)
        copy_gguf_tensors(model, tensors, path)
        return cfg, tok, model.to(device).eval(), None
    ck = torch.load(path, map_location='cpu')
    cfg = ModelConfig(**ck['config'])
    tok = bpe.Tokenizer(**{k: ck['tokenizer'][k] for k in ('tokens', 'token_type', 'merges', 'special', 'pre')})
    model = Llama(cfg)
    model.load_state_dict(ck['model'])
    return cfg, tok, model.to(device).eval(), ck.get('step')


@torch.no_grad()
def load_gguf_weights(model: Llama, path: str) -> dict:
    """Copies the tensors of a GGUF written by export_gguf.py (F32/F16/Q8_0, so F16 and Q8_0 weights come back rounded)
    into `model`, which must have the same shapes; returns the file's metadata."""
    from export_gguf import read_gguf
    md, tensors = read_gguf(path)
    copy_gguf_tensors(model, tensors, path)
    return md


@torch.no_grad()
def copy_gguf_tensors(model: Llama, tensors: dict, path: str) -> None:
    """read_gguf's tensors into `model`, checked against its names and shapes (`path` for the messages)."""
    names = gguf_tensors(model)
    assert sorted(n for n, _ in names) == sorted(tensors), f'{path}: other tensors than this model\'s'
    for name, p in names:
        w = torch.from_numpy(tensors[name][0])
        assert w.shape == p.shape, f'{path}: {name} is {tuple(w.shape)}, the model has {tuple(p.shape)}'
        p.copy_(w)


def greedy(model: Llama, prompt: list[int], max_new: int, stop=None) -> list[int]:
    """Greedy continuation with a KV cache; stop(tokens) -> True ends it (after appending that token)."""
    dev = model.tok_embeddings.weight.device
    caches = [[] for _ in model.layers]
    logits = model(torch.tensor([prompt], device=dev), caches=caches)
    out: list[int] = []
    pos = len(prompt)
    for _ in range(max_new):
        t = int(logits[0, -1].argmax())
        out.append(t)
        if stop is not None and stop(out):
            break
        logits = model(torch.tensor([[t]], device=dev), start_pos=pos, caches=caches)
        pos += 1
    return out


def gguf_tensors(model: Llama) -> list[tuple[str, torch.Tensor]]:
    """(llama.cpp tensor name, weight) in PyTorch layout (out, in); GGUF stores ne = (in, out) of the same bytes."""
    out = [('token_embd.weight', model.tok_embeddings.weight)]
    for i, L in enumerate(model.layers):
        out += [
            (f'blk.{i}.attn_norm.weight', L.attn_norm.weight),
            (f'blk.{i}.attn_q.weight', L.attn.wq.weight),
            (f'blk.{i}.attn_k.weight', L.attn.wk.weight),
            (f'blk.{i}.attn_v.weight', L.attn.wv.weight),
            (f'blk.{i}.attn_output.weight', L.attn.wo.weight),
            (f'blk.{i}.ffn_norm.weight', L.ffn_norm.weight),
            (f'blk.{i}.ffn_gate.weight', L.ffn.w_gate.weight),
            (f'blk.{i}.ffn_up.weight', L.ffn.w_up.weight),
            (f'blk.{i}.ffn_down.weight', L.ffn.w_down.weight),
        ]
    out.append(('output_norm.weight', model.norm.weight))
    if model.output is not None:
        out.append(('output.weight', model.output.weight))
    return out
