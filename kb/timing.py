"""Where a request's time goes: named stages timed per request.

The web layer starts a :class:`Timings` for each request (:func:`start`); code anywhere below it
wraps a stage in ``with stage("dense"):`` and its wall time is added to that request's stage
of that name (a stage entered twice adds up). Outside a request nothing is recorded and a stage
costs one context-variable read. The stages end up in the ``Server-Timing`` response header
(W3C Server Timing, https://www.w3.org/TR/server-timing/) when ``KB_SERVER_TIMING`` is on, and
in the ``kb_stage_seconds`` histogram of ``/metrics`` always.

A stage's time is its own: a stage entered inside another (``citations`` inside ``answer``)
is taken out of the outer one, so the stages of a request add up to at most its time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

# The stages kb names, in the order a search or an answer reaches them.
STAGES = (
    "parse",  # reading and validating the request
    "embed",  # the query embedding
    "dense",  # the FAISS search
    "lexical",  # BM25 scores and their top rows
    "fusion",  # candidates' scores combined, filters and preferences
    "pages",  # passages grouped into pages and ranked
    "store",  # look-ups in the snapshot's passages and the store (texts, dates)
    "answer",  # picking passages and writing the answer (extractive or a language model)
    "citations",  # checking every citation against its passage
    "snippets",  # result snippets and highlighting
    "serialise",  # the response body
    "log",  # the query log
)


class Timings:
    """The milliseconds one request spent in each stage, each stage's own time."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self._inner: list[float] = []  # per open stage: ms its inner stages took

    def add(self, name: str, ms: float) -> None:
        """Add ``ms`` milliseconds to stage ``name`` (and take them out of the open stage)."""
        self.stages[name] = self.stages.get(name, 0.0) + ms
        if self._inner:
            self._inner[-1] += ms

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block as stage ``name``, less the stages timed inside it."""
        self._inner.append(0.0)
        started = time.perf_counter()
        try:
            yield
        finally:
            inner = self._inner.pop()
            self.add(name, (time.perf_counter() - started) * 1000 - inner)

    def header(self, total_ms: float | None = None) -> str:
        """Return the ``Server-Timing`` header value: ``embed;dur=4.81, dense;dur=2.9``,
        ``total`` last when given."""
        parts = [f"{name};dur={ms:.2f}" for name, ms in self.stages.items()]
        if total_ms is not None:
            parts.append(f"total;dur={total_ms:.2f}")
        return ", ".join(parts)


_CURRENT: ContextVar[Timings | None] = ContextVar("kb_timings", default=None)


def start() -> tuple[Timings, Token[Timings | None]]:
    """Start timing a request in this context; return its timings and the token that ends it
    (:func:`end`)."""
    timings = Timings()
    return timings, _CURRENT.set(timings)


def end(token: Token[Timings | None]) -> None:
    """Stop timing the request :func:`start` began."""
    _CURRENT.reset(token)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the block as stage ``name`` of the current request, less the stages inside it
    (nothing outside a request)."""
    timings = _CURRENT.get()
    if timings is None:
        yield
        return
    with timings.stage(name):
        yield


class Clock:
    """Laps of one stretch of code, each added to a stage: ``clock.lap("pages")`` adds the
    time since the clock started or its last lap. Nothing is recorded outside a request."""

    def __init__(self) -> None:
        self.timings = _CURRENT.get()
        self.last = time.perf_counter() if self.timings is not None else 0.0

    def lap(self, name: str) -> None:
        """Add the time since the last lap (or the start) to stage ``name``."""
        if self.timings is not None:
            now = time.perf_counter()
            self.timings.add(name, (now - self.last) * 1000)
            self.last = now
