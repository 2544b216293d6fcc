"""The evaluation gate: a new snapshot is served only if it answers the regression questions
about as well as the one served now.

After an ingest builds a snapshot, both snapshots are scored in the same run on the active
regression questions (:mod:`kb.regressions`): search hit@5 (one of a question's pages among
the first five results) and the right-citation rate (an answer, not a refusal, citing one of
its pages). Answers are extractive here, whatever the settings say, so the verdict does not
depend on a language model's mood or cost. If either rate drops by more than
``gate_margin``, the new snapshot is kept on disk but not served: the verdict names the
questions that broke and why, and ``kb index promote VERSION`` serves it anyway. A first
snapshot, and a knowledge base without regression questions, pass.

This is the regression test of search engineering practice (a fixed query set with judged
results, compared before and after each change); the figures are the ones ``kb eval
--answers`` reports on a help-centre set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from index.search import Searcher
from kb.config import Settings
from kb.errors import KbError
from kb.regressions import GateRecord, RegressionQuestion
from kb.usecases.answering import Answering
from kb.usecases.retrieval import Retrieval
from kb.usecases.stores import Stores

K = 5  # results a question's page must be among


@dataclass(frozen=True)
class Outcome:
    """How one snapshot did on one question."""

    id: int
    question: str
    hit_rank: int | None  # rank of the first result on one of its pages (1-based), if in top K
    right: bool  # answered (not refused) with a citation of one of its pages
    why: str  # "" when right; else what went wrong, for an editor


@dataclass(frozen=True)
class Scores:
    """One snapshot's figures on the regression questions."""

    version: str | None
    questions: int
    hit_at_5: float
    right_citation: float
    outcomes: tuple[Outcome, ...] = ()

    def figures(self) -> dict[str, Any]:
        """The figures without the outcomes."""
        return {"version": self.version, "questions": self.questions,
                "hit_at_5": round(self.hit_at_5, 3),
                "right_citation": round(self.right_citation, 3)}  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    """Whether a new snapshot may be served, and why."""

    passed: bool
    reason: str
    before: Scores | None
    after: Scores | None
    broken: tuple[Outcome, ...] = field(default_factory=tuple)  # right before, wrong after

    def to_dict(self) -> dict[str, Any]:
        """The verdict as JSON: figures, the reason and the broken questions."""
        return {
            "passed": self.passed,
            "reason": self.reason,
            "before": self.before.figures() if self.before else None,
            "after": self.after.figures() if self.after else None,
            "broken": [asdict(o) for o in self.broken],
        }

    def summary(self) -> str:
        """One line for the ingest report."""
        if self.passed:
            return f"gate passed: {self.reason}"
        names = "; ".join(f"#{o.id} {o.question[:60]!r}: {o.why}" for o in self.broken[:3])
        more = f" (and {len(self.broken) - 3} more)" if len(self.broken) > 3 else ""
        return f"held back: {self.reason}. Broken: {names}{more}"


def score(
    questions: Sequence[RegressionQuestion],
    searcher: Searcher,
    retrieval: Retrieval,
    answering: Answering,
) -> Scores:
    """Score the snapshot of ``searcher`` on ``questions``: hit@5 and right-citation rate
    (extractive answers; nothing is logged)."""
    extractive = answering.generators.extractive().reading(searcher.units)
    outcomes = []
    for q in questions:
        pages = set(q.pages)
        try:
            hits = retrieval.search(q.question, k=K, searcher=searcher)
            answer = answering.answer(q.question, generator=extractive, searcher=searcher)
        except KbError as e:
            outcomes.append(Outcome(q.id, q.question, None, False, f"not asked: {e.message}"))
            continue
        rank = next((i + 1 for i, h in enumerate(hits) if h.passage.doc_id in pages), None)
        right = not answer.refused and any(c.doc_id in pages for c in answer.citations)
        outcomes.append(Outcome(q.id, q.question, rank, right, _why(pages, rank, answer, hits)))
    n = len(outcomes)
    return Scores(
        version=searcher.version,
        questions=n,
        hit_at_5=sum(o.hit_rank is not None for o in outcomes) / n if n else 0.0,
        right_citation=sum(o.right for o in outcomes) / n if n else 0.0,
        outcomes=tuple(outcomes),
    )


def _why(pages: set[str], rank: int | None, answer: Any, hits: Sequence[Any]) -> str:
    """Return what went wrong for an editor ("" when nothing did)."""
    parts = []
    if rank is None:
        got = ", ".join(h.passage.doc_id for h in hits[:3]) or "nothing"
        parts.append(f"none of its pages in the top {K} (first: {got})")
    cited = list(dict.fromkeys(c.doc_id for c in answer.citations))
    if answer.refused:
        parts.append("the answer is a refusal")
    elif not pages & set(cited):
        parts.append(f"the answer cites {', '.join(cited) or 'nothing'}")
    return "; ".join(parts)


def judge(before: Scores | None, after: Scores | None, margin: float) -> Verdict:
    """Return whether ``after`` (the new snapshot) may be served instead of ``before``.

    It may unless hit@5 or the right-citation rate drops by more than ``margin`` (absolute:
    0.05 is five questions in a hundred). No snapshot served yet, or no questions: it may.
    """
    if before is None or after is None:
        return Verdict(True, "the first snapshot", before, after)
    if after.questions == 0:
        return Verdict(True, "no regression questions yet", before, after)
    broken = tuple(
        b for a, b in zip(before.outcomes, after.outcomes, strict=True)
        if (a.right and not b.right) or (a.hit_rank is not None and b.hit_rank is None)
    )  # fmt: skip
    drops = []
    for name, old, new in (
        ("search hit@5", before.hit_at_5, after.hit_at_5),
        ("right citations", before.right_citation, after.right_citation),
    ):
        if old - new > margin + 1e-9:
            drops.append(f"{name} {old:.2f} → {new:.2f}")
    figures = (
        f"hit@5 {before.hit_at_5:.2f} → {after.hit_at_5:.2f}, right citations"
        f" {before.right_citation:.2f} → {after.right_citation:.2f} on {after.questions}"
        " regression questions"
    )
    if drops:
        return Verdict(False, f"{', '.join(drops)} (more than the margin of {margin:.2f})",
                       before, after, broken)  # fmt: skip
    return Verdict(True, figures, before, after, broken)


class Gate:
    """Judges each new snapshot on the knowledge base's regression questions."""

    def __init__(self, settings: Settings, stores: Stores, retrieval: Retrieval,
                 answering: Answering) -> None:  # fmt: skip
        self.settings = settings
        self.stores = stores
        self.retrieval = retrieval
        self.answering = answering

    def check(self, served: str | None, built: str, margin: float | None = None) -> Verdict:
        """Score snapshot ``built`` against ``served`` (None: nothing served yet) and say
        whether it may be served (see :func:`judge`; ``margin`` defaults to the setting). The
        served model stays in use."""
        with self.stores.regressions() as regressions:
            questions = regressions.questions()
        if served is None:
            return Verdict(True, "the first snapshot", None, None)
        if not questions:
            return Verdict(True, "no regression questions yet", None, None)
        model = self.retrieval.models.name
        try:
            try:
                old = self.retrieval.searcher_for(served)
            except KbError as e:  # nothing to compare with: the new snapshot replaces it
                return Verdict(True, f"the served snapshot {served} cannot be read ({e.message})",
                               None, None)  # fmt: skip
            before = score(questions, old, self.retrieval, self.answering)
            after = score(questions, self.retrieval.searcher_for(built), self.retrieval,
                          self.answering)  # fmt: skip
        finally:
            self.retrieval.models.use(model)
        return judge(before, after, self.settings.gate_margin if margin is None else margin)

    def record(self, version: str, status: str, served: str | None, verdict: Verdict) -> None:
        """Keep the verdict on ``version`` with its ``status`` (passed, held, forced)."""
        with self.stores.regressions() as regressions:
            regressions.record_gate(version, status, served, verdict.to_dict())

    def recent(self, limit: int = 20) -> list[GateRecord]:
        """Return the latest verdicts, newest first."""
        with self.stores.regressions() as regressions:
            return regressions.gates(limit)

    def held(self) -> list[GateRecord]:
        """Return the snapshots held back and not promoted since, newest first."""
        with self.stores.regressions() as regressions:
            return [g for g in regressions.gates() if g.status == "held"]
