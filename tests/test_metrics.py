"""Prometheus metrics, from a real app and from kb serve with several workers."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.openai_server import Reply, ScriptedModel, openai_server
from tests.servers import free_port
from web import create_app


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text exposition."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if match and match.group(1) == name:
            got = ",".join(sorted((match.group(2) or "").split(","))) if match.group(2) else ""
            if got == want:
                return float(match.group(3))
    return 0.0


def test_metrics_count_requests_answers_feedback_ratings_and_errors(demo_home, tmp_path):
    import shutil

    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    client = create_app({"home": home}).test_client()
    before = client.get("/metrics").get_data(as_text=True)
    client.get("/v1/search?q=bulb")
    client.post("/v1/answer", json={"question": "How do I reset my password?"})
    client.post("/v1/answer", json={"question": "How do I bake sourdough bread?"})
    client.post("/v1/feedback", json={"rating": "down", "query": "bread"})
    client.post("/v1/ratings", json={"conversation_id": "c", "rating": 4, "channel": "widget"})
    client.get("/v1/search")  # a 400
    after = client.get("/metrics").get_data(as_text=True)

    def grew(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("kb_requests_total", route="/v1/search", status="200") == 1
    assert grew("kb_answers_total", outcome="answered", mode="extractive") == 1
    assert grew("kb_answers_total", outcome="refused", mode="extractive") == 1
    assert grew("kb_feedback_total", rating="down", target="answer") == 1
    assert grew("kb_ratings_total", rating="4", channel="widget") == 1
    assert grew("kb_errors_total", status="400") == 1
    assert grew("kb_retrieval_seconds_count") >= 3
    assert grew("kb_request_seconds_count", route="/v1/answer") == 2
    assert sample(after, "kb_index_info", version="v000001") == 1
    assert sample(after, "kb_documents") == 40


def test_language_model_latency_tokens_and_failures(demo_home):
    from tests.test_llm import first_passage_sentence

    with openai_server(
        ScriptedModel([Reply(content=first_passage_sentence), Reply(status=429)])
    ) as url:
        client = create_app({"home": demo_home, "llm_base_url": url, "llm_model": "m",
                             "llm_retries": 0}).test_client()  # fmt: skip
        before = client.get("/metrics").get_data(as_text=True)
        client.post("/v1/answer", json={"question": "How do I reset my password?"})
        client.post("/v1/answer", json={"question": "How do I reset my password?"})
        after = client.get("/metrics").get_data(as_text=True)
    assert sample(after, "kb_llm_seconds_count") - sample(before, "kb_llm_seconds_count") == 2
    assert sample(after, "kb_llm_tokens_total", kind="completion") > sample(
        before, "kb_llm_tokens_total", kind="completion")  # fmt: skip
    assert sample(after, "kb_llm_failures_total", reason="rate_limited") - sample(
        before, "kb_llm_failures_total", reason="rate_limited") == 1  # fmt: skip


def test_kb_serve_with_two_workers_adds_up_their_metrics(demo_home):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env |= {"KB_HOME": str(demo_home), "KB_WORKERS": "2", "KB_THREADS": "2"}
    kb = Path(sys.executable).parent / "kb"
    proc = subprocess.Popen([str(kb), "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(base + "/readyz", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        for _ in range(20):  # spread over both workers by the kernel
            urllib.request.urlopen(base + "/v1/search?q=bulb", timeout=10).read()
        text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
        assert sample(text, "kb_requests_total", route="/v1/search", status="200") == 20
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
