"""Feedback that moves ranking within bounds: one client moves nothing, several do (at most
the bound), old votes fade, an editor's undo sets them aside, and one setting turns it off."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from kb.config import load_settings
from kb.nudges import Undo, Vote, nudges, pseudonym
from kb.usecases.bootstrap import build
from tests.test_gate import ARTICLES, write

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def vote(client: str, rating: int = 1, days: float = 0, doc: str = "a", query: str = "q") -> Vote:
    when = (NOW - timedelta(days=days)).isoformat(timespec="seconds")
    return Vote(query, doc, rating, client, when)


def moved(votes, sims=None, **kw):
    sims = np.ones(len(votes)) if sims is None else np.array(sims)
    return nudges(votes, sims, NOW, bound=0.15, **kw)


def test_one_client_moves_nothing_however_often_it_votes():
    assert moved([vote("v:1") for _ in range(20)]) == {}


def test_several_clients_move_a_page_within_the_bound():
    three = moved([vote(f"v:{i}") for i in range(3)])["a"]
    assert three.boost == pytest.approx(0.075) and three.clients == 3  # half the bound
    six = moved([vote(f"v:{i}", -1) for i in range(6)])["a"]
    assert six.boost == pytest.approx(-0.15)
    many = moved([vote(f"v:{i}") for i in range(50)])["a"]
    assert many.boost == pytest.approx(0.15)  # never past the bound


def test_disagreement_similarity_and_age_count():
    split = [vote("v:1"), vote("v:2"), vote("v:3"), vote("v:4", -1)]
    assert moved(split) == {}  # three agree, one disagrees: a margin of two
    assert moved([vote(f"v:{i}") for i in range(3)], sims=[0.9, 0.9, 0.5]) == {}
    old = moved([vote(f"v:{i}", days=90) for i in range(3)])["a"]  # three half-lives
    assert old.boost == pytest.approx(0.15 * 3 * 0.125 / 6)
    latest = moved([vote("v:1", 1, days=5), vote("v:1", -1, days=1), vote("v:2", -1),
                    vote("v:3", -1)])  # fmt: skip
    assert latest["a"].boost < 0  # a client's latest vote is the one that counts


def test_an_undo_sets_aside_the_votes_before_it_and_bound_zero_turns_it_off():
    votes = [vote(f"v:{i}", days=2) for i in range(4)]
    undo = Undo("a", "q", (NOW - timedelta(days=1)).isoformat(timespec="seconds"))
    assert moved(votes, undos=[(undo, 0.95)]) == {}
    assert moved(votes, undos=[(undo, 0.2)])["a"].boost > 0  # another question: still moves
    later = [*votes, *(vote(f"w:{i}") for i in range(3))]
    assert moved(later, undos=[(undo, 0.95)])["a"].clients == 3  # votes after the undo count
    assert nudges(votes, np.ones(4), NOW, bound=0) == {}


def test_a_visitor_is_a_monthly_pseudonym_never_the_address():
    one = pseudonym("secret", "203.0.113.7", NOW)
    assert one == pseudonym("secret", "203.0.113.7", NOW - timedelta(days=5))  # same month
    assert one != pseudonym("secret", "203.0.113.8", NOW)
    assert one != pseudonym("secret", "203.0.113.7", NOW + timedelta(days=31))
    assert one.startswith("v:") and "203" not in one


def test_votes_through_the_api_move_a_page_only_when_several_visitors_agree(tmp_path, embedder):
    from web import create_app

    home = tmp_path / "home"
    settings = load_settings({"home": home, "behind_proxy": True, "rate_limit": 0}, environ={})
    kb = build(settings, embedder)
    kb.ingestion.ingest([str(write(tmp_path / "help", ARTICLES))])
    client = create_app(settings, embedder).test_client()
    question = "what does the warranty on a bulb cover?"

    def scores() -> dict[str, float]:
        kb.nudges.refresh()
        return {h.passage.doc_id: h.score for h in kb.retrieval.search(question, k=4)}

    def answer_scores() -> dict[str, float]:  # the pages an answer draws on move alike
        return {h.passage.doc_id: h.score for h in kb.retrieval.retrieve(question).hits}

    before, answer_before = scores(), answer_scores()
    top = max(before, key=before.get)

    def down(address: str) -> None:
        body = {"rating": "down", "target": "result", "query": "what does a bulb's warranty"
                " cover?", "doc_id": top}  # fmt: skip
        response = client.post("/v1/feedback", json=body,
                               headers={"X-Forwarded-For": address})  # fmt: skip
        assert response.status_code == 201

    for _ in range(6):
        down("198.51.100.1")
    assert scores() == before  # one visitor, six votes: nothing moves
    for n in range(2, 5):
        down(f"198.51.100.{n}")
    after = scores()
    assert answer_scores()[top] < answer_before[top]
    ratio = after[top] / before[top]
    assert 1 - 0.15 <= ratio < 1  # four visitors: down, within the bound
    assert {d: s for d, s in after.items() if d != top} == {
        d: s for d, s in before.items() if d != top}  # fmt: skip
    kb.nudges.undo(top, question)
    assert scores() == before  # undone
    off = build(load_settings({"home": home, "feedback_boost": 0}, environ={}), embedder)
    assert {h.passage.doc_id: h.score for h in off.retrieval.search(question, k=4)} == before


def test_editors_see_each_nudge_once_and_undo_it(kb, tmp_path):
    kb.ingestion.ingest([str(write(tmp_path / "help", ARTICLES))])
    for n, query in enumerate(["is my bulb under warranty?", "is my bulb still under warranty?",
                               "bulb warranty?", "is the bulb under warranty"]):  # fmt: skip
        kb.documents.add_feedback({"rating": "up", "target": "result", "query": query,
                                   "doc_id": "warranty"}, client=f"v:{n}")  # fmt: skip
    kb.documents.add_feedback({"rating": "up", "target": "result", "query": "pairing",
                               "doc_id": "pairing"}, client="v:1")  # fmt: skip
    embedder = kb.retrieval.searcher().embedder
    (shown,) = kb.nudges.review(embedder)
    assert shown.doc_id == "warranty" and shown.boost > 0 and shown.clients >= 3
    kb.nudges.undo("warranty", shown.queries[0])
    assert kb.nudges.review(embedder) == []


def test_the_admin_api_lists_nudges_and_undoes_one(tmp_path, embedder):
    from web import create_app

    settings = load_settings({"home": tmp_path / "home", "admin_key": "k"}, environ={})
    kb = build(settings, embedder)
    kb.ingestion.ingest([str(write(tmp_path / "help", ARTICLES))])
    for n in range(4):
        kb.documents.add_feedback({"rating": "down", "target": "result", "doc_id": "pairing",
                                   "query": "how do I pair the hub?"}, client=f"v:{n}")  # fmt: skip
    client = create_app(settings, embedder).test_client()
    admin = {"Authorization": "Bearer k"}
    listed = client.get("/admin/nudges", headers=admin).json
    assert listed["bound"] == 0.15
    (shown,) = listed["nudges"]
    assert shown["doc_id"] == "pairing" and -0.15 <= shown["boost"] < 0 and shown["clients"] == 4
    assert shown["queries"] == ["how do I pair the hub?"]
    undo = {"doc_id": "pairing", "query": "how do I pair the hub?"}
    assert client.post("/admin/nudges/undo", json=undo, headers=admin).json == {"ok": True}
    assert client.get("/admin/nudges", headers=admin).json["nudges"] == []
    bad = client.post("/admin/nudges/undo", json={"doc_id": ""}, headers=admin)
    assert bad.status_code == 400 and bad.json["ok"] is False
