"""The support KPIs editors watch, from the query log, feedback and satisfaction ratings.

- questions a day, answered and refused;
- helpfulness: thumbs up over all thumbs;
- deflection: the share of questions answered and not followed, in the same conversation
  within 30 minutes, by a refusal or a thumbs-down. kb cannot see a customer contact
  support afterwards, so this is the closest honest proxy, and it is named as such;
- the most asked questions, and the most asked questions kb could not answer;
- customer satisfaction (CSAT): ratings of 1 to 5, their mean and the share of 4s and 5s,
  overall and per channel (page, widget, api), and how many of each rating.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from kb.journal import FeedbackEntry, LoggedQuery, RatingEntry
from kb.satisfaction import CHANNELS, csat

FOLLOW_UP = timedelta(minutes=30)


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _key(query: str) -> str:
    return " ".join(query.lower().split()).rstrip("?!. ")


def kpis(
    queries: Sequence[LoggedQuery],
    feedback: Sequence[FeedbackEntry],
    ratings: Sequence[RatingEntry] = (),
) -> dict[str, Any]:
    """Compute the KPIs over the given rows (already limited to the period wanted)."""
    days: dict[str, dict[str, int]] = {}
    for q in queries:
        day = days.setdefault(q.created_at[:10], {"questions": 0, "answered": 0, "refused": 0})
        day["questions"] += 1
        day["refused" if q.refused else "answered"] += 1
    thumbs = Counter("up" if f.rating > 0 else "down" for f in feedback)
    down_at = [(_when(f.created_at), _key(f.query)) for f in feedback if f.rating < 0]
    by_conversation: dict[str, list[LoggedQuery]] = {}
    for q in queries:
        if q.conversation_id:
            by_conversation.setdefault(q.conversation_id, []).append(q)
    deflected = 0
    for q in queries:
        if q.refused:
            continue
        when = _when(q.created_at)
        later = [o for o in by_conversation.get(q.conversation_id or "", [])
                 if when < _when(o.created_at) <= when + FOLLOW_UP]  # fmt: skip
        thumbed_down = any(
            key == _key(q.query) and when <= at <= when + FOLLOW_UP for at, key in down_at
        )
        if not thumbed_down and not any(o.refused for o in later):
            deflected += 1
    total = len(queries)
    asked = Counter(_key(q.query) for q in queries)
    unanswered = Counter(_key(q.query) for q in queries if q.refused)
    return {
        "questions": total,
        "answered": sum(not q.refused for q in queries),
        "refused": sum(bool(q.refused) for q in queries),
        "refusal_rate": round(sum(bool(q.refused) for q in queries) / total, 3) if total else None,
        "helpful": thumbs["up"],
        "not_helpful": thumbs["down"],
        "helpfulness": round(thumbs["up"] / sum(thumbs.values()), 3) if thumbs else None,
        "deflection": round(deflected / total, 3) if total else None,
        "per_day": [{"day": d, **v} for d, v in sorted(days.items())],
        "top_questions": [{"query": k, "count": n} for k, n in asked.most_common(10)],
        "top_unanswered": [{"query": k, "count": n} for k, n in unanswered.most_common(10)],
        "csat": csat_kpis(ratings),
    }


def csat_kpis(ratings: Sequence[RatingEntry]) -> dict[str, Any]:
    """CSAT over ``ratings``: count, mean, satisfied share, per channel, and each rating's count."""
    given = Counter(r.rating for r in ratings)
    return {
        **csat(r.rating for r in ratings),
        "by_channel": {c: csat(r.rating for r in ratings if r.channel == c) for c in CHANNELS},
        "distribution": {str(n): given[n] for n in range(1, 6)},
    }
