"""Lexical retrieval: Okapi BM25 through bm25s (sparse matrices; scores match rank-bm25).

Passages have two fields, the heading (document title and section) and the body; each is a
BM25 index of its own. Their scores are combined and divided by the most the query could
score (the sum of its terms' idf), so a lexical score is absolute, in [0, 1): a weak match
stays weak instead of being stretched to 1 by per-query min-max scaling.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path

import bm25s
import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

# bm25s logs progress through its own logger; kb reports progress itself.
logging.getLogger("bm25s").setLevel(logging.WARNING)


class LexicalIndex:
    """BM25 over pre-tokenised passages (see :func:`kb.text.tokenize`)."""

    def __init__(self, model: bm25s.BM25, size: int, idf: Mapping[str, float]) -> None:
        self.model = model
        self.size = size
        self.idf = idf

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
        n = len(tokens)
        df = Counter(term for doc in tokens for term in set(doc))
        idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
        return cls(model, n, idf)

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """Return the BM25 score of every passage for the query."""
        vocab = self._vocab
        ids = [vocab[t] for t in query_tokens if t in vocab]
        if not ids or self.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.model.get_scores_from_ids(ids), dtype=np.float32)

    def rows_with(self, term: str) -> np.ndarray:
        """Return the rows whose text has ``term`` (its postings in bm25s's score matrix)."""
        token = self._vocab.get(term)
        if token is None or self.size == 0:
            return np.zeros(0, dtype=np.int64)
        indptr = self.model.scores["indptr"]
        return np.asarray(self.model.scores["indices"][indptr[token] : indptr[token + 1]])

    @property
    def _vocab(self) -> Mapping[str, int]:
        # bm25s sets vocab_dict only when it indexes; an index of no passages has none.
        return getattr(self.model, "vocab_dict", None) or {}

    def ceiling(self, query_tokens: list[str]) -> float:
        """Return the most any passage could score: the idf of each query term, summed."""
        return sum(self.idf.get(t, 0.0) for t in query_tokens)

    def save(self, directory: Path) -> None:
        """Write the index into ``directory`` (an index of no passages is its size and idf only:
        bm25s cannot save a model it never indexed)."""
        directory.mkdir(parents=True, exist_ok=True)
        if self.size:
            self.model.save(str(directory), show_progress=False)
        (directory / "size").write_text(str(self.size))
        (directory / "idf.json").write_text(json.dumps(self.idf, ensure_ascii=False))

    @classmethod
    def load(cls, directory: Path, mmap: bool = True) -> LexicalIndex:
        """Read an index written by :meth:`save`."""
        size = int((directory / "size").read_text())
        idf = json.loads((directory / "idf.json").read_text())
        if size == 0:
            return cls(bm25s.BM25(), 0, idf)
        model = bm25s.BM25.load(str(directory), mmap=mmap, show_progress=False)
        return cls(model, size, idf)


class FieldedIndex:
    """BM25 over named fields of the same passages, combined into one absolute score."""

    def __init__(self, fields: Mapping[str, LexicalIndex], weights: Mapping[str, float]) -> None:
        self.fields = dict(fields)
        self.weights = dict(weights)
        self.size = next(iter(self.fields.values())).size if self.fields else 0

    @classmethod
    def build(
        cls, fields: Mapping[str, Sequence[list[str]]], weights: Mapping[str, float]
    ) -> FieldedIndex:
        """Return one BM25 index per field."""
        return cls({name: LexicalIndex.build(tokens) for name, tokens in fields.items()}, weights)

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """Return each passage's weighted field scores over the query's ceiling, in [0, 1)."""
        total = np.zeros(self.size, dtype=np.float32)
        ceiling = 0.0
        for name, index in self.fields.items():
            weight = self.weights.get(name, 1.0)
            total += weight * index.scores(query_tokens)
            ceiling += weight * index.ceiling(query_tokens)
        return total / ceiling if ceiling > 0 else total

    @property
    def idf(self) -> Mapping[str, float]:
        """The idf of each term in the body field (the first field when there is none)."""
        body = self.fields.get("body") or next(iter(self.fields.values()), None)
        return body.idf if body is not None else {}

    @cached_property
    def max_idf(self) -> float:
        """The idf of the body field's rarest term (what a term no passage has would weigh)."""
        return max(self.idf.values(), default=0.0)

    @cached_property
    def vocabulary(self) -> list[str]:
        """The body field's terms, the most common first."""
        return sorted(self.idf, key=lambda t: (self.idf[t], t))

    def closest(self, term: str) -> str | None:
        """Return the body term ``term`` is a misspelling of, or None.

        A term the index does not have, of four letters or more, is matched to the most
        common indexed term within one edit (two from eight letters on): "pasword" to
        "password", "resett" to "reset". Levenshtein distance from rapidfuzz.
        """
        if len(term) < 4 or not term.isalpha() or self.knows(term):
            return None
        edits = 1 if len(term) < 8 else 2
        found = process.extract(
            term, self.vocabulary, scorer=Levenshtein.distance, score_cutoff=edits, limit=None
        )
        # The most common of the nearest: the vocabulary is ordered by idf, lowest first.
        return min(found, key=lambda f: (f[1], f[2]))[0] if found else None

    def rows_with(self, term: str) -> np.ndarray:
        """Return the rows that have ``term`` in any field (a row may come more than once)."""
        found = [index.rows_with(term) for index in self.fields.values()]
        return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)

    def knows(self, term: str) -> bool:
        """Return whether any passage has the (tokenised) ``term`` in any field."""
        return any(term in index.idf for index in self.fields.values())

    def save(self, directory: Path) -> None:
        """Write every field's index under ``directory``."""
        for name, index in self.fields.items():
            index.save(directory / name)
        (directory / "weights.json").write_text(json.dumps(self.weights))

    @classmethod
    def load(cls, directory: Path) -> FieldedIndex:
        """Read an index written by :meth:`save`."""
        weights = json.loads((directory / "weights.json").read_text())
        return cls({name: LexicalIndex.load(directory / name) for name in weights}, weights)
