"""Follow-up questions: made standalone by rule, and answered in context over the API."""

import pytest

from kb.conversation import is_follow_up, standalone


@pytest.mark.parametrize(
    "question, follow_up",
    [
        ("and on the web?", True),
        ("What about Android?", True),
        ("how long does it take?", True),
        ("Also for the light strip", True),
        ("How do I reset my password?", False),
        ("Can I return a bulb I bought last month?", False),
    ],
)
def test_follow_ups_are_recognised(question, follow_up):
    assert is_follow_up(question) is follow_up


def test_standalone_puts_the_previous_question_first_and_bounds_history():
    assert standalone("and on the web?", ["How do I reset my password?"]) == (
        "How do I reset my password? and on the web?"
    )
    assert standalone("How do I pair a bulb?", ["Reset password?"]) == "How do I pair a bulb?"
    assert standalone("and then?", []) == "and then?"


def test_a_follow_up_is_answered_in_context(client):
    history = [{"question": "How do I reset my password?", "answer": "…"}]
    body = client.post(
        "/answer",
        json={"question": "and on the website?", "history": history, "conversation_id": "c1"},
    ).json
    assert body["question"] == "and on the website?" and body["conversation_id"] == "c1"
    assert body["query"].startswith("How do I reset my password?")
    assert not body["refused"]
    assert any(c["doc_id"] == "reset-password" for c in body["citations"])


@pytest.mark.parametrize(
    "payload",
    [
        {"question": "x", "history": "not a list"},
        {"question": "x", "history": [{"answer": "no question"}]},
        {"question": "x", "history": [{"question": "q"}] * 21},
        {"question": "x", "conversation_id": 5},
    ],
)
def test_bad_history_is_a_400(client, payload):
    r = client.post("/answer", json=payload)
    assert r.status_code == 400 and r.json["ok"] is False
