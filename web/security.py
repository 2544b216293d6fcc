"""Security headers on every response, and per-client rate limits on the public endpoints.

The pages have no inline script or style, so the Content-Security-Policy needs no
``unsafe-inline``. Framing is denied unless ``KB_FRAME_ANCESTORS`` names who may frame the
pages. Rate limits are a token bucket per client and route group, kept in each worker process:
with N workers a client gets up to N times the rate, which still stops a flood. A bucket's
burst is a quarter of its limit a minute (at least 10 searches or 5 answers), never more than
the limit itself.

The client is its backend API key when the request carries one (``Authorization: Bearer
kbk_…``, limits of its own; see :mod:`kb.keys`), else its address (the ``KB_RATE_LIMIT*``
settings). The admin key sent the same way is a client without limits. A Bearer token that is
neither, or a key that is revoked, is a 401, never silently an anonymous visitor; other
schemes (``Basic``, from a proxy in front of kb) are not kb's and are ignored. Each address may
fail :data:`MAX_FAILED_CHECKS` key checks a minute (an scrypt each); past that a request
carrying a key is a 429 before its key is checked. Limited responses say ``X-RateLimit-Limit``
(a minute) and ``X-RateLimit-Remaining``; a 429 says ``Retry-After``. Admin responses, which
may hold a new key, say ``Cache-Control: no-store``.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import Flask, Response, current_app, g, request

from kb.config import Settings
from kb.errors import KbError, Unauthorized
from kb.keys import PREFIX, ApiKey, KeyChecker
from kb.secrets import check_key
from web.requests import get_kb

MAX_CLIENTS = 100_000  # buckets kept; the least recently seen are forgotten first
MAX_FAILED_CHECKS = 10  # wrong keys an address may send a minute (each costs an scrypt)
# The admin key sent to the public API: a client without limits (0 a minute: none).
ADMIN_CLIENT = ApiKey(name="admin key", key_id="admin", answers_per_minute=0,
                      searches_per_minute=0, created_at="")  # fmt: skip


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

    def wait(self, key: str, now: float | None = None) -> float:
        """Return 0 if ``key`` has a token to spend, else the seconds until it has; spend none."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

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


def bearer_token() -> str | None:
    """The token in ``Authorization: Bearer TOKEN``; None for no header or another scheme."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


class AdminKey:
    """The configured admin key, checked in constant time; the last key that checked out is
    remembered by its SHA-256, so scrypt (about 50 ms) is not paid on every admin request."""

    def __init__(self, settings: Settings) -> None:
        self.hash, self.plain = settings.admin_key_hash, settings.admin_key
        self._verified = b""

    @property
    def configured(self) -> bool:
        """Whether there is an admin key at all (without one the admin routes are shut)."""
        return bool(self.hash or self.plain)

    def matches(self, given: str) -> bool:
        """Whether ``given`` is the admin key."""
        if not given or not self.configured:
            return False
        digest = hashlib.sha256(given.encode("utf-8", "replace")).digest()
        if self._verified and hmac.compare_digest(self._verified, digest):
            return True
        if self.hash:
            ok = check_key(given, self.hash)
        else:
            ok = hmac.compare_digest(given.encode("utf-8", "replace"), self.plain.encode())
        if ok:
            self._verified = digest
        return ok


class Credentials:
    """Checks the keys requests carry, and refuses addresses that keep sending wrong ones."""

    def __init__(self, settings: Settings) -> None:
        self.admin = AdminKey(settings)
        self.backend = KeyChecker()
        self.failures = TokenBuckets(MAX_FAILED_CHECKS, MAX_FAILED_CHECKS)

    def client_key(self) -> ApiKey | None:
        """The backend key (or :data:`ADMIN_CLIENT`) the request carries; None without one.

        Raises :class:`Unauthorized` for any other Bearer token, :class:`RateLimited` when the
        address has failed too many checks.
        """
        token = bearer_token()
        if token is None:
            return None
        if not token:
            raise Unauthorized("send the API key as Authorization: Bearer KEY")
        with self._counting_failures():
            if not token.startswith(f"{PREFIX}_") and self.admin.matches(token):
                return ADMIN_CLIENT
            return self.backend.check(get_kb().stores.reader(), token)

    def require_admin(self) -> None:
        """Raise :class:`Unauthorized` unless the request carries the admin key."""
        if not self.admin.configured:
            raise Unauthorized("the admin API is shut: set KB_ADMIN_KEY_HASH (see kb admin-key)")
        token = bearer_token()
        if not token:
            raise Unauthorized("admin key missing or wrong (send Authorization: Bearer KEY)")
        with self._counting_failures():
            if not self.admin.matches(token):
                raise Unauthorized("admin key missing or wrong (send Authorization: Bearer KEY)")

    @contextmanager
    def _counting_failures(self) -> Iterator[None]:
        address = client_address()
        wait = self.failures.wait(address)
        if wait:
            raise RateLimited("too many wrong keys from this address: try again later", wait)
        try:
            yield
        except Unauthorized:
            self.failures.spend(address)
            raise


def credentials() -> Credentials:
    """The app's :class:`Credentials`."""
    found: Credentials = current_app.extensions["kb.credentials"]
    return found


def _buckets(group: str, per_minute: int) -> TokenBuckets:
    burst = max(10 if group == "other" else 5, per_minute / 4)
    return TokenBuckets(per_minute, min(per_minute, burst))  # a burst is never over the limit


def init_app(app: Flask) -> None:
    """Install the rate limits and the security headers."""
    settings = app.extensions["kb"].settings
    anonymous = {
        group: _buckets(
            group, settings.rate_limit if group == "other" else settings.rate_limit_answer
        )
        for group in (*GROUPS, "other")
    }
    app.extensions["kb.credentials"] = checks = Credentials(settings)
    keyed: dict[tuple[str, str, int], TokenBuckets] = {}  # (group, key id, rate): one per key

    @app.before_request
    def limit() -> None:
        if request.path.startswith(("/static/", "/healthz", "/readyz", "/metrics", "/admin/")):
            return
        group = next((n for n, paths in GROUPS.items() if request.path in paths), "other")
        key = checks.client_key()
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
        if request.path == "/admin" or request.path.startswith("/admin/"):
            h["Cache-Control"] = "no-store"  # editors' data, and POST /admin/keys shows a key
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
