"""Answer units' vectors, embedded when a snapshot is built rather than when a question comes.

The extractive answer scores every sentence (and list of steps) of the passages it draws on
against the question (:class:`kb.generate.ExtractiveGenerator`). Embedding those at answer time
cost an /answer ten times a /search on a real help centre: four units at the median, up to
thirty. A snapshot built with an answer-unit embedder holds every unit of the passages answers
draw on, embedded by the model that serves questions, so an answer embeds only the units it
cannot find (a snapshot from before, or text the splitter now cuts differently).

Units are found by the text they are embedded as (section and sentence, see
:func:`kb.generate.unit_text`), by an 8-byte hash kept sorted beside the vectors: a unit whose
text changed is simply not found. Vectors are kept as float16 (half the disk; cosine scores move
by under 1e-3) and memory-mapped, so a process reads only the pages of units it answers from.

Files of a snapshot: ``unit_keys.npy`` (uint64, sorted) and ``unit_vectors.npy`` (float16,
one row per key).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from kb.embedder import Embedder
from kb.generate import answer_units, unit_text
from kb.models import Passage
from kb.store import IndexRow, Store
from kb.text import content_hash

KEYS = "unit_keys.npy"
VECTORS = "unit_vectors.npy"
CACHE_SUFFIX = "#answer-units"  # the store's embedding cache keeps units under model + this


def unit_key(text: str) -> int:
    """Return the 64-bit key of a unit's embedded text (blake2b)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def row_units(rows: Sequence[IndexRow]) -> list[str]:
    """Return the embedded texts of the answer units of ``rows``, each once, in row order."""
    texts: dict[str, None] = {}
    for r in rows:
        passage = Passage(r.chunk_id, r.doc_id, r.doc_version, r.title, "", r.section, r.text,
                          r.kind, r.lang)  # fmt: skip
        for _, unit in answer_units([passage]):
            texts[unit_text(r.section, unit)] = None
    return list(texts)


def embed_units(
    store: Store,
    embedder: Embedder,
    texts: Sequence[str],
    batch_size: int,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Return the vectors of ``texts`` (float32, ``len(texts)`` × ``embedder.dim``), embedding
    only those the store's cache lacks; the cache then keeps exactly these texts' vectors.

    Cached under the embedder's name plus :data:`CACHE_SUFFIX`, by content hash of the text.
    """
    model = embedder.name + CACHE_SUFFIX
    hashes = [content_hash("answer unit", t) for t in texts]
    cached = store.get_embeddings(model, hashes)
    todo = [(h, t) for h, t in zip(hashes, texts, strict=True) if h not in cached]
    todo.sort(key=lambda pair: len(pair[1]))  # batches of like lengths: less padding
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        fresh = dict(zip((h for h, _ in batch), embedder.embed([t for _, t in batch]), strict=True))
        store.put_embeddings(model, fresh)
        cached.update(fresh)
        if progress:
            progress(len(batch))
    store.retain_embeddings(model, hashes)
    matrix = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    for i, h in enumerate(hashes):
        matrix[i] = cached[h]
    return matrix


def write_units(directory: Path, texts: Sequence[str], vectors: np.ndarray) -> None:
    """Write units' keys (sorted) and vectors (float16) into a snapshot being built."""
    keys = np.array([unit_key(t) for t in texts], dtype=np.uint64)
    order = np.argsort(keys, kind="stable")
    np.save(directory / KEYS, keys[order])
    np.save(directory / VECTORS, vectors[order].astype(np.float16))


class UnitVectors:
    """A snapshot's answer units' vectors, looked up by text.

    Raises ``OSError`` or ``ValueError`` from :meth:`load` when the files are unreadable.
    """

    def __init__(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        self.keys = keys
        self.vectors = vectors

    @classmethod
    def load(cls, directory: Path) -> UnitVectors | None:
        """Return the units of the snapshot in ``directory``, or None when it has none."""
        if not (directory / KEYS).is_file():
            return None
        keys = np.load(directory / KEYS)
        vectors = np.load(directory / VECTORS, mmap_mode="r")
        if keys.ndim != 1 or vectors.ndim != 2 or len(keys) != len(vectors):
            raise ValueError("unit keys and vectors disagree")
        return cls(keys, vectors)

    def __len__(self) -> int:
        return len(self.keys)

    def find(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Return the vectors (float32, unit length as embedded) of those ``texts`` held."""
        if not texts or not len(self.keys):
            return {}
        wanted = np.array([unit_key(t) for t in texts], dtype=np.uint64)
        at = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
        found = self.keys[at] == wanted
        rows = self.vectors[at[found]].astype(np.float32)
        return dict(zip((t for t, f in zip(texts, found, strict=True) if f), rows, strict=True))
