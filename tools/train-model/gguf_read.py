"""The GGUF format's constants and a reader for checks, written from the spec independently of export_gguf.py's
GGUFWriter. Needs numpy only, so that tools outside this folder (tools/export-transformersjs) can use it without this
folder's other dependencies."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

GGUF_MAGIC = b'GGUF'
ALIGNMENT = 32

# gguf_type
T_UINT8, T_INT8, T_UINT16, T_INT16, T_UINT32, T_INT32, T_FLOAT32, T_BOOL, T_STRING, T_ARRAY, T_UINT64, T_INT64, \
    T_FLOAT64 = range(13)
# ggml_type
GGML_F32, GGML_F16, GGML_Q8_0 = 0, 1, 8


def read_gguf(path: str | Path) -> tuple[dict, dict]:
    """(metadata, {name: (float32 numpy array in PyTorch layout, ggml type)}) of a GGUF file with F32, F16 or Q8_0
    tensors. Raises ValueError for a file that is not GGUF and for a tensor of another type."""
    buf = Path(path).read_bytes()
    pos = 0

    def take(fmt: str):
        nonlocal pos
        v = struct.unpack_from(fmt, buf, pos)
        pos += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def string() -> str:
        nonlocal pos
        n = take('<Q')
        s = buf[pos:pos + n].decode('utf-8')
        pos += n
        return s

    scalar = {T_UINT8: '<B', T_INT8: '<b', T_UINT16: '<H', T_INT16: '<h', T_UINT32: '<I', T_INT32: '<i',
              T_FLOAT32: '<f', T_BOOL: '<?', T_UINT64: '<Q', T_INT64: '<q', T_FLOAT64: '<d'}

    def value(t: int):
        if t == T_STRING:
            return string()
        if t == T_ARRAY:
            et, n = take('<I'), take('<Q')
            return [value(et) for _ in range(n)]
        return take(scalar[t])

    if buf[:4] != GGUF_MAGIC:
        raise ValueError('not a GGUF file')
    pos = 4
    version, n_tensors, n_kv = take('<I'), take('<Q'), take('<Q')
    md = {'__version__': version}
    for _ in range(n_kv):
        k = string()
        md[k] = value(take('<I'))
    infos = []
    for _ in range(n_tensors):
        name = string()
        nd = take('<I')
        dims = [take('<Q') for _ in range(nd)]
        infos.append((name, dims, take('<I'), take('<Q')))
    align = md.get('general.alignment', ALIGNMENT)
    base = pos + (-pos) % align
    tensors = {}
    for name, dims, t, off in infos:
        n = int(np.prod(dims))
        shape = tuple(reversed(dims))
        at = base + off
        if t == GGML_F32:
            a = np.frombuffer(buf, '<f4', n, at)
        elif t == GGML_F16:
            a = np.frombuffer(buf, '<f2', n, at).astype(np.float32)
        elif t == GGML_Q8_0:
            rec = np.frombuffer(buf, [('d', '<f2'), ('q', 'i1', 32)], n // 32, at)
            a = (rec['q'].astype(np.float32) * rec['d'].astype(np.float32)[:, None]).reshape(-1)
        else:
            raise ValueError(f'tensor {name} has ggml type {t}, which this reader does not decode (F32, F16, Q8_0)')
        tensors[name] = (a.reshape(shape).astype(np.float32), t)
    return md, tensors
