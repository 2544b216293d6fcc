"""Weekly trends and rising topics, from synthetic tickets with known dates."""

from datetime import UTC, datetime, timedelta

from kb.trends import to_csv, week_of, weekly

NOW = datetime(2026, 11, 25, tzinfo=UTC)  # a Wednesday


def ticket(weeks_ago: int, queue: str, topic: str = "other", sentiment: str = "neutral"):
    when = NOW - timedelta(weeks=weeks_ago)
    return {"created_at": when.isoformat(), "queue": queue, "topic": topic,
            "sentiment": sentiment}  # fmt: skip


def test_weeks_start_on_monday():
    assert week_of("2026-11-25T10:00:00Z").isoformat() == "2026-11-23"
    assert week_of("2026-11-23T00:00:00+00:00").isoformat() == "2026-11-23"
    assert week_of("not a date") is None


def test_counts_per_week_and_rising_topics():
    items = [ticket(w, "Billing", "double charge") for w in range(12) for _ in range(2)]
    items += [ticket(w, "Technical Support", "hub offline", "negative") for w in range(4)
              for _ in range(3)]  # fmt: skip
    items += [ticket(10, "Technical Support", "hub offline")]
    items += [ticket(1, "Sales", "quote")]  # one ticket is not a trend
    items += [ticket(40, "Billing", "too old")]  # outside the window
    found = weekly(items, weeks=12, now=NOW)
    assert len(found["weeks"]) == 12 and found["weeks"][-1] == "2026-11-23"
    assert found["series"]["topic"]["double charge"] == [2] * 12
    assert found["series"]["topic"]["hub offline"] == [0, 1] + [0] * 6 + [3] * 4
    assert "too old" not in found["series"]["topic"]
    rising = {(r["dimension"], r["value"]) for r in found["rising"]}
    assert ("topic", "hub offline") in rising and ("sentiment", "negative") in rising
    assert ("topic", "double charge") not in rising and ("topic", "quote") not in rising
    rows = to_csv(found).splitlines()
    assert rows[0] == "dimension,value,week,count"
    assert "topic,hub offline,2026-11-23,3" in rows


def test_the_window_ends_at_the_newest_ticket_by_default():
    found = weekly([ticket(30, "Billing"), ticket(29, "Billing")], weeks=4)
    assert found["weeks"][-1] == week_of((NOW - timedelta(weeks=29)).isoformat()).isoformat()
    assert weekly([], weeks=4) == {"weeks": [], "series": {"queue": {}, "sentiment": {},
                                                           "topic": {}}, "rising": []}  # fmt: skip
