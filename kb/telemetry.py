"""Prometheus metrics: what kb does, in counters and latency histograms.

Under a multi-process server (``kb serve`` with several workers) ``PROMETHEUS_MULTIPROC_DIR``
is set before the workers start, and each worker writes its samples there; ``/metrics``
then adds them up. Gauges about the knowledge base itself (index version, document counts)
are read at scrape time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Histogram

LATENCY = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30)

REQUESTS = Counter("kb_requests", "HTTP requests by route and status", ["route", "status"])
REQUEST_SECONDS = Histogram(
    "kb_request_seconds", "HTTP request latency by route", ["route"], buckets=LATENCY
)
STAGE_SECONDS = Histogram(
    "kb_stage_seconds",
    "Time a request spent in each stage (kb.timing.STAGES)",
    ["route", "stage"],
    buckets=(0.0001, 0.0002, 0.0005, 0.001, *LATENCY),
)
RETRIEVAL_SECONDS = Histogram("kb_retrieval_seconds", "Hybrid retrieval latency", buckets=LATENCY)
LLM_SECONDS = Histogram("kb_llm_seconds", "Language-model call latency", buckets=LATENCY)
LLM_TOKENS = Counter("kb_llm_tokens", "Tokens the language model used", ["kind"])
LLM_FAILURES = Counter("kb_llm_failures", "Language-model calls that fell back", ["reason"])
ANSWERS = Counter("kb_answers", "Answers given, by outcome and mode", ["outcome", "mode"])
FEEDBACK = Counter("kb_feedback", "Feedback received, by rating and target", ["rating", "target"])
RATINGS = Counter("kb_ratings", "Satisfaction ratings received, by rating and channel",
                  ["rating", "channel"])  # fmt: skip
ERRORS = Counter("kb_errors", "Error responses by status", ["status"])


@contextmanager
def timed(histogram: Histogram) -> Iterator[None]:
    """Observe how long the block takes."""
    started = time.perf_counter()
    try:
        yield
    finally:
        histogram.observe(time.perf_counter() - started)


def multiprocess() -> bool:
    """Whether samples are shared between worker processes."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
