"""Lexical retrieval: Okapi BM25 through bm25s (sparse matrices; scores match rank-bm25)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np

# bm25s logs progress through its own logger; kb reports progress itself.
logging.getLogger("bm25s").setLevel(logging.WARNING)


class LexicalIndex:
    """BM25 over pre-tokenised passages (see :func:`kb.text.tokenize`)."""

    def __init__(self, model: bm25s.BM25, size: int) -> None:
        self.model = model
        self.size = size

    @classmethod
    def build(
        cls,
        corpus_tokens: Sequence[list[str]],
        k1: float = 1.2,
        b: float = 0.75,
        method: str = "lucene",
    ) -> LexicalIndex:
        """Return a BM25 index over the tokenised passages (row i is passage i).

        ``lucene`` (the default) has an idf that never goes negative; ``robertson`` is the
        classic Okapi BM25 that rank-bm25 implements, used by the reference test.
        """
        model = bm25s.BM25(k1=k1, b=b, method=method)
        # Every passage needs a token so rows stay aligned with the other indexes.
        tokens = [t if t else ["\x00"] for t in corpus_tokens]
        if tokens:
            model.index(tokens, show_progress=False)
        return cls(model, len(tokens))

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """Return the BM25 score of every passage for the query."""
        vocab = self.model.vocab_dict or {}
        ids = [vocab[t] for t in query_tokens if t in vocab]
        if not ids or self.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.model.get_scores_from_ids(ids), dtype=np.float32)

    def save(self, directory: Path) -> None:
        """Write the index into ``directory``."""
        self.model.save(str(directory), show_progress=False)
        (directory / "size").write_text(str(self.size))

    @classmethod
    def load(cls, directory: Path, mmap: bool = True) -> LexicalIndex:
        """Read an index written by :meth:`save`."""
        model = bm25s.BM25.load(str(directory), mmap=mmap, show_progress=False)
        return cls(model, int((directory / "size").read_text()))
