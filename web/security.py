"""Security headers on every response, and per-client rate limits on the public endpoints.

The pages have no inline script or style, so the Content-Security-Policy needs no
``unsafe-inline``. Framing is denied unless ``KB_FRAME_ANCESTORS`` names who may frame the
pages. Rate limits are a token bucket per client address and route group, kept in each worker
process: with N workers a client gets up to N times the rate, which still stops a flood.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from flask import Flask, Response, request

from kb.errors import KbError
from web.requests import get_kb

MAX_CLIENTS = 100_000  # buckets kept; the least recently seen are forgotten first


class RateLimited(KbError):
    """Too many requests from one client."""

    status = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TokenBuckets:
    """``rate`` requests a minute per key, in bursts of up to ``burst``."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate / 60.0
        self.burst = burst
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        """Spend a token for ``key``; return 0, or the seconds until one is free."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / self.rate
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > MAX_CLIENTS:
                self._buckets.popitem(last=False)
            return wait


# Which requests count against which limit: answers cost far more than searches.
GROUPS = {"answer": ("/answer", "/v1/answer"), "route": ("/route", "/v1/route")}


def client_address() -> str:
    """The client's address: the first X-Forwarded-For hop when kb sits behind a proxy."""
    if get_kb().settings.behind_proxy:
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.split(",")[0].strip()[:64]
    return request.remote_addr or "unknown"


def init_app(app: Flask) -> None:
    """Install the rate limits and the security headers."""
    settings = app.extensions["kb"].settings
    limits = {
        "answer": TokenBuckets(settings.rate_limit_answer, max(5, settings.rate_limit_answer / 4)),
        "route": TokenBuckets(settings.rate_limit_answer, max(5, settings.rate_limit_answer / 4)),
        "other": TokenBuckets(settings.rate_limit, max(10, settings.rate_limit / 4)),
    }

    @app.before_request
    def limit() -> None:
        if request.path.startswith(("/static/", "/healthz", "/readyz", "/metrics", "/admin/")):
            return
        group = next((g for g, paths in GROUPS.items() if request.path in paths), "other")
        buckets = limits[group]
        if buckets.rate <= 0:
            return
        wait = buckets.take(f"{group}:{client_address()}")
        if wait:
            raise RateLimited("too many requests: slow down and try again shortly", wait)

    frame_ancestors = settings.frame_ancestors.strip() or "'none'"
    policy = "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: https:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        f"frame-ancestors {frame_ancestors}",
    ])  # fmt: skip

    @app.after_request
    def headers(response: Response) -> Response:
        h = response.headers
        h.setdefault("Content-Security-Policy", policy)
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if frame_ancestors == "'none'":
            h.setdefault("X-Frame-Options", "DENY")
        return response
