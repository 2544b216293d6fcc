"""Feedback that moves ranking, within bounds: customers' votes on a page for a question nudge
that page up or down for questions like it.

A vote is a thumbs up or down on a result, or on an answer (for the page it cited first).
Votes count for a new question when their question is similar to it (cosine of the query
embeddings at least :data:`SIMILAR`). Each counts ``±0.5 ** (age / half_life)``, so a vote
a half-life old counts half; each client counts once per page (its latest vote), and a page
moves only when at least ``min_clients`` distinct clients agree more than they disagree:
one visitor, however many times they vote, moves nothing. The nudge multiplies the page's
score by ``1 + boost``, ``boost = ±bound × min(1, |net| / (2 × min_clients))``: at most
``bound`` (15% by default), reached when twice ``min_clients`` fresh votes agree.

An editor's undo of a page's nudge for a question sets aside the votes on that page for
questions like it cast before the undo. A client is a backend API key's id, or a visitor's
pseudonym: an HMAC of the address and the month (:func:`pseudonym`), so kb stores no address
and cannot link a visitor's votes across months.

Bounded, decaying, count-limited click and vote feedback is how production search folds
implicit relevance into ranking without letting a few users steer it (Joachims et al.,
"Accurately Interpreting Clickthrough Data as Implicit Feedback", SIGIR 2005, on why raw
votes are biased and must be aggregated and bounded).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

SIMILAR = 0.85  # cosine of two questions' embeddings above which a vote on one counts for both
HALF_LIFE_DAYS = 30.0
MIN_CLIENTS = 3
WINDOW_DAYS = 180  # votes older than this are not read at all (6 half-lives: under 2%)


@dataclass(frozen=True)
class Vote:
    """A thumbs up (+1) or down (-1) by ``client`` on page ``doc_id`` for ``query``."""

    query: str
    doc_id: str
    rating: int
    client: str
    created_at: str  # ISO 8601, UTC


@dataclass(frozen=True)
class Undo:
    """An editor set aside the votes on ``doc_id`` for questions like ``query`` until then."""

    doc_id: str
    query: str
    created_at: str


@dataclass(frozen=True)
class Nudge:
    """How votes move one page for one question: ``boost`` multiplies its score by 1+boost."""

    doc_id: str
    boost: float
    net: float  # the decayed votes of its clients, summed
    clients: int  # distinct clients whose votes count
    queries: tuple[str, ...]  # the questions voted on, most similar first


def pseudonym(secret: str, address: str, when: datetime) -> str:
    """Return a visitor's client name: ``v:`` and an HMAC of ``address`` and the month."""
    message = f"{when:%Y-%m}|{address}".encode()
    return "v:" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:16]


def age_days(created_at: str, now: datetime) -> float:
    """Days from ``created_at`` (ISO 8601) to ``now``; 0 for a date after it."""
    try:
        then = datetime.fromisoformat(created_at)
    except ValueError:
        return float("inf")
    return max(0.0, (now - then).total_seconds() / 86400)


def nudges(
    votes: Sequence[Vote],
    similarity: np.ndarray,
    now: datetime,
    *,
    bound: float,
    undos: Sequence[tuple[Undo, np.ndarray]] = (),
    min_clients: int = MIN_CLIENTS,
    half_life: float = HALF_LIFE_DAYS,
) -> dict[str, Nudge]:
    """Return the nudge of each page the ``votes`` move for a question.

    ``similarity[i]`` is the cosine of the question and ``votes[i].query``; ``undos`` pair
    each undo with the cosine of the question and the undo's query: for a question like an
    undone one, the page's votes cast before the undo are set aside. Pages whose agreeing
    clients outnumber the disagreeing by fewer than ``min_clients`` are not moved.
    """
    if bound <= 0:
        return {}
    latest: dict[tuple[str, str], tuple[str, float, str, float]] = {}
    for vote, sim in zip(votes, similarity, strict=True):
        if sim < SIMILAR or not vote.client or _undone(vote, undos):
            continue
        weight = vote.rating * 0.5 ** (age_days(vote.created_at, now) / half_life)
        key = (vote.doc_id, vote.client)
        if key not in latest or latest[key][0] <= vote.created_at:
            latest[key] = (vote.created_at, weight, vote.query, float(sim))
    by_page: dict[str, list[tuple[float, str, float]]] = {}
    for (doc_id, _), (_, weight, query, sim) in latest.items():
        by_page.setdefault(doc_id, []).append((weight, query, sim))
    out = {}
    for doc_id, weights in by_page.items():
        net = sum(w for w, _, _ in weights)
        agreeing = sum(1 for w, _, _ in weights if w * net > 0)
        disagreeing = len(weights) - agreeing
        if net == 0 or agreeing - disagreeing < min_clients:
            continue
        boost = float(np.sign(net)) * bound * min(1.0, abs(net) / (2 * min_clients))
        queries = tuple(dict.fromkeys(q for _, q, _ in sorted(weights, key=lambda x: -x[2])))
        out[doc_id] = Nudge(doc_id, boost, net, len(weights), queries)
    return out


def _undone(vote: Vote, undos: Sequence[tuple[Undo, np.ndarray]]) -> bool:
    return any(u.doc_id == vote.doc_id and vote.created_at <= u.created_at and sim >= SIMILAR
               for u, sim in undos)  # fmt: skip
