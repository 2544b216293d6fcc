"""Score fusion as small pure functions over aligned score arrays."""

from __future__ import annotations

import numpy as np

from kb.text import has_cjk


def absolute_convex(dense: np.ndarray, lexical: np.ndarray, dense_weight: float) -> np.ndarray:
    """Return ``w·dense + (1-w)·lexical`` for scores already on absolute scales.

    Cosine similarity and BM25 over its query ceiling both mean the same thing for every query,
    so no per-query rescaling is needed, and a weak match on one side stays weak.
    """
    return (dense_weight * dense + (1.0 - dense_weight) * lexical).astype(np.float32)


CJK_LANGUAGES = frozenset({"zh", "ja", "ko", "multilingual"})


def dense_weight_for(text: str, languages: frozenset[str], weight: float) -> float:
    """Return the dense weight for a query: 0 when the embedding model cannot read its script.

    An English-only model maps Chinese, Japanese or Korean text to noise; BM25 over character
    bigrams still works, so the hybrid leans on it alone.
    """
    if has_cjk(text) and not (languages & CJK_LANGUAGES):
        return 0.0
    return weight


def reciprocal_rank(scores: np.ndarray, k: int = 60) -> np.ndarray:
    """Return ``1 / (k + rank)`` for each score, rank 1 being the highest."""
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.float32)
    ranks[order] = np.arange(1, len(scores) + 1, dtype=np.float32)
    return (1.0 / (k + ranks)).astype(np.float32)


def rrf(dense: np.ndarray, lexical: np.ndarray, k: int = 60) -> np.ndarray:
    """Return reciprocal-rank fusion of two aligned score arrays."""
    return reciprocal_rank(dense, k) + reciprocal_rank(lexical, k)


def top_rows(scores: np.ndarray, n: int) -> np.ndarray:
    """Return the indexes of the ``n`` highest scores that are above zero, best first."""
    n = min(n, int(np.count_nonzero(scores > 0)))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, n - 1)[:n]
    return part[np.argsort(-scores[part], kind="stable")]
