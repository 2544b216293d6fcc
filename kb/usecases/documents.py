"""Documents as customers and editors see them: kb's article view, dates, counts, feedback and
satisfaction ratings."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from index.search import Searcher
from index.versions import current_version
from kb.config import Settings
from kb.errors import KbError
from kb.feedback import parse_feedback
from kb.journal import FeedbackEntry, RatingEntry
from kb.regressions import from_feedback
from kb.satisfaction import parse_rating
from kb.store import StoredDocument
from kb.telemetry import FEEDBACK, RATINGS
from kb.usecases.retrieval import Retrieval
from kb.usecases.stores import Stores


class Documents:
    """Reads documents from the served snapshot or the store; takes customers' feedback and
    ratings."""

    def __init__(self, settings: Settings, stores: Stores, retrieval: Retrieval) -> None:
        self.settings = settings
        self.stores = stores
        self.retrieval = retrieval

    def document(self, doc_id: str) -> StoredDocument | None:
        """Return document ``doc_id`` (of any kind) as the served snapshot holds it, or None.

        The served snapshot's copy is the text its results and citations link to, anchors
        included, even after a rollback to a snapshot built before the document changed or went.
        A document the snapshot does not hold (added since it was built, or a snapshot older
        than format 7) comes from the store.
        """
        try:
            served = self.retrieval.searcher().document(doc_id)
        except KbError:  # no index yet, or none that loads: the store's copy is all there is
            served = None
        if served is not None:
            return served
        store = self.stores.read_only()
        if store is None:
            return None
        with store:
            return store.get_document(doc_id)

    def public_document(self, doc_id: str) -> StoredDocument | None:
        """Return the stored document ``doc_id`` if it is of a public kind, else None."""
        doc = self.document(doc_id)
        return doc if doc is not None and doc.kind in self.settings.public else None

    def updated_times(
        self, doc_ids: Iterable[str], searcher: Searcher | None = None
    ) -> dict[str, str]:
        """Return when each document last changed (ISO 8601, UTC): as the snapshot ``searcher``
        serves was built from it (the version of the passages shown, and no store look-up),
        else as stored."""
        ids = list(dict.fromkeys(doc_ids))
        if searcher is not None and (known := searcher.updated_times(ids)) is not None:
            return known
        store = self.stores.read_only()
        if store is None:
            return {}
        with store:
            return store.updated_times(ids)

    def status(self) -> dict[str, Any]:
        """Return the counts of documents and chunks and the served index version."""
        counts = {"documents": 0, "chunks": 0}
        store = self.stores.read_only()
        if store is not None:
            with store:
                counts = store.counts()
        return {**counts, "index_version": current_version(self.settings.snapshots_dir)}

    def add_feedback(self, raw: Any, client: str = "") -> int:
        """Validate, redact and store a customer's feedback; return its id.

        ``client`` names who gave it (a backend key's id, or a visitor's pseudonym: see
        :func:`kb.nudges.pseudonym`), so votes move ranking only when several agree. Raises
        :class:`kb.errors.InvalidInput` naming what is wrong with ``raw``.
        """
        item = {**parse_feedback(raw), "client": client}
        FEEDBACK.labels("up" if item["rating"] > 0 else "down", item["target"]).inc()
        feedback_id = self.stores.writer().add_feedback(item)
        made = from_feedback(item)
        if made is not None:  # a helpful answer: its question and pages join the regressions
            self._regression(*made, ref=f"feedback:{feedback_id}")
        return feedback_id

    def _regression(self, question: str, pages: list[str], ref: str) -> None:
        """Add a regression question from feedback, keeping only pages kb holds."""
        store = self.stores.read_only()
        if store is None:
            return
        with store:
            held = [p for p in pages if store.has_document(p)]
        if held:
            with self.stores.regressions() as regressions:
                regressions.add(question, held, "feedback", ref=ref)

    def add_rating(self, raw: Any, client: str = "") -> tuple[RatingEntry, bool]:
        """Validate, redact and store a customer's 1–5 rating of a conversation; return it, and
        whether it replaced the client's earlier rating of that conversation.

        ``client`` is the backend API key's id ("" for a visitor). The rating keeps a copy of
        the conversation's first logged question and the document kb answered it from (the
        topic of CSAT by topic). Raises :class:`kb.errors.InvalidInput` naming what is wrong.
        """
        item = parse_rating(raw)
        writer = self.stores.writer()
        first = writer.first_question(item["conversation_id"])
        stored = writer.add_rating({**item, "client": client,
                                    "question": first.query if first else None,
                                    "top_doc": first.top_doc if first else None})  # fmt: skip
        RATINGS.labels(str(item["rating"]), item["channel"]).inc()
        return stored

    def recent_feedback(self, limit: int = 100) -> list[FeedbackEntry]:
        """Return the latest feedback, newest first."""
        with self.stores.journal() as journal:
            return journal.feedback(limit)
