"""What the evidence says the help centre should say: FAQ candidates mined from resolved
tickets, and content gaps from what customers asked and kb could not answer well.

Both group texts by meaning: sentence embeddings clustered by average-linkage agglomerative
clustering under a cosine-distance threshold (scikit-learn), so the number of groups follows
the data rather than a guess. Texts in languages the embedding model cannot read are only
grouped with texts of their own language.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from kb.embedder import Embedder
from kb.journal import FeedbackEntry, LoggedQuery
from kb.models import Hit
from kb.sentiment import sentiment

log = logging.getLogger("kb")

# Cosine distance under which texts are one topic. Whole tickets share a lot of domain wording,
# so they need to be closer (similarity 0.65); a customer's one-line question says little, and
# paraphrases of it sit further apart (similarity 0.5 and up; other topics fall below 0.4).
TICKET_DISTANCE = 0.35
QUESTION_DISTANCE = 0.5


def cluster(vectors: np.ndarray, distance: float) -> np.ndarray:
    """Return a cluster label per row of unit ``vectors``."""
    if len(vectors) == 0:
        return np.zeros(0, dtype=int)
    if len(vectors) == 1:
        return np.zeros(1, dtype=int)
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=distance
    )
    return np.asarray(model.fit_predict(vectors))


def article_of(hit: Hit | None) -> dict[str, Any] | None:
    """The article a hit points at, as editors see it: id, title and link."""
    if hit is None:
        return None
    return {"doc_id": hit.passage.doc_id, "title": hit.passage.title, "url": hit.passage.url}


def medoid(vectors: np.ndarray) -> int:
    """Return the index of the row most similar, on average, to all the others."""
    sims = vectors @ vectors.T
    return int(np.argmax(sims.sum(axis=1)))


def groups_by_language(
    langs: Sequence[str | None], readable: frozenset[str] | None
) -> dict[str, list[int]]:
    """Rows to cluster together: all the model reads as one group, each other language alone.

    ``readable`` is the set of languages the embedding model understands (None: all).
    """
    out: dict[str, list[int]] = {}
    for i, lang in enumerate(langs):
        primary = (lang or "").split("-")[0].lower()
        key = "*" if readable is None or not primary or primary in readable else primary
        out.setdefault(key, []).append(i)
    return out


def clusters_of(
    texts: Sequence[str], langs: Sequence[str | None], embedder: Embedder, distance: float
) -> tuple[np.ndarray, list[list[int]]]:
    """Embed ``texts`` and return the vectors and the clusters (lists of row indexes)."""
    vectors = embedder.embed(list(texts)) if texts else np.zeros((0, 1), dtype=np.float32)
    readable = getattr(embedder, "languages", None)
    out: list[list[int]] = []
    for rows in groups_by_language(langs, readable).values():
        labels = cluster(vectors[rows], distance)
        for label in sorted(set(labels.tolist())):
            out.append([rows[i] for i in np.flatnonzero(labels == label)])
    return vectors, out


# --- FAQ candidates from tickets ---------------------------------------------------------------


@dataclass
class ResolvedTicket:
    """A resolved ticket as the miner sees it."""

    id: str
    question: str
    resolution: str
    lang: str | None = None
    queue: str | None = None


@dataclass
class FaqCandidate:
    """A question many tickets asked, how they were resolved, and whether articles cover it."""

    key: str
    question: str
    answer: str
    size: int
    tickets: list[str]
    lang: str | None
    queue: str | None
    coverage: float
    article: dict[str, Any] | None
    examples: list[str] = field(default_factory=list)
    drafted_by: str = "extractive"

    @property
    def covered(self) -> bool:
        return self.coverage >= COVERED

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "question": self.question,
            "answer": self.answer,
            "size": self.size,
            "tickets": self.tickets,
            "examples": self.examples,
            "lang": self.lang,
            "queue": self.queue,
            "coverage": round(self.coverage, 3),
            "covered": self.covered,
            "article": self.article,
            "drafted_by": self.drafted_by,
        }


COVERED = 0.5  # best article similarity (above chance) at which the help centre covers it


def faq_candidates(
    tickets: Sequence[ResolvedTicket],
    embedder: Embedder,
    coverage: Callable[[str], Hit | None],
    min_size: int = 3,
    draft: Callable[[list[ResolvedTicket]], tuple[str, str]] | None = None,
) -> list[FaqCandidate]:
    """Group tickets by question; each group of ``min_size`` or more is a candidate.

    A candidate's question is the group's most typical ticket question (its medoid), its
    answer the most typical resolution, and its coverage the calibrated similarity of the best
    public article to the question (``coverage`` returns that article's hit).
    """
    if not tickets:
        return []
    vectors, groups = clusters_of([t.question for t in tickets], [t.lang for t in tickets],
                                  embedder, TICKET_DISTANCE)  # fmt: skip
    out = []
    for rows in groups:
        if len(rows) < min_size:
            continue
        members = [tickets[i] for i in rows]
        centre = members[medoid(vectors[rows])]
        answers = embedder.embed([t.resolution for t in members])
        resolution = members[medoid(answers)].resolution
        best = coverage(centre.question)
        ids = sorted(t.id for t in members)
        question, drafted = centre.question, False
        if draft is not None and not (best and best.dense >= COVERED):
            try:  # only what the help centre lacks is worth a model's draft
                question, resolution = draft(members)
                drafted = True
            except Exception as e:  # noqa: BLE001  (any model fault: keep the extractive draft)
                log.warning("FAQ draft by the model failed, keeping the tickets' words: %s", e)
        out.append(
            FaqCandidate(
                key=hashlib.blake2b(centre.id.encode(), digest_size=8).hexdigest(),
                question=question,
                answer=resolution,
                size=len(members),
                tickets=ids,
                lang=Counter(t.lang for t in members).most_common(1)[0][0],
                queue=Counter(t.queue for t in members).most_common(1)[0][0],
                coverage=max(best.dense, 0.0) if best else 0.0,
                article=article_of(best),
                examples=[t.question for t in members if t is not centre][:3],
                drafted_by="llm" if drafted else "extractive",
            )
        )
    out.sort(key=lambda c: (-c.size, c.key))
    return out


# --- content gaps from the query log ------------------------------------------------------------

LOW_CONFIDENCE = 0.5
HALF_LIFE_DAYS = 14.0


@dataclass
class Gap:
    """A topic customers ask about that kb answers badly, with the evidence."""

    question: str
    count: int
    score: float
    last_seen: str
    reasons: dict[str, int]
    examples: list[str]
    closest: dict[str, Any] | None
    sentiment: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "count": self.count,
            "score": round(self.score, 3),
            "last_seen": self.last_seen,
            "reasons": self.reasons,
            "examples": self.examples,
            "closest": self.closest,
            "sentiment": self.sentiment,
        }


def _age_days(stamp: str, now: datetime) -> float:
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((now - when).total_seconds() / 86400, 0.0)


def gap_report(
    queries: Sequence[LoggedQuery],
    feedback: Sequence[FeedbackEntry],
    embedder: Embedder,
    closest: Callable[[str], Hit | None],
    now: datetime | None = None,
    low_confidence: float = LOW_CONFIDENCE,
    half_life_days: float = HALF_LIFE_DAYS,
) -> list[Gap]:
    """Rank what customers ask that kb refuses, answers unsure, or answers to a thumbs-down.

    Each question counts with weight ``0.5 ** (age / half_life)``, so a topic rises with
    volume and recency; topics are clusters of such questions, each shown with its most
    typical question, examples, why they count, and the closest existing article.
    """
    now = now or datetime.now(UTC)
    evidence: list[tuple[str, str, str]] = []  # (query, created_at, reason)
    for q in queries:
        if q.refused:
            evidence.append((q.query, q.created_at, "refused"))
        elif q.confidence < low_confidence:
            evidence.append((q.query, q.created_at, "low_confidence"))
    for f in feedback:
        if f.rating < 0 and f.query:
            evidence.append((f.query, f.created_at, "thumbs_down"))
    if not evidence:
        return []
    texts = [e[0] for e in evidence]
    vectors, groups = clusters_of(texts, [None] * len(texts), embedder, QUESTION_DISTANCE)
    gaps = []
    for rows in groups:
        weights = [0.5 ** (_age_days(evidence[i][1], now) / half_life_days) for i in rows]
        centre = rows[medoid(vectors[rows])]
        best = closest(texts[centre])
        distinct = list(dict.fromkeys(texts[i] for i in rows if i != centre))
        gaps.append(
            Gap(
                question=texts[centre],
                count=len(rows),
                score=math.fsum(weights),
                last_seen=max(evidence[i][1] for i in rows),
                reasons=dict(Counter(evidence[i][2] for i in rows)),
                sentiment=dict(Counter(sentiment(texts[i]).label for i in rows)),
                examples=distinct[:5],
                closest=article_of(best),
            )
        )
    gaps.sort(key=lambda g: (-g.score, g.question))
    return gaps
