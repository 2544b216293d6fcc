"""Dense retrieval with FAISS: inner product over unit vectors. The only module importing faiss."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np


class DenseIndex:
    """Exact inner-product search over unit-length vectors."""

    def __init__(self, index: faiss.Index) -> None:
        self.index = index

    @classmethod
    def build(cls, vectors: np.ndarray) -> DenseIndex:
        """Return an index over ``vectors`` (row i is passage i)."""
        index = faiss.IndexFlatIP(vectors.shape[1])
        if len(vectors):
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index)

    @property
    def size(self) -> int:
        """Number of vectors."""
        return int(self.index.ntotal)

    def search(
        self, query: np.ndarray, n: int, allow: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return the rows and cosine scores of the ``n`` nearest passages, best first.

        ``allow`` (one bool per row) restricts the search itself, so a filter never empties a
        result that a top-k cut followed by filtering would.
        """
        n = min(n, self.size)
        if n == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        vector = query.reshape(1, -1).astype(np.float32)
        if allow is None:
            scores, rows = self.index.search(vector, n)
        else:
            bits = np.packbits(allow.astype(bool), bitorder="little")
            selector = faiss.IDSelectorBitmap(len(allow), faiss.swig_ptr(bits))
            params = faiss.SearchParameters()
            params.sel = selector
            scores, rows = self.index.search(vector, n, params=params)
        keep = rows[0] >= 0
        return rows[0][keep], scores[0][keep]

    def scores(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Return the cosine scores of ``query`` against the given rows."""
        if len(rows) == 0:
            return np.zeros(0, dtype=np.float32)
        vectors = self.index.reconstruct_batch(np.asarray(rows, dtype=np.int64))
        return np.asarray(vectors @ query.reshape(-1), dtype=np.float32)

    def save(self, path: Path) -> None:
        """Write the index to ``path``."""
        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path) -> DenseIndex:
        """Read an index written by :meth:`save`."""
        return cls(faiss.read_index(str(path)))
