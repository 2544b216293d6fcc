"""Weekly trends and rising topics, from synthetic tickets with known dates; CSAT by week and
by topic, from known ratings."""

import shutil
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner

from kb.cli import cli
from kb.trends import csat_weekly, to_csv, week_of, weekly
from web import create_app

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
    assert rows[0] == "dimension,value,week,count,mean_rating,satisfied"
    assert "topic,hub offline,2026-11-23,3,," in rows


def test_the_window_ends_at_the_newest_ticket_by_default():
    found = weekly([ticket(30, "Billing"), ticket(29, "Billing")], weeks=4)
    assert found["weeks"][-1] == week_of((NOW - timedelta(weeks=29)).isoformat()).isoformat()
    assert weekly([], weeks=4) == {"weeks": [], "series": {"queue": {}, "sentiment": {},
                                                           "topic": {}}, "rising": []}  # fmt: skip


def rating(weeks_ago: int, value: int, topic: str):
    when = NOW - timedelta(weeks=weeks_ago)
    return {"created_at": when.isoformat(), "rating": value, "topic": topic}


def test_csat_by_week_and_by_topic():
    items = [rating(0, 5, "password"), rating(0, 4, "password"), rating(0, 2, "password"),
             rating(2, 1, "refunds"), rating(2, 3, "password"),
             rating(20, 5, "too old")]  # fmt: skip
    found = csat_weekly(items, weeks=4, now=NOW)
    assert found["weeks"] == ["2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23"]
    assert [(w["ratings"], w["mean"], w["satisfied"]) for w in found["by_week"]] == [
        (0, None, None), (2, 2.0, 0.0), (0, None, None), (3, 3.67, 0.667),
    ]  # fmt: skip
    assert found["overall"] == {"ratings": 5, "mean": 3.0, "satisfied": 0.4}
    assert [(t["topic"], t["ratings"], t["mean"], t["satisfied"]) for t in found["by_topic"]] == [
        ("password", 4, 3.5, 0.5), ("refunds", 1, 1.0, 0.0),
    ]  # fmt: skip
    rows = to_csv({**weekly([], weeks=4), "csat": found}).splitlines()
    assert rows[0] == "dimension,value,week,count,mean_rating,satisfied"
    assert "csat,all,2026-11-23,3,3.67,0.667" in rows and "csat,all,2026-11-16,0,," in rows
    assert "csat_topic,refunds,2026-11-09,1,1.0,0.0" in rows
    assert not [r for r in rows if r.startswith("csat_topic,refunds,2026-11-23")]  # unrated
    empty = csat_weekly([], weeks=4, now=NOW)
    assert empty["overall"]["ratings"] == 0 and len(empty["by_week"]) == 4


def test_csat_topics_are_the_articles_kb_answered_from(tmp_path, demo_home):
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    client = create_app({"home": home, "admin_key": "k", "query_log": True}).test_client()
    for conversation, question, value in (
        ("p1", "How do I reset my password?", 5),
        ("p2", "How do I reset my password?", 2),
        ("b1", "How do I bake sourdough bread?", 1),
    ):
        client.post("/v1/answer", json={"question": question, "conversation_id": conversation})
        client.post("/v1/ratings", json={"conversation_id": conversation, "rating": value})
    client.post("/v1/ratings", json={"conversation_id": "never-asked", "rating": 3})
    # An FAQ entry accepted from a cluster of tickets is named as the tickets' trends name it.
    journal = client.application.extensions["kb"].stores.writer()
    journal.save_candidates([{"key": "k", "question": "How do I cancel Lumio Plus?\nThanks",
                              "answer": "Open Billing.", "size": 3, "tickets": ["t1"],
                              "coverage": 0.2}])  # fmt: skip
    (candidate,) = journal.candidates()
    journal.decide_candidate(candidate.id, "accepted", candidate.question, "Open Billing.",
                             "faq/cancel-plus")  # fmt: skip
    journal.add_rating({"conversation_id": "f1", "channel": "widget", "rating": 4,
                        "question": "cancel plus", "top_doc": "faq/cancel-plus"})  # fmt: skip
    admin = {"Authorization": "Bearer k"}
    found = client.get("/admin/trends", headers=admin).json["csat"]
    topics = {t["topic"]: (t["ratings"], t["mean"]) for t in found["by_topic"]}
    assert topics == {"Reset your password": (2, 3.5), "unanswered": (1, 1.0),
                      "unknown": (1, 3.0), "How do I cancel Lumio Plus?": (1, 4.0)}  # fmt: skip
    assert found["by_week"][-1]["ratings"] == 5 and found["overall"]["satisfied"] == 0.4
    csv = client.get("/admin/trends?format=csv", headers=admin).get_data(as_text=True)
    assert f"csat,all,{found['weeks'][-1]},5,3.0,0.4" in csv.splitlines()
    shown = CliRunner().invoke(cli, ["--home", str(home), "insights", "trends"]).output
    assert "5 ratings, mean 3.00, 40% satisfied" in shown  # the command line shows it too
    assert "  Reset your password                   2 ratings, mean 3.50, 50% satisfied" in shown
