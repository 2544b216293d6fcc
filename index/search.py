"""Hybrid search over one snapshot: embed the query, score both ways, fuse, rank."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from index.embedding import Embedder
from index.fusion import absolute_convex, dense_weight_for, rrf, top_rows
from index.snapshot import Snapshot
from kb.errors import InvalidInput
from kb.models import Filter, Hit
from kb.text import tokenize

METHODS = ("hybrid", "dense", "lexical", "rrf")
PREFER_BOOST = 0.2  # added to a passage's fused score (in [0, 1]) per preference it matches


@dataclass(frozen=True)
class Query:
    """A query as both retrievers see it."""

    text: str
    vector: np.ndarray
    tokens: list[str]


class Searcher:
    """Ranks the passages of a snapshot for a query."""

    def __init__(
        self, snapshot: Snapshot, embedder: Embedder, *, candidates: int, dense_weight: float
    ) -> None:
        self.snapshot = snapshot
        self.embedder = embedder
        self.candidates = candidates
        self.dense_weight = dense_weight

    def query(self, text: str) -> Query:
        """Embed and tokenise ``text`` once, for any number of searches."""
        return Query(text, self.embedder.embed([text], query=True)[0], tokenize(text))

    def search(
        self,
        query: Query,
        n: int,
        method: str = "hybrid",
        where: Filter | None = None,
        prefer: tuple[Filter, ...] = (),
    ) -> list[Hit]:
        """Return the ``n`` best passages for ``query`` by ``hybrid``, ``dense`` or ``lexical``.

        ``where`` restricts retrieval itself, before any top-k cut; a passage gains
        ``PREFER_BOOST`` for each filter in ``prefer`` it matches (the user's product, plan,
        language).
        """
        rows, dense, lexical = self._candidates(query, self.snapshot.mask(where))
        if len(rows) == 0:
            return []
        if method not in METHODS:
            raise InvalidInput(f"method must be one of {', '.join(METHODS)}")
        if method == "dense":
            fused = dense
        elif method == "lexical":
            fused = lexical
        elif method == "rrf":  # equal-weight reciprocal-rank fusion, for comparison only
            fused = rrf(dense, lexical)
        else:
            weight = dense_weight_for(query.text, self.embedder.languages, self.dense_weight)
            fused = absolute_convex(dense, lexical, weight)
        for preference in prefer:
            if (preferred := self.snapshot.mask(preference)) is not None:
                fused = fused + PREFER_BOOST * preferred[rows]
        # Dense similarity is never zero in practice; shift so top_rows keeps every candidate.
        order = top_rows(fused - fused.min() + 1e-6, n)
        picked = rows[order]
        passages = self.snapshot.passages([int(r) for r in picked])
        return [
            Hit(passage=p, score=float(fused[i]), dense=float(dense[i]), lexical=float(lexical[i]))
            for p, i in zip(passages, order, strict=True)
        ]

    def _candidates(
        self, query: Query, allow: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Union of both retrievers' top candidates, with both scores for each."""
        snap = self.snapshot
        if allow is not None and not allow.any():
            empty = np.zeros(0, dtype=np.float32)
            return np.zeros(0, dtype=np.int64), empty, empty
        dense_rows, _ = snap.dense.search(query.vector, self.candidates, allow)
        all_lexical = snap.lexical.scores(query.tokens)
        if allow is not None:
            all_lexical = np.where(allow, all_lexical, 0.0).astype(np.float32)
        lexical_rows = top_rows(all_lexical, self.candidates)
        rows = np.union1d(dense_rows, lexical_rows).astype(np.int64)
        dense = snap.dense.calibrate(snap.dense.scores(query.vector, rows))
        lexical = all_lexical[rows] if len(all_lexical) else np.zeros(len(rows), np.float32)
        return rows, dense, lexical


def best_per_document(hits: list[Hit], k: int) -> list[Hit]:
    """Return the best hit of each document, at most ``k`` of them, in rank order."""
    seen: set[str] = set()
    out: list[Hit] = []
    for hit in hits:
        if hit.passage.doc_id not in seen:
            seen.add(hit.passage.doc_id)
            out.append(hit)
            if len(out) == k:
                break
    return out
