"""Weekly trends in what customers contact support about: by queue, sentiment and topic.

Weeks start on Monday (UTC). A series is *rising* when its last four weeks average at least
half as much again as the weeks before them and hold at least three items, so a topic going
from nothing to one ticket is not news but one doubling on real volume is.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

RECENT_WEEKS = 4
RISE = 1.5
MIN_RECENT = 3


def week_of(stamp: str) -> date | None:
    """The Monday starting the week of an ISO 8601 timestamp, or None if it is not one."""
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    day = when.date()
    return day - timedelta(days=day.weekday())


def weekly(
    items: Iterable[Mapping[str, Any]],
    dimensions: Iterable[str] = ("queue", "sentiment", "topic"),
    weeks: int = 12,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Count ``items`` (each with ``created_at`` and the ``dimensions``) per week and value.

    The window is the ``weeks`` weeks up to ``now`` (default: the newest item, so an old
    export still shows its own trends).
    """
    rows: list[tuple[date, Mapping[str, Any]]] = []
    for item in items:
        week = week_of(str(item.get("created_at") or ""))
        if week is not None:
            rows.append((week, item))
    dims = list(dimensions)
    if not rows:
        return {"weeks": [], "series": {d: {} for d in dims}, "rising": []}
    last = week_of(now.isoformat()) if now else max(w for w, _ in rows)
    assert last is not None
    starts = [last - timedelta(weeks=weeks - 1 - k) for k in range(weeks)]
    index = {w: k for k, w in enumerate(starts)}
    series: dict[str, dict[str, list[int]]] = {d: {} for d in dims}
    for w, item in rows:
        if w not in index:
            continue
        for d in dims:
            value = str(item.get(d) or "unknown")
            series[d].setdefault(value, [0] * weeks)[index[w]] += 1
    rising: list[dict[str, Any]] = []
    for d in dims:
        for value, counts in series[d].items():
            recent, before = counts[-RECENT_WEEKS:], counts[:-RECENT_WEEKS]
            recent_mean = sum(recent) / RECENT_WEEKS
            before_mean = sum(before) / len(before) if before else 0.0
            if sum(recent) >= MIN_RECENT and recent_mean >= RISE * max(before_mean, 0.25):
                rising.append({"dimension": d, "value": value, "recent_per_week": recent_mean,
                               "before_per_week": round(before_mean, 3)})  # fmt: skip
    rising.sort(key=lambda r: -float(r["recent_per_week"]) / max(float(r["before_per_week"]), 0.25))
    for d in dims:  # biggest series first
        series[d] = dict(sorted(series[d].items(), key=lambda kv: (-sum(kv[1]), kv[0])))
    return {"weeks": [w.isoformat() for w in starts], "series": series, "rising": rising}


def to_csv(trends: Mapping[str, Any]) -> str:
    """The trends as CSV rows: dimension, value, week, count."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["dimension", "value", "week", "count"])
    for d, values in trends["series"].items():
        for value, counts in values.items():
            for week, count in zip(trends["weeks"], counts, strict=True):
                writer.writerow([d, value, week, count])
    return out.getvalue()
