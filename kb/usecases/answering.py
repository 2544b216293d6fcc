"""Answering a customer's question: retrieve, write, verify, refuse or escalate, and log.

The answer itself is assembled in the core (:mod:`kb.answer`): picking passages, generating,
checking every citation against the passages given. This use case supplies what it needs:
the retrieval (:class:`kb.usecases.retrieval.Retrieved`), the generators, where a refusal
goes (:class:`kb.usecases.triage.Triage`, or the departments of similar resolved tickets),
and the redacted query log.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from index.search import Searcher
from kb.answer import Event, answer_question, escalation_text, stream_answer
from kb.config import Settings
from kb.escalation import NEIGHBOURS, vote
from kb.generate import Generator
from kb.models import Answer, Escalation, Filter, UserContext
from kb.redact import redact
from kb.telemetry import ANSWERS
from kb.timing import stage
from kb.usecases.generators import Generators
from kb.usecases.retrieval import Retrieval
from kb.usecases.stores import Stores
from kb.usecases.triage import Triage


class Answering:
    """Answers questions from what :class:`Retrieval` finds, with the configured generators."""

    def __init__(
        self,
        settings: Settings,
        retrieval: Retrieval,
        generators: Generators,
        triage: Triage,
        stores: Stores,
    ) -> None:
        self.settings = settings
        self.retrieval = retrieval
        self.generators = generators
        self.triage = triage
        self.stores = stores

    def answer(
        self,
        question: str,
        generator: Generator | None = None,
        searcher: Searcher | None = None,
        history: Sequence[str] = (),
        context: UserContext | None = None,
        *,
        channel: str | None = None,
        conversation: str | None = None,
    ) -> Answer:
        """Answer ``question`` with cited passages, or refuse with the closest articles.

        ``history`` holds the conversation's earlier questions, oldest first: a follow-up is
        made standalone with them before retrieval. ``context`` (product, plan, locale)
        narrows and orders retrieval. With a ``channel`` ("api", "page") the question and how
        kb did are logged, redacted, under ``conversation`` (see :meth:`log_query`). Raises
        :class:`kb.errors.InvalidInput` for a bad question, before anything is logged.
        """
        searcher = searcher or self.retrieval.searcher()
        plan = self._plan(question, generator, searcher, history, context)
        with stage("answer"):
            answer = answer_question(**plan)
        return self._finish(answer, searcher, channel, conversation)

    def answer_stream(
        self,
        question: str,
        generator: Generator | None = None,
        searcher: Searcher | None = None,
        history: Sequence[str] = (),
        context: UserContext | None = None,
        *,
        channel: str | None = None,
        conversation: str | None = None,
    ) -> Iterator[Event]:
        """Like :meth:`answer`, as events (see :func:`kb.answer.stream_answer`); the answer is
        logged when its ``done`` event is produced.

        Bad input raises here, before the first event, so it can still be a 4xx.
        """
        pinned = searcher or self.retrieval.searcher()
        events = stream_answer(**self._plan(question, generator, pinned, history, context))
        return (
            (name, self._finish(value, pinned, channel, conversation) if name == "done" else value)
            for name, value in events
        )

    def _finish(
        self, answer: Answer, searcher: Searcher, channel: str | None, conversation: str | None
    ) -> Answer:
        """Escalate a refusal, and log the answer when it came through a ``channel``."""
        answer = self.escalate(answer, searcher) if answer.refused else answer
        if channel is not None:
            self.log_query(answer, channel, conversation, searcher.version)
        return answer

    def escalate(self, answer: Answer, searcher: Searcher) -> Answer:
        """Add to a refusal where to take the question: the trained router's queue when there
        is one, else the department the most similar resolved tickets went to."""
        routed = self.triage.route(answer.question) if self.triage.router() is not None else {}
        if "queue" in routed:
            department, share = routed["queue"]["label"], routed["queue"]["confidence"]
        else:
            tickets = searcher.search(searcher.query(answer.question), NEIGHBOURS,
                                      where=Filter(kinds=frozenset({"ticket"})))  # fmt: skip
            chunk_ids = [h.passage.chunk_id for h in tickets]
            department, share = vote(tickets, searcher.field_values(chunk_ids, "queue"))
        contact, given = self.settings.escalation_contact, self.settings.escalation_text
        if department is None and not contact and not given:
            return answer
        text = given or escalation_text(department, contact, answer.question)
        return replace(answer, escalation=Escalation(department, share, contact, text))

    def log_query(
        self, answer: Answer, channel: str, conversation: str | None, index_version: str | None
    ) -> None:
        """Record a question and how kb did, redacted, for the gap report and the KPIs (unless
        the ``query_log`` setting is off); count it in the answers metric either way."""
        ANSWERS.labels("refused" if answer.refused else "answered", answer.mode).inc()
        if not self.settings.query_log:
            return
        with stage("log"):
            self._log(answer, channel, conversation, index_version)

    def _log(
        self, answer: Answer, channel: str, conversation: str | None, index_version: str | None
    ) -> None:
        self.stores.writer().log_query(
            {
                "channel": channel,
                "query": redact(answer.question).text,
                "refused": int(answer.refused),
                "confidence": answer.confidence,
                "top_doc": answer.citations[0].doc_id if answer.citations else None,
                "index_version": index_version,
                "conversation_id": conversation,
            }
        )

    def _plan(
        self,
        question: str,
        generator: Generator | None,
        searcher: Searcher,
        history: Sequence[str],
        context: UserContext | None,
    ) -> dict[str, Any]:
        """Retrieve and pick the generators: the arguments of :func:`kb.answer.answer_question`
        and ``stream_answer``."""
        llm = self.generators.llm()
        found = self.retrieval.retrieve(
            question, history=history, context=context, searcher=searcher, rewriter=llm
        )
        extractive = self.generators.extractive().reading(searcher.units)
        return {
            "question": found.question,
            "hits": found.hits,
            "generator": generator or llm or extractive,
            "passages": self.settings.answer_passages,
            "min_confidence": self.settings.min_confidence,
            "fallback": extractive,
            "missing": found.missing,
            "probability": found.probability,
        }
