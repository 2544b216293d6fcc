"""Refusals suggest where to go: the department similar past tickets went to, and a contact."""

import pytest

from kb.config import load_settings
from kb.escalation import vote
from kb.models import Hit, Passage
from kb.usecases.bootstrap import build
from tests.conftest import DEMO
from web import create_app

QUOTE = "Can I get a quote for 500 bulbs for my hotel?"
CONTACT = "support@lumio.example"


@pytest.fixture(scope="module")
def home(tmp_path_factory, embedder):
    home = tmp_path_factory.mktemp("with-tickets")
    kb = build(load_settings({"home": home}), embedder=embedder)
    kb.ingestion.ingest([str(DEMO), str(DEMO.parent / "tickets.csv")])
    return home


def settings(home, **extra):
    return load_settings({"home": home, **extra})


def test_a_refusal_names_the_department_similar_tickets_went_to(home, embedder):
    kb = build(settings(home, escalation_contact=CONTACT), embedder=embedder)
    answer = kb.answering.answer(QUOTE)
    assert answer.refused and answer.escalation is not None
    assert answer.escalation.department == "Sales"
    assert 0 < answer.escalation.confidence <= 1
    assert answer.escalation.contact == "support@lumio.example"
    # Tickets only steer the suggestion: they are never cited or offered as articles.
    assert all(h.passage.kind != "ticket" for h in answer.related)


def test_an_answer_carries_no_escalation(home, embedder):
    answer = build(settings(home), embedder=embedder).answering.answer(
        "How do I reset my password?"
    )
    assert not answer.refused and answer.escalation is None


def test_without_tickets_or_contact_there_is_no_escalation(demo_kb):
    answer = demo_kb.answering.answer("How do I bake sourdough bread?")
    assert answer.refused and answer.escalation is None


def test_without_similar_tickets_only_the_contact_is_offered(demo_home, embedder):
    kb = build(settings(demo_home, escalation_contact="https://lumio.example/contact"),
                       embedder=embedder)  # fmt: skip
    escalation = kb.answering.answer("How do I bake sourdough bread?").escalation
    assert escalation is not None and escalation.department is None
    assert escalation.contact == "https://lumio.example/contact"


def test_the_api_returns_the_escalation_on_refusal(home):
    client = create_app({"home": home, "escalation_contact": CONTACT}).test_client()
    body = client.post("/answer", json={"question": QUOTE})
    assert body.json["refused"] and body.json["escalation"]["department"] == "Sales"
    assert body.json["escalation"]["contact"] == "support@lumio.example"


def passage(chunk_id):
    return Passage(chunk_id, f"t{chunk_id}", 1, "T", "", "", "text", "ticket", "en")


def test_votes_are_weighted_by_similarity_and_ignore_weak_neighbours():
    hits = [Hit(passage(1), 0.9, 0.9, 0), Hit(passage(2), 0.5, 0.5, 0),
            Hit(passage(3), 0.45, 0.45, 0), Hit(passage(4), 0.1, 0.1, 0)]  # fmt: skip
    queues = {1: "Billing", 2: "Sales", 3: "Sales", 4: "Sales"}
    department, share = vote(hits, queues)
    assert department == "Sales" and share == pytest.approx(0.95 / 1.85, abs=1e-3)
    assert vote(hits[3:], queues) == (None, 0.0)
    assert vote(hits, {}) == (None, 0.0)
