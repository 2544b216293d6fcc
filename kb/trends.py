"""Weekly trends in what customers contact support about: by queue, sentiment and topic; and
how satisfied they were (CSAT), by week and by topic.

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

from kb.satisfaction import csat

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


def _weeks_to(now: datetime, weeks: int) -> list[date]:
    last = week_of(now.isoformat())
    assert last is not None
    return [last - timedelta(weeks=weeks - 1 - k) for k in range(weeks)]


def csat_weekly(items: Iterable[Mapping[str, Any]], weeks: int, now: datetime) -> dict[str, Any]:
    """CSAT (see :func:`kb.satisfaction.csat`) by week and by topic over the ``weeks`` weeks up
    to ``now``, from ``items`` each with ``created_at``, ``rating`` (1 to 5) and ``topic``.

    ``by_week`` has every week of the window, rated or not; ``by_topic`` the topics rated in
    it, most rated first, each with its CSAT over the window and week by week.
    """
    starts = _weeks_to(now, weeks)
    index = {w: k for k, w in enumerate(starts)}
    cells: list[list[int]] = [[] for _ in starts]
    topics: dict[str, list[list[int]]] = {}
    for item in items:
        week = week_of(str(item.get("created_at") or ""))
        k = index.get(week) if week is not None else None
        if k is None:
            continue
        rating = int(item["rating"])
        cells[k].append(rating)
        topic = str(item.get("topic") or "unknown")
        topics.setdefault(topic, [[] for _ in starts])[k].append(rating)

    def by_week(rows: list[list[int]]) -> list[dict[str, Any]]:
        return [{"week": w.isoformat(), **csat(r)} for w, r in zip(starts, rows, strict=True)]

    by_topic = [
        {"topic": topic, **csat(r for week in rows for r in week), "by_week": by_week(rows)}
        for topic, rows in topics.items()
    ]
    by_topic.sort(key=lambda t: (-int(t["ratings"]), str(t["topic"])))
    return {
        "weeks": [w.isoformat() for w in starts],
        "overall": csat(r for week in cells for r in week),
        "by_week": by_week(cells),
        "by_topic": by_topic,
    }


def to_csv(trends: Mapping[str, Any]) -> str:
    """The trends as CSV rows: dimension, value, week, count, and for CSAT the mean rating and
    satisfied share (``csat`` rows for every week, ``csat_topic`` rows for each topic's rated
    weeks)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["dimension", "value", "week", "count", "mean_rating", "satisfied"])
    for d, values in trends["series"].items():
        for value, counts in values.items():
            for week, count in zip(trends["weeks"], counts, strict=True):
                writer.writerow([d, value, week, count, "", ""])
    satisfaction = trends.get("csat") or {"by_week": [], "by_topic": []}

    def row(dimension: str, value: str, cell: Mapping[str, Any]) -> list[Any]:
        mean, satisfied = cell["mean"], cell["satisfied"]
        return [dimension, value, cell["week"], cell["ratings"],
                "" if mean is None else mean, "" if satisfied is None else satisfied]  # fmt: skip

    for cell in satisfaction["by_week"]:
        writer.writerow(row("csat", "all", cell))
    for topic in satisfaction["by_topic"]:
        for cell in topic["by_week"]:
            if cell["ratings"]:
                writer.writerow(row("csat_topic", topic["topic"], cell))
    return out.getvalue()
