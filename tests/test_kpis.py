"""KPIs from a synthetic query log, feedback and ratings, computed and served to editors."""

from kb.journal import FeedbackEntry, LoggedQuery, RatingEntry
from kb.kpis import kpis
from web import create_app


def q(at, query, refused=False, conversation=None):
    return LoggedQuery(id=0, created_at=at, channel="api", query=query, refused=refused,
                       confidence=0.9, top_doc=None, index_version=None,
                       conversation_id=conversation)  # fmt: skip


def f(at, query, rating):
    return FeedbackEntry(id=0, created_at=at, target="answer", rating=rating, comment=None,
                         query=query, answer=None, citations=[], doc_id=None,
                         index_version=None, request_id=None)  # fmt: skip


def r(rating, channel="page", conversation="c"):
    return RatingEntry(id=0, created_at="2026-11-21T10:00:00+00:00", conversation_id=conversation,
                       client="", channel=channel, rating=rating, comment=None, question=None,
                       top_doc=None)  # fmt: skip


QUERIES = [
    q("2026-11-20T10:00:00+00:00", "How do I reset my password?", conversation="c1"),
    q("2026-11-20T10:05:00+00:00", "and with HomeKit?", refused=True, conversation="c1"),
    q("2026-11-20T11:00:00+00:00", "How do I reset my password?"),
    q("2026-11-21T09:00:00+00:00", "how long do refunds take"),
    q("2026-11-21T09:30:00+00:00", "Does it work with HomeKit?", refused=True),
    q("2026-11-21T12:00:00+00:00", "Does it work with HomeKit", refused=True),
]
FEEDBACK = [
    f("2026-11-21T09:02:00+00:00", "how long do refunds take", -1),
    f("2026-11-20T11:01:00+00:00", "How do I reset my password?", 1),
]


def test_kpis_count_days_refusals_helpfulness_deflection_and_top_questions():
    found = kpis(QUERIES, FEEDBACK)
    assert (found["questions"], found["answered"], found["refused"]) == (6, 3, 3)
    assert found["refusal_rate"] == 0.5 and found["helpfulness"] == 0.5
    # Deflected: only the second password question. The first was followed by a refusal in
    # its conversation; the refunds answer got a thumbs-down.
    assert found["deflection"] == round(1 / 6, 3)
    assert found["per_day"] == [
        {"day": "2026-11-20", "questions": 3, "answered": 2, "refused": 1},
        {"day": "2026-11-21", "questions": 3, "answered": 1, "refused": 2},
    ]
    assert found["top_questions"][0] == {"query": "how do i reset my password", "count": 2}
    assert found["top_unanswered"][0] == {"query": "does it work with homekit", "count": 2}
    assert kpis([], [])["deflection"] is None


def test_kpis_are_served_to_editors(tmp_path, demo_home):
    import shutil

    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    client = create_app({"home": home, "admin_key": "k", "query_log": True}).test_client()
    client.post("/v1/answer", json={"question": "How do I reset my password?"})
    client.post("/v1/answer", json={"question": "How do I bake sourdough bread?"})
    found = client.get("/admin/kpis?days=7", headers={"Authorization": "Bearer k"}).json
    assert found["days"] == 7 and found["questions"] == 2 and found["refused"] == 1


def test_csat_is_the_count_mean_and_satisfied_share_of_the_ratings():
    found = kpis(QUERIES, FEEDBACK, [r(5), r(4, "widget"), r(2, "api")])["csat"]
    assert (found["ratings"], found["mean"], found["satisfied"]) == (3, 3.67, 0.667)
    assert found["by_channel"] == {
        "page": {"ratings": 1, "mean": 5.0, "satisfied": 1.0},
        "widget": {"ratings": 1, "mean": 4.0, "satisfied": 1.0},
        "api": {"ratings": 1, "mean": 2.0, "satisfied": 0.0},
    }
    assert found["distribution"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}
    nobody = kpis(QUERIES, FEEDBACK)["csat"]  # no ratings: no figure, rather than a zero
    assert (nobody["ratings"], nobody["mean"], nobody["satisfied"]) == (0, None, None)


def test_csat_is_served_to_editors(tmp_path, demo_home):
    import shutil

    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    client = create_app({"home": home, "admin_key": "k", "query_log": True}).test_client()
    for conversation, rating in (("a", 5), ("b", 4), ("c", 1), ("c", 2)):  # c rated twice
        client.post("/v1/ratings", json={"conversation_id": conversation, "rating": rating})
    found = client.get("/admin/kpis?days=7", headers={"Authorization": "Bearer k"}).json["csat"]
    assert (found["ratings"], found["mean"], found["satisfied"]) == (3, 3.67, 0.667)
    assert found["by_channel"]["api"]["ratings"] == 3
