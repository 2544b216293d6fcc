"""Hybrid search over one snapshot: embed the query, score both ways, fuse, rank."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from wordfreq import zipf_frequency

from index.fusion import absolute_convex, dense_weight_for, rrf, top_rows
from index.pages import asks_how, group_top
from index.snapshot import Snapshot
from index.units import UnitVectors
from kb.embedder import Embedder
from kb.errors import InvalidInput
from kb.models import Evidence, Filter, Hit
from kb.store import StoredDocument
from kb.text import tokenize
from kb.timing import Clock, stage

METHODS = ("hybrid", "dense", "lexical", "rrf")
PREFER_BOOST = 0.2  # added to a passage's fused score (in [0, 1]) per preference it matches
# What a page gains beyond its best passage's fused score (see Searcher.pages).
SECOND_WEIGHT = 0.1  # × its second-best passage's fused score
TITLE_WEIGHT = 0.2  # × the idf-weighted share of the query's words in its title and headings
COVERAGE_WEIGHT = 0.2  # × the idf-weighted share of the query's words anywhere in it
STEPS_WEIGHT = 0.1  # when the question asks how to do something and the page gives steps
NEAR = 0.1  # those gains count fully within this much dense similarity of the best page
SUPPORT_PASSAGES = 4  # retrieved passages of a page an answer may draw on
PREPARED = 8  # latest queries a searcher keeps embedded: one request's, not a cache of questions


@dataclass(frozen=True)
class Query:
    """A query as both retrievers see it."""

    text: str
    vector: np.ndarray
    tokens: list[str]


class Searcher:
    """Ranks the passages of a snapshot for a query, and answers what else callers need to
    know of that snapshot (its version, its vocabulary, its chance level, stored fields), so
    no caller reaches into the snapshot itself."""

    def __init__(
        self, snapshot: Snapshot, embedder: Embedder, *, candidates: int, dense_weight: float
    ) -> None:
        self.snapshot = snapshot
        self.embedder = embedder
        self.candidates = candidates
        self.dense_weight = dense_weight
        self._prepared: OrderedDict[str, Query] = OrderedDict()  # the latest queries, by text
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        """The version of the snapshot searched, e.g. ``v000012``."""
        return self.snapshot.version

    def knows(self, term: str) -> bool:
        """Whether any passage has the tokenised ``term`` (see ``FieldedIndex.knows``)."""
        return self.snapshot.lexical.knows(term)

    def above_chance(self, similarity: float, script: str) -> float | None:
        """How far a calibrated dense ``similarity`` lies above the snapshot's off-topic level
        for questions in ``script``, or None (see ``DenseIndex.above_chance``)."""
        return self.snapshot.dense.above_chance(similarity, script)

    def field_values(self, chunk_ids: Sequence[int], field: str) -> dict[int, Any]:
        """Return the metadata ``field`` of the passages ``chunk_ids`` that have it."""
        return self.snapshot.field_values(chunk_ids, field)

    def document(self, doc_id: str) -> StoredDocument | None:
        """Return document ``doc_id`` as the snapshot holds it, or None."""
        return self.snapshot.document(doc_id)

    @property
    def units(self) -> UnitVectors | None:
        """The snapshot's answer units' vectors, when it was built with them."""
        return self.snapshot.units

    def updated_times(self, doc_ids: Iterable[str]) -> dict[str, str] | None:
        """Return when each of ``doc_ids`` changed (ISO 8601, UTC) as the snapshot holds it;
        None when the snapshot keeps no documents (see ``Snapshot.updated_times``)."""
        return self.snapshot.updated_times(doc_ids)

    def query(self, text: str) -> Query:
        """Embed and tokenise ``text`` once, for any number of searches.

        Misspelt words are read as the indexed words they are closest to (see
        ``FieldedIndex.closest``), by both retrievers; ``Query.text`` keeps what was asked.
        The last :data:`PREPARED` queries are kept: a page that searches and answers one
        question, or the evaluation gate, embeds it once.
        """
        with self._lock:
            if text in self._prepared:
                self._prepared.move_to_end(text)
                return self._prepared[text]
        clock = Clock()
        corrected = spell(text, self.snapshot.lexical.closest)
        tokens = tokenize(corrected)
        clock.lap("lexical")
        vector = self.embedder.embed([corrected], query=True)[0]
        clock.lap("embed")
        query = Query(text, vector, tokens)
        with self._lock:
            self._prepared[text] = query
            while len(self._prepared) > PREPARED:
                self._prepared.popitem(last=False)
        return query

    def pages(
        self,
        query: Query,
        n: int,
        method: str = "hybrid",
        where: Filter | None = None,
        prefer: tuple[Filter, ...] = (),
        support: int = 0,
    ) -> list[Hit]:
        """Return the ``n`` best pages for ``query``, each as the hit of its best passage.

        A page scores by its best passage, and gains for its other matching passages
        (``SECOND_WEIGHT``), for the query's words in its title and headings (``TITLE_WEIGHT``)
        and anywhere in it (``COVERAGE_WEIGHT``), and, when the question asks how to do
        something, for giving numbered steps (``STEPS_WEIGHT``); these gains count in full for
        pages within ``NEAR`` of the best dense similarity, and fade to nothing below.
        Near-duplicate pages come back as one hit that lists the others. The first ``support``
        hits also carry their page's retrieved passages in reading order (what an answer is
        drawn from).
        """
        snap = self.snapshot
        rows, fused, dense, lexical = self._scored(query, method, where, ())
        if len(rows) == 0:
            return []
        clock = Clock()
        # The user's own product, plan and language count for the page as a whole, after
        # what a page adds to its best passage, so they outrank how well a page is titled.
        boost = np.zeros(len(rows), dtype=np.float32)
        for preference in prefer:
            if (preferred := snap.mask(preference)) is not None:
                boost += PREFER_BOOST * preferred[rows]
        row_pages = snap.row_page[rows]
        keys = snap.page_group[row_pages] if snap.duplicates else row_pages
        best, page_keys = group_top(fused, keys)
        # Runner-up passage of each page: the best once each page's best is set aside.
        rest = fused.copy()
        rest[best] = -np.inf
        second_pos, second_keys = group_top(rest, keys)
        second = dict(zip(second_keys.tolist(), rest[second_pos].tolist(), strict=True))
        terms = list(dict.fromkeys(query.tokens))
        candidates = row_pages[best]
        weights = np.array([snap.lexical.idf.get(t, snap.lexical.max_idf) for t in terms])
        total = float(weights.sum())
        in_page = np.zeros((len(terms), len(best)), dtype=bool)  # term t anywhere in page c
        in_title = np.zeros((len(terms), len(best)), dtype=bool)  # ... in its headings
        marks = np.zeros(len(snap.page_start), dtype=bool)
        # A page's headings are its title and its passages' sections: the heading field's.
        headings = snap.lexical.fields.get("heading")
        for k, t in enumerate(terms):
            marks[:] = False
            marks[snap.row_page[snap.lexical.rows_with(t)]] = True
            in_page[k] = marks[candidates]
            if headings is not None:
                marks[:] = False
                marks[snap.row_page[headings.rows_with(t)]] = True
                in_title[k] = marks[candidates]
        share = (lambda m: (weights @ m) / total) if total > 0 else (lambda m: np.zeros(m.shape[1]))
        coverage, title = share(in_page), share(in_title)
        # Words and structure mislead where a page is much further in meaning than the best
        # (variant spellings, words every page shares), so what a page adds to its best
        # passage counts only among pages near the best in meaning; where meaning cannot be
        # measured (a script the model cannot read), the passage order stands.
        if dense.any():
            closeness = np.clip((dense[best] + boost[best] - (dense + boost).max() + NEAR) / NEAR,
                                0.0, 1.0)  # fmt: skip
        else:
            closeness = np.zeros(len(best))
        runner_up = np.array([max(second.get(k, 0.0), 0.0) for k in page_keys.tolist()])
        steps = snap.page_steps[candidates] if asks_how(query.text) else np.zeros(len(best))
        scores = (
            fused[best]
            + boost[best]
            + closeness
            * (
                SECOND_WEIGHT * runner_up
                + TITLE_WEIGHT * title
                + COVERAGE_WEIGHT * coverage
                + STEPS_WEIGHT * steps
            )
        ).astype(np.float32)
        dense_first = int(keys[int(np.argmax(dense))])
        lexical_first = int(keys[int(np.argmax(lexical))]) if lexical.max() > 0 else -1
        order = np.argsort(-scores, kind="stable")[:n]
        picked = best[order]
        # The support of the first hits: their page's best passages, in reading order.
        supports = []
        for i in picked[:support]:
            mine = np.flatnonzero(keys == keys[i])
            mine = mine[np.argsort(-fused[mine], kind="stable")][:SUPPORT_PASSAGES]
            supports.append(sorted(int(rows[j]) for j in mine))
        clock.lap("pages")
        wanted = [int(rows[i]) for i in picked]
        # One look-up for the hits and their support together.
        everything = wanted + [r for s in supports for r in s]
        found = dict(zip(everything, snap.passages(everything), strict=True))
        hits = []
        for rank, (i, score) in enumerate(zip(picked, scores[order], strict=True)):
            group, page = int(keys[i]), int(order[rank])
            hits.append(
                Hit(
                    passage=found[wanted[rank]],
                    score=float(score),
                    dense=float(dense[i]),
                    lexical=float(lexical[i]),
                    duplicates=snap.duplicates.get(group, ()),
                    support=tuple(found[r] for r in supports[rank]) if rank < support else (),
                    evidence=Evidence(
                        float(coverage[page]),
                        float(title[page]),
                        group == dense_first,
                        group == lexical_first,
                    ),
                )  # fmt: skip
            )
        clock.lap("store")
        return hits

    def _scored(
        self,
        query: Query,
        method: str,
        where: Filter | None,
        prefer: tuple[Filter, ...],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Candidate rows with their fused, dense and lexical scores.

        Dense scores are zero when the embedding model cannot read the query's script.
        """
        clock = Clock()
        mask = self.snapshot.mask(where)
        clock.lap("fusion")
        rows, dense, lexical = self._candidates(query, mask)
        clock = Clock()
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
        if dense_weight_for(query.text, self.embedder.languages, 1.0) == 0.0:
            dense = np.zeros_like(dense)  # noise from a model that cannot read the query
        for preference in prefer:
            if (preferred := self.snapshot.mask(preference)) is not None:
                fused = fused + PREFER_BOOST * preferred[rows]
        clock.lap("fusion")
        return rows, fused, dense, lexical

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
        rows, fused, dense, lexical = self._scored(query, method, where, prefer)
        if len(rows) == 0:
            return []
        # Dense similarity is never zero in practice; shift so top_rows keeps every candidate.
        order = top_rows(fused - fused.min() + 1e-6, n)
        picked = rows[order]
        with stage("store"):
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
        clock = Clock()
        dense_rows, _ = snap.dense.search(query.vector, self.candidates, allow)
        clock.lap("dense")
        all_lexical = snap.lexical.scores(query.tokens)
        if allow is not None:
            all_lexical = np.where(allow, all_lexical, 0.0).astype(np.float32)
        lexical_rows = top_rows(all_lexical, self.candidates)
        clock.lap("lexical")
        rows = np.union1d(dense_rows, lexical_rows).astype(np.int64)
        clock.lap("fusion")
        dense = snap.dense.calibrate(snap.dense.scores(query.vector, rows))
        clock.lap("dense")
        lexical = all_lexical[rows] if len(all_lexical) else np.zeros(len(rows), np.float32)
        return rows, dense, lexical


_LOWER_WORD = re.compile(r"\b[a-z]{4,}\b")


REAL_WORD_ZIPF = 3.0  # a word at least this common in English (wordfreq's Zipf scale) is real


def is_word(word: str) -> bool:
    """Whether ``word`` is a common English word (about once per million words or more)."""
    return zipf_frequency(word, "en") >= REAL_WORD_ZIPF


def spell(text: str, closest: Callable[[str], str | None]) -> str:
    """Return ``text`` with each misspelt lower-case word replaced by its nearest indexed term.

    A misspelling is a word the index lacks that is not a common English word (word
    frequencies from wordfreq): "last" in a question to a small FAQ stays "last", while
    "pasword" becomes "password". Words written as names (with capitals) are left alone, so a
    product the knowledge base never mentions is still noticed as missing. A word is looked
    up by its BM25 token and replaced by the indexed term (a stem, which the embedding model
    reads as the word).
    """

    def fix(match: re.Match[str]) -> str:
        word = match.group(0)
        if is_word(word):
            return word  # a real word this knowledge base happens not to use
        tokens = tokenize(word)
        if len(tokens) != 1:
            return word
        better = closest(tokens[0])
        return better if better else word

    return _LOWER_WORD.sub(fix, text)
