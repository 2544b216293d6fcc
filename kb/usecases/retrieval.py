"""Retrieval for one knowledge base: the served snapshot, searching it, and what an answer needs.

:meth:`Retrieval.retrieve` is the one call answering makes: it validates the question, makes a
follow-up standalone, ranks pages and says what the index cannot know and how likely the best
page answers (:class:`Retrieved`), so nothing outside ``index/`` reaches into a snapshot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from index.search import Query, Searcher
from index.snapshot import Snapshot, load_current
from index.versions import current_version
from kb.answer import missing_names
from kb.confidence import Calibrator, features
from kb.config import Settings
from kb.conversation import MAX_TURNS, Known, faithful, is_follow_up, standalone
from kb.errors import InvalidInput, KbError
from kb.generate import Rewriter
from kb.llm import UpstreamError
from kb.models import Filter, Hit, UserContext
from kb.telemetry import RETRIEVAL_SECONDS, timed
from kb.usecases.embedders import EmbeddingModels
from kb.usecases.nudges import EXTRA, FeedbackNudges
from kb.usecases.validation import check_filter, clean_query

log = logging.getLogger("kb")
ANSWER_PAGES = 10  # pages retrieved for an answer: the best is cited, the next three related


@dataclass(frozen=True)
class Retrieved:
    """What answering needs from retrieval for one question.

    ``question`` is the one retrieval ran on (a follow-up made standalone); ``hits`` are pages,
    best first, each with the passages an answer may draw on; ``missing`` the names in the
    question no passage mentions; ``probability`` the calibrated chance that the best page
    answers it (see :mod:`kb.confidence`); ``index_version`` the snapshot searched.
    """

    question: str
    hits: list[Hit]
    missing: list[str]
    probability: float
    index_version: str


class Retrieval:
    """Searches the snapshot being served, reloading it when an ingest or a rollback switches it
    (checked at most every ``reload_interval`` seconds)."""

    def __init__(
        self, settings: Settings, models: EmbeddingModels, nudges: FeedbackNudges | None = None
    ) -> None:
        self.settings = settings
        self.models = models
        self.nudges = nudges
        self._searcher: Searcher | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        """Load the served snapshot again on the next search (after an ingest or a rollback)."""
        self._searcher = None

    def searcher(self) -> Searcher:
        """Return a searcher over the snapshot being served, reloading when it changes.

        Raises :class:`kb.errors.NotReady` when nothing was ingested yet.
        """
        now = time.monotonic()
        current = self._searcher
        if current is not None and now - self._checked < self.settings.reload_interval:
            return current
        self._checked = now
        version = current_version(self.settings.snapshots_dir)
        if current is not None and current.version == version:
            return current
        # One thread loads the new snapshot; the others keep serving the current one.
        if current is not None and not self._lock.acquire(blocking=False):
            return current
        if current is None:
            self._lock.acquire()
        try:
            if self._searcher is not None and self._searcher.version == version:
                return self._searcher
            try:
                snapshot: Snapshot = load_current(self.settings.snapshots_dir)
            except KbError as e:
                if self._searcher is None:
                    raise
                log.error("index %s not loaded, still serving %s: %s",
                          version, self._searcher.version, e.message)  # fmt: skip
                return self._searcher
            self.models.use(snapshot.manifest.model)  # its passages' model embeds the queries
            self._searcher = Searcher(
                snapshot,
                self.models.query_embedder,
                candidates=self.settings.search_candidates,
                dense_weight=self.settings.dense_weight,
            )
            log.debug("serving index %s", snapshot.version)
            return self._searcher
        finally:
            self._lock.release()

    def searcher_for(self, version: str) -> Searcher:
        """Return a searcher over snapshot ``version``, served or not (the gate compares one
        not yet served with the one that is). Raises :class:`kb.errors.KbError` if it cannot
        be loaded."""
        served = self.searcher() if current_version(self.settings.snapshots_dir) else None
        if served is not None and served.version == version:
            return served
        snapshot = Snapshot(self.settings.snapshots_dir / version)
        self.models.use(snapshot.manifest.model)
        return Searcher(
            snapshot,
            self.models.query_embedder,
            candidates=self.settings.search_candidates,
            dense_weight=self.settings.dense_weight,
        )

    def search(
        self,
        query: str,
        k: int = 10,
        method: str = "hybrid",
        where: Filter | None = None,
        searcher: Searcher | None = None,
        context: UserContext | None = None,
    ) -> list[Hit]:
        """Return the best section of each of the ``k`` best documents for ``query``.

        Raises :class:`InvalidInput` for an empty or too long query, or ``k`` outside
        1..``max_k``.
        """
        query = clean_query(query, self.settings.max_query_chars)
        if not 1 <= k <= self.settings.max_k:
            raise InvalidInput(f"k must be between 1 and {self.settings.max_k}")
        return self.rank(query, k, method, where, searcher, context)

    def rank_page(
        self,
        query: str,
        k: int,
        page: int,
        where: Filter | None = None,
        searcher: Searcher | None = None,
        context: UserContext | None = None,
    ) -> list[Hit]:
        """Return page ``page`` (from 1) of ``k`` documents, and the first of the next page
        when there is one (so ``len > k`` means more follow)."""
        query = clean_query(query, self.settings.max_query_chars)
        hits = self.rank(query, page * k + 1, "hybrid", where, searcher, context)
        return hits[(page - 1) * k :]

    def public_filter(self, where: Filter | None = None) -> Filter:
        """Return ``where`` narrowed to the public kinds; asking for a private kind is an error."""
        public = self.settings.public
        if where is None:
            return Filter(kinds=public)
        check_filter(where)
        if where.kinds is not None and not where.kinds <= public:
            raise InvalidInput(f"kind must be one of: {', '.join(sorted(public))}")
        return replace(where, kinds=where.kinds if where.kinds is not None else public)

    def rank(
        self,
        query: str | Query,
        k: int,
        method: str = "hybrid",
        where: Filter | None = None,
        searcher: Searcher | None = None,
        context: UserContext | None = None,
    ) -> list[Hit]:
        """Rank documents for a validated query (search and evaluation share this).

        ``query`` may be prepared once with ``searcher().query(text)`` to rank it many ways;
        pass ``searcher`` to pin one snapshot across calls.
        """
        searcher = searcher or self.searcher()
        prepared = searcher.query(query) if isinstance(query, str) else query
        context = context or UserContext()
        with timed(RETRIEVAL_SECONDS):
            return self._pages(searcher, prepared, k, method=method,
                               where=context.narrow(self.public_filter(where)),
                               prefer=context.preferences())  # fmt: skip

    def _pages(self, searcher: Searcher, query: Query, k: int, **options: Any) -> list[Hit]:
        """The ``k`` best pages (:meth:`Searcher.pages` with ``options``), with customers' votes
        on pages for questions like it nudging the hybrid ranking, within bounds
        (:mod:`kb.nudges`): results and answers alike."""
        nudged = (
            self.nudges.for_question(query.vector, searcher.embedder)
            if self.nudges is not None and options.get("method", "hybrid") == "hybrid"
            else {}
        )
        if not nudged or self.nudges is None:
            return searcher.pages(query, k, **options)
        return self.nudges.apply(searcher.pages(query, k + EXTRA, **options), nudged, k)

    def retrieve(
        self,
        question: str,
        *,
        history: Sequence[str] = (),
        context: UserContext | None = None,
        searcher: Searcher | None = None,
        rewriter: Rewriter | None = None,
    ) -> Retrieved:
        """Validate ``question``, make it standalone with ``history`` (earlier questions,
        oldest first; by ``rewriter`` when there is one, else by rule), and rank
        pages for it, narrowed and ordered by ``context``.

        Raises :class:`InvalidInput` for an empty or too long question or history question.
        """
        searcher = searcher or self.searcher()
        limit = self.settings.max_query_chars
        question = clean_query(question, limit, name="question")
        previous = [clean_query(q, limit, "history question") for q in history[-MAX_TURNS:]]
        query = self.standalone(question, previous, rewriter, searcher.knows)
        context = context or UserContext()
        with timed(RETRIEVAL_SECONDS):
            hits = self._pages(searcher, searcher.query(query), ANSWER_PAGES,
                               where=context.narrow(self.public_filter()),
                               prefer=context.preferences(), support=1)  # fmt: skip
        return Retrieved(
            question=query,
            hits=hits,
            missing=missing_names(query, searcher.knows),
            probability=Calibrator().probability(
                features(hits, searcher.knows, query, searcher.above_chance)
            ),
            index_version=searcher.version,
        )

    def standalone(
        self, question: str, previous: Sequence[str], rewriter: Rewriter | None, known: Known
    ) -> str:
        """Return the follow-up ``question`` made standalone: by the model if any, else by rule.

        ``known`` tells the terms the index has: a short question naming one is a new one.
        """
        if not previous or not is_follow_up(question, known):
            return question
        if rewriter is not None:
            try:
                query = clean_query(
                    rewriter.rewrite(question, previous), self.settings.max_query_chars
                )
                if faithful(query, question, previous):
                    return query
                log.warning("follow-up rewrite left the conversation, using the rule: %r", query)
            except (UpstreamError, InvalidInput) as e:
                log.warning("follow-up rewrite failed, using the rule: %s", e)
        return standalone(question, previous, known)
