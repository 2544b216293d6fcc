"""Per-request plumbing: request ids, timing, and access to the knowledge base."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, current_app, g, request

from kb import timing
from kb.errors import InvalidInput
from kb.telemetry import ERRORS, REQUEST_SECONDS, REQUESTS, STAGE_SECONDS
from kb.usecases.bootstrap import Services

log = logging.getLogger("kb.web")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def get_kb() -> Services:
    """Return the app's knowledge base."""
    kb: Services = current_app.extensions["kb"]
    return kb


def requested_id(path_id: str | None) -> str:
    """Return the document id a request names: its path, else its ``id`` query parameter.

    Raises :class:`InvalidInput` (400) when it names none.
    """
    doc_id = path_id if path_id is not None else request.args.get("id", "")
    if not doc_id:
        raise InvalidInput("missing document id: give it in the path or as ?id=")
    return doc_id


def request_id() -> str:
    """Return this request's id (the caller's ``X-Request-Id`` if it is safe, else a new one)."""
    rid: str | None = g.get("request_id")
    if rid is None:
        given = request.headers.get("X-Request-Id", "")
        rid = given if _SAFE_ID.match(given) else uuid.uuid4().hex[:16]
        g.request_id = rid
    return rid


def init_app(app: Flask) -> None:
    """Give every request an id and a timer, and echo the id in the response.

    Each request's stages (:mod:`kb.timing`) go to ``/metrics`` and, with ``server_timing``,
    to the ``Server-Timing`` header.
    """

    @app.before_request
    def start() -> None:
        g.started = time.perf_counter()
        g.timings, g.timing_token = timing.start()
        request_id()

    @app.teardown_request
    def stop(_: BaseException | None) -> None:
        token = g.pop("timing_token", None)
        if token is not None:
            timing.end(token)

    @app.after_request
    def finish(response: Response) -> Response:
        response.headers["X-Request-Id"] = request_id()
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        elapsed = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        REQUESTS.labels(route, str(response.status_code)).inc()
        REQUEST_SECONDS.labels(route).observe(elapsed / 1000)
        timings: timing.Timings | None = g.get("timings")
        if timings is not None:
            for name, ms in timings.stages.items():
                STAGE_SECONDS.labels(route, name).observe(ms / 1000)
            if get_kb().settings.server_timing:
                response.headers["Server-Timing"] = timings.header(elapsed)
        if response.status_code >= 400:
            ERRORS.labels(str(response.status_code)).inc()
        if not log.isEnabledFor(logging.INFO):
            return response
        log.info(
            "%s %s %s %.1fms rid=%s",
            request.method, request.path, response.status_code, elapsed, request_id(),
            extra={"request_id": request_id(), "method": request.method, "path": request.path,
                   "status": response.status_code, "ms": round(elapsed, 1), "route": route},
        )  # fmt: skip
        return response
