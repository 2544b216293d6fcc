"""Streaming answers over server-sent events, with and without a model, faults included."""

import json
import re

import pytest

from tests.openai_server import Reply, ScriptedModel, openai_server
from tests.test_llm import QUESTION, first_passage_sentence
from web import create_app

STREAMED = {"question": QUESTION, "stream": True}
SECOND = "Reset links expire after sixty minutes, so use yours soon [1]."


def events(response) -> list[tuple[str, dict]]:
    """Parse a text/event-stream body into (event, data) pairs."""
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    out = []
    for block in response.get_data(as_text=True).split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((fields["event"], json.loads(fields["data"])))
    return out


def shown(stream: list[tuple[str, dict]]) -> str:
    """What a client following the protocol shows: deltas appended, reset clearing."""
    text = ""
    for name, data in stream:
        if name == "delta":
            text += data["text"]
        elif name == "reset":
            text = ""
    return text


def client(demo_home, url=None):
    settings = {"home": demo_home, "llm_retries": 0, "llm_timeout": 1.0}
    if url:
        settings |= {"llm_base_url": url, "llm_model": "m"}
    return create_app(settings).test_client()


def test_extractive_answers_stream_and_end_with_the_whole_answer(demo_home):
    stream = events(client(demo_home).post("/answer", json={"question": QUESTION, "stream": True}))
    names = [n for n, _ in stream]
    assert names[-1] == "done" and names.count("done") == 1 and "delta" in names
    done = stream[-1][1]
    assert done["mode"] == "extractive" and not done["refused"] and done["citations"]
    assert shown(stream) == done["answer"]
    assert done["index_version"] and done["query"] == QUESTION


def test_accept_header_asks_for_a_stream(demo_home):
    response = client(demo_home).post(
        "/answer", json={"question": QUESTION}, headers={"Accept": "text/event-stream"}
    )
    assert events(response)[-1][0] == "done"


def test_a_refusal_streams_as_a_refusal(demo_home):
    stream = events(
        client(demo_home).post(
            "/answer", json={"question": "How do I bake sourdough bread?", "stream": True}
        )
    )
    done = stream[-1][1]
    assert done["refused"] and done["citations"] == [] and done["related"]
    assert shown(stream) == done["answer"]


@pytest.mark.parametrize(
    "body, message",
    [
        ({"question": "", "stream": True}, "question is empty"),
        ({"question": QUESTION, "stream": "yes"}, "stream must be true or false"),
    ],
)
def test_bad_streaming_requests_are_json_errors_not_streams(demo_home, body, message):
    response = client(demo_home).post("/answer", json=body)
    assert response.status_code == 400 and response.is_json
    assert message in response.json["error"]


def test_model_tokens_stream_verified_sentence_by_sentence(demo_home):
    def answer(prompt: str) -> str:
        return f"{first_passage_sentence(prompt)} {SECOND}"

    with openai_server(ScriptedModel([Reply(content=answer)])) as url:
        stream = events(client(demo_home, url).post("/answer", json=STREAMED))
    done = stream[-1][1]
    assert done["mode"] == "llm" and done["fallback"] is None and done["citations"]
    deltas = [d["text"] for n, d in stream if n == "delta"]
    assert len(deltas) >= 1 and shown(stream) == done["answer"]
    assert "reset" not in [n for n, _ in stream]


def test_phantom_citations_and_unsupported_sentences_are_never_streamed(demo_home):
    def bad(prompt: str) -> str:
        return (
            f"{first_passage_sentence(prompt)} You can also call us on 555 0100 [7]. "
            "The moon is made of green cheese [2]. Thanks for asking [9]."
        )

    with openai_server(ScriptedModel([Reply(content=bad)])) as url:
        response = client(demo_home, url).post("/answer", json=STREAMED)
    raw = response.get_data(as_text=True)
    assert "555" not in raw and "cheese" not in raw and "[7]" not in raw and "[9]" not in raw
    stream = events(response)
    assert [c["number"] for c in stream[-1][1]["citations"]] == [1]


@pytest.mark.parametrize("fault", ["cut", "stall", "garbage"])
def test_a_model_failing_part_way_ends_the_stream_with_the_extractive_answer(demo_home, fault):
    def answer(prompt: str) -> str:
        return f"{first_passage_sentence(prompt)} {SECOND}"

    reply = Reply(content=answer, stream_fault=fault, fault_after=-3)
    with openai_server(ScriptedModel([reply])) as url:
        stream = events(client(demo_home, url).post("/answer", json=STREAMED))
    names = [n for n, _ in stream]
    done = stream[-1][1]
    # The first sentence was verified and sent before the fault, so the client is told to
    # discard it; then the extractive answer arrives and the stream ends cleanly.
    assert names.index("reset") < names.index("done") == len(names) - 1
    assert done["mode"] == "extractive" and done["fallback"] and done["citations"]
    assert shown(stream) == done["answer"] and re.search(r"\[1\]", done["answer"])
