"""Follow-up questions: made standalone by rule, and answered in context over the API."""

import pytest

from kb.conversation import faithful, is_follow_up, standalone


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


def ask_with_model(demo_home, rewrite: str, question: str, history: list[str]):
    """Ask through a scripted model that rewrites follow-ups as ``rewrite`` and answers
    faithfully; return the answer and the model's requests."""
    from tests.openai_server import Reply, ScriptedModel, openai_server
    from tests.test_llm import first_passage_sentence, kb_with

    def reply(prompt: str) -> str:
        return rewrite if "standalone question" in prompt else first_passage_sentence(prompt)

    model = ScriptedModel([Reply(content=reply)])
    with openai_server(model) as url:
        answer = kb_with(demo_home, url).answering.answer(question, history=history)
    return answer, [r["messages"][-1]["content"] for r in model.requests]


def test_with_a_model_follow_ups_are_rewritten_by_it(demo_home):
    rewritten = "How do I turn on two-factor authentication on Android?"
    answer, prompts = ask_with_model(
        demo_home, rewritten, "and on Android?", ["How do I turn on two-step verification?"]
    )
    assert answer.question == rewritten
    assert answer.citations[0].doc_id == "two-factor-authentication"
    assert "How do I turn on two-step verification?" in prompts[0]
    assert "and on Android?" in prompts[0]


def test_a_failed_rewrite_falls_back_to_the_rule(demo_home):
    answer, _ = ask_with_model(
        demo_home, "line one\nline two", "and on the web?", ["How do I reset my password?"]
    )
    assert answer.question == "How do I reset my password? and on the web?"


def test_a_standalone_question_is_not_sent_for_rewriting(demo_home):
    answer, prompts = ask_with_model(
        demo_home, "UNUSED", "How do I factory reset a bulb?", ["How do I reset my password?"]
    )
    assert answer.question == "How do I factory reset a bulb?"
    assert all("standalone question" not in p for p in prompts)


def test_a_rewrite_that_leaves_the_conversation_is_not_used(demo_home):
    answer, _ = ask_with_model(
        demo_home,
        "Can you recommend a product that can help me with my project?",
        "and on the web?",
        ["How do I reset my password?"],
    )
    assert answer.question == "How do I reset my password? and on the web?"


def test_faithful_rewrites_keep_to_the_conversation():
    history = ["How do I turn on two-step verification?"]
    assert faithful("How do I turn on two-step verification on the web?", "and on the web?",
                    history)  # fmt: skip
    assert not faithful("Which laptop should I buy?", "and on the web?", history)
    assert not faithful("", "and on the web?", history)
