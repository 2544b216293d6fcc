"""Where a request's time goes: stages timed per request, in the Server-Timing header when
asked for and in /metrics always."""

import re
import time

from kb import timing
from web import create_app


def test_a_stage_counts_its_own_time_and_nothing_outside_a_request():
    with timing.stage("dense"):  # no request: nothing to record into, no error
        pass
    timings, token = timing.start()
    try:
        with timing.stage("answer"):
            time.sleep(0.02)
            with timing.stage("citations"):
                time.sleep(0.03)
        clock = timing.Clock()
        time.sleep(0.01)
        clock.lap("pages")
        with timing.stage("citations"):
            time.sleep(0.01)
    finally:
        timing.end(token)
    stages = timings.stages
    assert 20 <= stages["answer"] < 30  # the citations inside it are not its time
    assert 40 <= stages["citations"] < 60  # both times it was entered
    assert 10 <= stages["pages"] < 20
    assert timings.header(99.5).endswith("total;dur=99.50")
    with timing.stage("dense"):
        pass
    assert "dense" not in timings.stages  # the request has ended


def stages_of(response) -> dict[str, float]:
    header = response.headers["Server-Timing"]
    return {m[1]: float(m[2]) for m in re.finditer(r"(\w+);dur=([0-9.]+)", header)}


def test_search_and_answer_say_where_their_time_went(demo_home, embedder):
    app = create_app({"home": demo_home, "server_timing": True}, embedder)
    client = app.test_client()
    found = client.get("/v1/search?q=reset+my+password&k=5")
    assert found.status_code == 200
    stages = stages_of(found)
    for name in ("parse", "embed", "dense", "lexical", "fusion", "pages", "store", "snippets",
                 "serialise", "total"):  # fmt: skip
        assert name in stages, name
    assert sum(v for k, v in stages.items() if k != "total") <= stages["total"]
    answered = client.post("/v1/answer", json={"question": "How do I reset my password?"})
    stages = stages_of(answered)
    assert {"parse", "embed", "answer", "citations", "serialise"} <= set(stages)
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'kb_stage_seconds_count{route="/v1/search",stage="embed"}' in metrics


def test_no_server_timing_header_unless_it_is_turned_on(client):
    response = client.get("/v1/search?q=reset+my+password")
    assert response.status_code == 200 and "Server-Timing" not in response.headers
