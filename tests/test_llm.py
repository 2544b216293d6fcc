"""The LLM answer path against a real local server speaking the chat-completions protocol."""

import re
import time
from pathlib import Path

import pytest

from kb.answer import REFUSAL
from kb.config import load_settings
from kb.usecases.bootstrap import Services, build
from tests.openai_server import Reply, ScriptedModel, openai_server
from web import create_app

QUESTION = "How do I reset my password?"


def first_passage_sentence(prompt: str) -> str:
    """What a faithful model says: the first sentence of passage [1], cited."""
    body = prompt.split("[1] ", 1)[1].split("<<<\n", 1)[1].split("\n>>>", 1)[0]
    sentence = re.split(r"(?<=[.!?])\s", body.strip())[0]
    return f"{sentence} [1]"


def kb_with(demo_home: Path, url: str, **extra) -> Services:
    settings = {"home": demo_home, "llm_base_url": url, "llm_model": "test-model",
                "llm_timeout": 1.0, "llm_retries": 0, **extra}  # fmt: skip
    return build(load_settings(settings))


def test_a_faithful_answer_is_written_by_the_model_with_verified_citations(demo_home):
    model = ScriptedModel([Reply(content=first_passage_sentence)])
    with openai_server(model) as url:
        answer = kb_with(demo_home, url).answering.answer(QUESTION)
    assert answer.mode == "llm" and answer.fallback is None and not answer.refused
    assert answer.citations[0].number == 1 and "[1]" in answer.text
    request = model.requests[0]
    assert request["model"] == "test-model" and request["temperature"] == 0
    prompt = request["messages"][-1]["content"]
    assert QUESTION in prompt and "<<<" in prompt and "not instructions" in prompt


def test_phantom_and_unsupported_sentences_never_reach_the_client(demo_home):
    def mixed(prompt: str) -> str:
        return (
            first_passage_sentence(prompt)
            + " You can also call us on 555 0100 [7]. The moon is made of green cheese [2]."
        )

    with openai_server(ScriptedModel([Reply(content=mixed)])) as url:
        answer = kb_with(demo_home, url).answering.answer(QUESTION)
    assert not answer.refused
    assert "555" not in answer.text and "cheese" not in answer.text and "[7]" not in answer.text
    assert [c.number for c in answer.citations] == [1]


def test_an_answer_with_no_support_falls_back_to_the_verified_extractive_one(demo_home):
    with openai_server(
        ScriptedModel([Reply(content="Passwords are stored on the moon [1].")])
    ) as url:
        answer = kb_with(demo_home, url).answering.answer(QUESTION)
    assert not answer.refused and answer.mode == "extractive" and "moon" not in answer.text
    assert "no sentence its citations support" in answer.fallback
    assert answer.citations[0].doc_id == "reset-password"


def test_an_answer_with_no_support_to_an_unanswerable_question_is_still_a_refusal(demo_home):
    with openai_server(ScriptedModel([Reply(content="Mercury boils at 357 °C [1].")])) as url:
        answer = kb_with(demo_home, url).answering.answer("What is the boiling point of mercury?")
    assert answer.refused and answer.citations == () and answer.text == REFUSAL


def test_not_found_from_the_model_is_a_refusal(demo_home):
    with openai_server(ScriptedModel([Reply(content="NOT_FOUND")])) as url:
        answer = kb_with(demo_home, url).answering.answer(QUESTION)
    assert answer.refused and answer.mode == "llm"


@pytest.mark.parametrize(
    "reply, reason",
    [
        (Reply(status=429), "rate-limited"),
        (Reply(status=500), "HTTP 500"),
        (Reply(raw=b"this is not json"), "not an answer"),
        (Reply(content=""), "empty answer"),
        (Reply(content="late", delay=3.0), "timed out"),
    ],
    ids=["429", "500", "garbage", "empty", "timeout"],
)
def test_upstream_faults_fall_back_to_an_extractive_answer(demo_home, reply, reason):
    with openai_server(ScriptedModel([reply])) as url:
        started = time.monotonic()
        answer = kb_with(demo_home, url).answering.answer(QUESTION)
        elapsed = time.monotonic() - started
    assert answer.mode == "extractive" and reason in (answer.fallback or "")
    assert not answer.refused and answer.citations
    assert elapsed < 10  # bounded by the timeout, not by the stalled server


def test_an_unreachable_endpoint_falls_back(demo_home):
    answer = kb_with(demo_home, "http://127.0.0.1:9/v1").answering.answer(QUESTION)
    assert answer.mode == "extractive" and "unreachable" in answer.fallback


def test_the_api_reports_mode_and_fallback(demo_home):
    with openai_server(ScriptedModel([Reply(content=first_passage_sentence)])) as url:
        settings = {"home": demo_home, "llm_base_url": url, "llm_model": "m", "llm_retries": 0}
        body = create_app(settings).test_client().post("/answer", json={"question": QUESTION}).json
    assert body["mode"] == "llm" and body["fallback"] is None and body["citations"]


def test_only_one_module_imports_openai():
    root = Path(__file__).resolve().parent.parent
    importers = {
        str(p.relative_to(root))
        for folder in ("kb", "ingest", "index", "web")
        for p in (root / folder).rglob("*.py")
        if re.search(r"^\s*(import openai|from openai)", p.read_text(), re.M)
    }
    assert importers == {"kb/llm.py"}
