"""Security headers on every response, and per-client rate limits on the public endpoints.

The pages have no inline script or style, so the Content-Security-Policy needs no
``unsafe-inline``. Framing is denied unless ``KB_FRAME_ANCESTORS`` names who may frame the
pages. Rate limits are a token bucket per client and route group, kept in each worker process:
with N workers a client gets up to N times the rate, which still stops a flood.

The client is its backend API key when the request carries one (``Authorization: Bearer
kbk_…``, limits of its own; see :mod:`kb.keys`), else its address (the ``KB_RATE_LIMIT*``
settings). A key that is wrong or revoked is a 401, never silently an anonymous visitor.
Limited responses say ``X-RateLimit-Limit`` (a minute) and ``X-RateLimit-Remaining``; a 429
says ``Retry-After``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from flask import Flask, Response, g, request

from kb.errors import KbError, Unauthorized
from kb.keys import ApiKey, KeyChecker
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
        return self.spend(key, now).wait

    def spend(self, key: str, now: float | None = None) -> Spent:
        """Spend a token for ``key``; return the wait (0 if spent) and the whole tokens left."""
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
            return Spent(wait, int(tokens))


@dataclass(frozen=True)
class Spent:
    """What taking a token did: seconds to wait (0: allowed) and whole tokens left."""

    wait: float
    remaining: int


# Which requests count against which limit: answers cost far more than searches.
GROUPS = {"answer": ("/answer", "/v1/answer"), "route": ("/route", "/v1/route")}


def client_address() -> str:
    """The client's address: the first X-Forwarded-For hop when kb sits behind a proxy."""
    if get_kb().settings.behind_proxy:
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.split(",")[0].strip()[:64]
    return request.remote_addr or "unknown"


def backend_key(checker: KeyChecker) -> ApiKey | None:
    """The backend API key the request carries, None without one; 401 if it is not a live key."""
    given = request.headers.get("Authorization")
    if given is None:
        return None
    scheme, _, token = given.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send the API key as Authorization: Bearer KEY")
    return checker.check(get_kb().writer(), token.strip())


def _buckets(group: str, per_minute: int) -> TokenBuckets:
    return TokenBuckets(per_minute, max(10 if group == "other" else 5, per_minute / 4))


def init_app(app: Flask) -> None:
    """Install the rate limits and the security headers."""
    settings = app.extensions["kb"].settings
    anonymous = {
        group: _buckets(
            group, settings.rate_limit if group == "other" else settings.rate_limit_answer
        )
        for group in (*GROUPS, "other")
    }
    checker = KeyChecker()
    keyed: dict[tuple[str, str, int], TokenBuckets] = {}  # (group, key id, rate): one per key

    @app.before_request
    def limit() -> None:
        if request.path.startswith(("/static/", "/healthz", "/readyz", "/metrics", "/admin/")):
            return
        group = next((n for n, paths in GROUPS.items() if request.path in paths), "other")
        key = backend_key(checker)
        if key is None:
            buckets, client = anonymous[group], client_address()
        else:
            rate = key.searches_per_minute if group == "other" else key.answers_per_minute
            bucket_key = (group, key.key_id, rate)
            buckets = keyed.get(bucket_key) or keyed.setdefault(bucket_key, _buckets(group, rate))
            client = f"key {key.key_id}"
        if buckets.rate <= 0:
            return
        spent = buckets.spend(f"{group}:{client}")
        g.rate_limit = (round(buckets.rate * 60), spent.remaining)
        if spent.wait:
            raise RateLimited("too many requests: slow down and try again shortly", spent.wait)

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
        if "rate_limit" in g:
            h["X-RateLimit-Limit"], h["X-RateLimit-Remaining"] = map(str, g.rate_limit)
        h.setdefault("Content-Security-Policy", policy)
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if frame_ancestors == "'none'":
            h.setdefault("X-Frame-Options", "DENY")
        return response
