"""The editors' side of the knowledge base: the query log, content gaps, FAQ candidates, trends
and KPIs (customer satisfaction among them).

A thin layer over :mod:`kb.insights` (the methods) and the store (the evidence and the
decisions), used by the CLI and the admin API alike. Nothing becomes public without an editor:
an accepted candidate becomes a ``faq`` document in the store, cited to its source tickets,
and the next ingest indexes it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ingest.chunking import chunk_sections
from kb.config import Settings
from kb.errors import InvalidInput, NotFound
from kb.insights import FaqCandidate, Gap, ResolvedTicket, faq_candidates, gap_report
from kb.journal import FeedbackEntry, LoggedQuery, RatingEntry, SavedCandidate
from kb.kpis import kpis as compute_kpis
from kb.models import Document, Hit, Section
from kb.sentiment import sentiment
from kb.text import slugify
from kb.trends import csat_weekly, weekly
from kb.usecases.embedders import EmbeddingModels
from kb.usecases.generators import Generators
from kb.usecases.retrieval import Retrieval
from kb.usecases.stores import Stores

FAQ_SOURCE = "kb:faq"  # the source of documents editors accepted


class Editorial:
    """What editors do with the evidence: FAQ candidates from tickets, content gaps, trends and
    KPIs, accepting or rejecting candidates."""

    def __init__(
        self,
        settings: Settings,
        stores: Stores,
        retrieval: Retrieval,
        models: EmbeddingModels,
        generators: Generators,
    ) -> None:
        self.settings = settings
        self.stores = stores
        self.retrieval = retrieval
        self.models = models
        self.generators = generators

    def best_article(self, text: str) -> Hit | None:
        """The public article passage closest to ``text``, if any."""
        searcher = self.retrieval.searcher()
        hits = searcher.search(searcher.query(text), 1, where=self.retrieval.public_filter())
        return hits[0] if hits else None

    def mine_faqs(self, min_size: int = 3) -> list[FaqCandidate]:
        """Cluster the stored resolved tickets into FAQ candidates and save the new ones."""
        tickets = []
        with self.stores.open() as store:
            for doc in store.documents_of_kind("ticket"):
                parts = {s.anchor: s.text for s in doc.sections}
                question = f"{doc.title}\n{parts.get('question', '')}".strip()
                resolution = parts.get("resolution", "")
                queue = doc.meta.get("queue")
                tickets.append(ResolvedTicket(doc.id, question, resolution, doc.lang, queue))
        llm = self.generators.llm()
        draft = None
        if llm is not None:

            def draft(members: list[ResolvedTicket]) -> tuple[str, str]:
                return llm.draft_faq([t.question for t in members[:8]],
                                     [t.resolution for t in members[:8]])  # fmt: skip

        found = faq_candidates(
            tickets, self.models.embedder, lambda q: self.best_article(q), min_size, draft
        )
        with self.stores.journal() as journal:
            journal.save_candidates([c.to_dict() for c in found])
        return found

    def candidates(self, status: str | None = None) -> list[SavedCandidate]:
        """The saved FAQ candidates (of ``status``)."""
        if status not in (None, "pending", "accepted", "rejected"):
            raise InvalidInput("status must be pending, accepted or rejected")
        with self.stores.journal() as journal:
            return journal.candidates(status)

    def decide(
        self,
        candidate_id: int,
        accept: bool,
        question: str | None = None,
        answer: str | None = None,
    ) -> SavedCandidate:
        """Accept (with the editor's edits) or reject a pending candidate; return it.

        Accepting stores a ``faq`` document citing the candidate's tickets; the next ingest
        indexes it.
        """
        with self.stores.journal() as journal, self.stores.open() as store:
            found = [c for c in journal.candidates() if c.id == candidate_id]
            if not found:
                raise NotFound(f"no FAQ candidate {candidate_id}")
            c = found[0]
            if c.status != "pending":
                raise InvalidInput(f"candidate {candidate_id} is already {c.status}")
            question = _edit(question, c.question, "question")
            answer = _edit(answer, c.answer, "answer")
            doc_id = None
            if accept:
                doc_id = f"faq/{slugify(question.splitlines()[0])[:60] or candidate_id}"
                doc = Document(
                    id=doc_id,
                    title=question.splitlines()[0][:200],
                    sections=(Section(question.splitlines()[0][:200], answer, "answer", 1),),
                    source=FAQ_SOURCE,
                    url=None,
                    kind="faq",
                    lang=c.lang,
                    meta={"source_tickets": c.tickets, "candidate": candidate_id},
                )
                store.upsert_document(doc, chunk_sections(doc.id, doc.sections,
                                                          self.settings.chunk_words))  # fmt: skip
            journal.decide_candidate(candidate_id, "accepted" if accept else "rejected", question,
                                     answer, doc_id)  # fmt: skip
            if doc_id is not None:  # the entry answers its question: a regression question
                with self.stores.regressions() as regressions:
                    regressions.add(question.splitlines()[0], [doc_id], "faq",
                                    ref=f"faq:{candidate_id}")  # fmt: skip
            return next(x for x in journal.candidates() if x.id == candidate_id)

    def _evidence(
        self, days: int, now: datetime | None
    ) -> tuple[list[LoggedQuery], list[FeedbackEntry], list[RatingEntry], datetime]:
        """The logged questions, the feedback and the ratings of the last ``days``."""
        if not 1 <= days <= 3650:
            raise InvalidInput("days must be between 1 and 3650")
        now = now or datetime.now(UTC)
        since = _stamp(now - timedelta(days=days))
        with self.stores.journal() as journal:
            queries = journal.queries(since)
            feedback = [f for f in journal.feedback(100_000) if f.created_at >= since]
            ratings = journal.ratings(since)
        return queries, feedback, ratings, now

    def gaps(self, days: int = 90, now: datetime | None = None) -> list[Gap]:
        """The content-gap report over the last ``days`` of the query log and feedback."""
        queries, feedback, _, now = self._evidence(days, now)
        return gap_report(
            queries, feedback, self.models.embedder, lambda q: self.best_article(q), now
        )

    def trends(self, weeks: int = 12, now: datetime | None = None) -> dict[str, Any]:
        """Weekly ticket volume by queue, sentiment and topic (the FAQ candidates' clusters),
        and CSAT by week and by topic over the ``weeks`` weeks up to ``now``.

        A rating's topic is the document kb answered its conversation's first question from:
        for an FAQ entry accepted from a cluster of tickets, that cluster's topic (as the
        tickets' trends name it), else the document's title; ``unanswered`` when kb refused,
        ``unknown`` when the question was not logged.
        """
        if not 2 <= weeks <= 520:
            raise InvalidInput("weeks must be between 2 and 520")
        now = now or datetime.now(UTC)
        with self.stores.journal() as journal:
            candidates = journal.candidates()
            ratings = journal.ratings(_stamp(now - timedelta(weeks=weeks)))
        with self.stores.open() as store:
            topic_of = {}
            for c in candidates:
                title = c.question.splitlines()[0][:80]
                topic_of.update({t: title for t in c.tickets})
            items = []
            for doc in store.documents_of_kind("ticket"):
                question = next((s.text for s in doc.sections if s.anchor == "question"), "")
                items.append({
                    "created_at": doc.meta.get("created_at"),
                    "queue": doc.meta.get("queue"),
                    "sentiment": sentiment(f"{doc.title}\n{question}", doc.lang).label,
                    "topic": topic_of.get(doc.id, "other"),
                })  # fmt: skip
            titles = store.titles(r.top_doc for r in ratings if r.top_doc)
        titles.update({c.doc_id: c.question.splitlines()[0][:80] for c in candidates if c.doc_id})

        def topic(r: RatingEntry) -> str:
            if r.question is None:
                return "unknown"
            return titles.get(r.top_doc, r.top_doc) if r.top_doc else "unanswered"

        rated = [{"created_at": r.created_at, "rating": r.rating, "topic": topic(r)}
                 for r in ratings]  # fmt: skip
        return {**weekly(items, weeks=weeks), "csat": csat_weekly(rated, weeks, now)}

    def kpis(self, days: int = 30, now: datetime | None = None) -> dict[str, Any]:
        """The KPIs over the last ``days``, CSAT among them."""
        queries, feedback, ratings, _ = self._evidence(days, now)
        return {"days": days, **compute_kpis(queries, feedback, ratings)}


def _stamp(when: datetime) -> str:
    """``when`` (UTC) as the journal's timestamps begin, to the second, to compare with them."""
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def _edit(value: str | None, default: str, name: str) -> str:
    if value is None:
        return default
    if not isinstance(value, str) or not value.strip() or len(value) > 5000:
        raise InvalidInput(f"{name} must be a non-empty string of at most 5000 characters")
    return value.strip()
