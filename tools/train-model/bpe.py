"""Byte-level BPE for pie-code-tiny: the pre-tokenizer, the byte alphabet, encoding, decoding, and the file format.

The pre-tokenizer is llama.cpp's 'qwen2' (GGUF tokenizer.ggml.pre = "qwen2"; the regex of Qwen2 / Qwen2.5-Coder, which
our engine's src/engine/model/tokenizer.ts and llama.cpp both implement): words with an optional leading non-letter,
single digits, punctuation runs with their trailing newlines, newline runs, and spaces. Training counts pairs only inside
its pieces, so no merge ever crosses a piece boundary. Encoding applies merges by rank (lowest first, leftmost on a tie),
as llama.cpp's llm_tokenizer_bpe does; tests compare our ids with the engine's on held-out files.

tokenizer.json (our own, small): {"pre": "qwen2", "tokens": [...], "token_type": [...], "merges": ["a b", ...],
"special": {"eos": id, "bos": id, "fim_prefix": id, "fim_middle": id, "fim_suffix": id, "fim_pad": id}}. Token texts
use GPT-2's byte-to-unicode alphabet, as GGUF 'gpt2' vocabularies do.
"""
from __future__ import annotations

import json
from pathlib import Path

import regex

# llama.cpp / our engine: REGEX_QWEN2 (src/engine/model/tokenizer.ts)
PRE_NAME = 'qwen2'
PRE_REGEX = (r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
             r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
PRE = regex.compile(PRE_REGEX)

# GGUF token types (llama.cpp llama_token_type)
TOKEN_NORMAL = 1
TOKEN_CONTROL = 3

SPECIAL_TOKENS = [  # (role, text); their ids are 0..5
    ('eos', '<|endoftext|>'),
    ('bos', '<|bos|>'),
    ('fim_prefix', '<|fim_prefix|>'),
    ('fim_middle', '<|fim_middle|>'),
    ('fim_suffix', '<|fim_suffix|>'),
    ('fim_pad', '<|fim_pad|>'),
]


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map (the alphabet of GGUF 'gpt2' token texts)."""
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE_TO_CHAR = bytes_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}
# str.translate table: a latin-1 decoded byte string -> the byte-level alphabet
_TRANSLATE = {b: c for b, c in BYTE_TO_CHAR.items()}


def to_byte_chars(piece: str) -> str:
    return piece.encode('utf-8').decode('latin-1').translate(_TRANSLATE)


def pretokenize(text: str) -> list[str]:
    return PRE.findall(text)


class Tokenizer:
    def __init__(self, tokens: list[str], token_type: list[int], merges: list[str], special: dict[str, int],
                 pre: str = PRE_NAME):
        if pre != PRE_NAME:
            raise ValueError(f'only the {PRE_NAME} pre-tokenizer is implemented, got {pre}')
        self.tokens = tokens
        self.token_type = token_type
        self.merges = merges
        self.special = special
        self.pre = pre
        self.id_of = {t: i for i, t in enumerate(tokens) if token_type[i] == TOKEN_NORMAL}
        self.ranks = {tuple(m.split(' ')): r for r, m in enumerate(merges)}
        self.cache: dict[str, list[int]] = {}
        self.eos = special['eos']
        self.bos = special['bos']
        self.fim_prefix = special['fim_prefix']
        self.fim_middle = special['fim_middle']
        self.fim_suffix = special['fim_suffix']
        self.fim_pad = special['fim_pad']

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    @classmethod
    def load(cls, path: str | Path) -> 'Tokenizer':
        j = json.loads(Path(path).read_text('utf-8'))
        return cls(j['tokens'], j['token_type'], j['merges'], j['special'], j['pre'])

    def save(self, path: str | Path, extra: dict | None = None) -> None:
        j = {'pre': self.pre, 'pre_regex': PRE_REGEX, 'special': self.special, 'tokens': self.tokens,
             'token_type': self.token_type, 'merges': self.merges}
        if extra:
            j['training'] = extra
        Path(path).write_text(json.dumps(j, ensure_ascii=False, indent=0), 'utf-8')

    def _bpe(self, word: str) -> list[int]:
        """Merges by rank inside one pre-tokenizer piece (already in the byte alphabet)."""
        syms = list(word)
        ranks = self.ranks
        while len(syms) > 1:
            best = None
            best_rank = None
            for i in range(len(syms) - 1):
                r = ranks.get((syms[i], syms[i + 1]))
                if r is not None and (best_rank is None or r < best_rank):
                    best_rank = r
                    best = i
            if best is None:
                break
            a, b = syms[best], syms[best + 1]
            # merge every occurrence of (a, b), left to right (equivalent to the lowest-position-first queue)
            out = []
            i = 0
            while i < len(syms):
                if i < len(syms) - 1 and syms[i] == a and syms[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            syms = out
        return [self.id_of[s] for s in syms]

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        """Plain text (special token texts are not parsed)."""
        out = [self.bos] if bos else []
        cache = self.cache
        for piece in PRE.findall(text):
            ids = cache.get(piece)
            if ids is None:
                ids = self._bpe(to_byte_chars(piece))
                if len(cache) < 500_000:
                    cache[piece] = ids
            out.extend(ids)
        if eos:
            out.append(self.eos)
        return out

    def decode_bytes(self, ids: list[int]) -> bytes:
        out = bytearray()
        for i in ids:
            if self.token_type[i] != TOKEN_NORMAL:
                continue
            out.extend(CHAR_TO_BYTE[c] for c in self.tokens[i])
        return bytes(out)

    def decode(self, ids: list[int]) -> str:
        return self.decode_bytes(ids).decode('utf-8', 'replace')


def fim_prompt(tok: Tokenizer, prefix: list[int], suffix: list[int], order: str) -> list[int]:
    """The tokens before a FIM middle (BOS included), in one of the two orders of Bavarian et al. 2022 ("Efficient
    Training of Language Models to Fill in the Middle"), as session.ts lays out the cache:
      psm  BOS <|fim_prefix|> prefix <|fim_suffix|> suffix <|fim_middle|>     (then the middle)
      spm  BOS <|fim_prefix|> <|fim_suffix|> suffix <|fim_middle|> prefix     (the middle continues the prefix)
    or 'off': BOS prefix (left to right, the suffix unused), for comparisons."""
    if order == 'psm':
        return [tok.bos, tok.fim_prefix] + prefix + [tok.fim_suffix] + suffix + [tok.fim_middle]
    if order == 'spm':
        return [tok.bos, tok.fim_prefix, tok.fim_suffix] + suffix + [tok.fim_middle] + prefix
    if order == 'off':
        return [tok.bos] + prefix
    raise ValueError(f'FIM order {order!r}: psm, spm or off')
