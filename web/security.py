"""Security headers on every response, and per-client rate limits on the public endpoints.

The pages have no inline script or style, so the Content-Security-Policy needs no
``unsafe-inline``. Framing is denied unless ``KB_FRAME_ANCESTORS`` names who may frame the
pages. Rate limits go through Flask-Limiter: a moving window of a minute per client and route
group (answers, routing, everything else), counted in memory (one process) or, with
``KB_REDIS_URL``, in Redis, so that N workers or replicas never give a client N times its limit.
If Redis cannot be reached, each process counts on its own until it can, and says so in its log.

The client is its backend API key when the request carries one (``Authorization: Bearer
kbk_…``, limits of its own; see :mod:`kb.keys`), else its address (the ``KB_RATE_LIMIT*``
settings). The admin key sent the same way is a client without limits. A Bearer token that is
neither, or a key that is revoked, is a 401, never silently an anonymous visitor; other
schemes (``Basic``, from a proxy in front of kb) are not kb's and are ignored. Each address may
fail :data:`MAX_FAILED_CHECKS` key checks a minute (an scrypt each); past that a request
carrying a key is a 429 before its key is checked. Limited responses say ``X-RateLimit-Limit``
(a minute) and ``X-RateLimit-Remaining``; a 429 says ``Retry-After`` (whole seconds, at least
1). Admin responses, which may hold a new key, say ``Cache-Control: no-store``.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from flask import Flask, Response, current_app, g, request
from flask_limiter import ApplicationLimit, Limiter
from limits import RateLimitItemPerMinute

from kb.config import Settings
from kb.errors import KbError, Unauthorized
from kb.keys import PREFIX, ApiKey, KeyChecker
from kb.nudges import pseudonym
from kb.secrets import check_key
from web.requests import get_kb

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


# Which requests count against which limit: answers cost far more than searches.
GROUPS = {"answer": ("/answer", "/v1/answer"), "route": ("/route", "/v1/route")}
UNLIMITED = ("/static/", "/healthz", "/readyz", "/metrics", "/admin/")  # keys checked elsewhere
FAILED_CHECKS = RateLimitItemPerMinute(MAX_FAILED_CHECKS)


def group_of(path: str) -> str:
    """The limit group of a request path: ``answer``, ``route`` or ``other``."""
    return next((name for name, paths in GROUPS.items() if path in paths), "other")


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

    def __init__(self, settings: Settings, limiter: Limiter) -> None:
        self.admin = AdminKey(settings)
        self.backend = KeyChecker()
        self.limiter = limiter  # counts failed checks where it counts requests (Redis or memory)

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
        counter = self.limiter.limiter
        if not counter.test(FAILED_CHECKS, "failed-key-checks", address):
            reset = counter.get_window_stats(FAILED_CHECKS, "failed-key-checks", address)[0]
            raise RateLimited("too many wrong keys from this address: try again later",
                              reset - time.time())  # fmt: skip
        try:
            yield
        except Unauthorized:
            counter.hit(FAILED_CHECKS, "failed-key-checks", address)
            raise


def credentials() -> Credentials:
    """The app's :class:`Credentials`."""
    found: Credentials = current_app.extensions["kb.credentials"]
    return found


def client_name() -> str:
    """Who a vote comes from: the backend API key's id, or for a visitor a monthly pseudonym
    of the address (:func:`kb.nudges.pseudonym`; the address itself is not stored)."""
    key_id = client_key_id()
    if key_id:
        return key_id
    secret = current_app.extensions.get("kb.visitor_secret")
    if secret is None:
        secret = get_kb().stores.writer().secret("visitor")
        current_app.extensions["kb.visitor_secret"] = secret
    return pseudonym(secret, client_address(), datetime.now(UTC))


def client_key_id() -> str:
    """The id of the backend API key the request carries (``admin`` for the admin key); ""
    for a visitor, who is known only by an address kb does not store."""
    key: ApiKey | None = g.get("client")
    return key.key_id if key is not None else ""


def _rate(settings: Settings, group: str) -> int:
    """The current client's limit a minute in ``group`` (0: none): its key's, or the address's."""
    key: ApiKey | None = g.get("client")
    if key is None:
        return settings.rate_limit if group == "other" else settings.rate_limit_answer
    return key.searches_per_minute if group == "other" else key.answers_per_minute


def _client() -> str:
    """Whom a limit counts: the backend key the request carries, else the client's address."""
    key: ApiKey | None = g.get("client")
    return f"key {key.key_id}" if key is not None else f"address {client_address()}"


def limiter_for(settings: Settings) -> Limiter:
    """A Flask-Limiter with one shared limit a minute per group, for the current client."""

    def limit(group: str) -> ApplicationLimit:
        return ApplicationLimit(
            limit_provider=lambda: f"{_rate(settings, group)}/minute",
            key_function=_client,
            scope=f"kb-{group}",
            exempt_when=lambda: group_of(request.path) != group or _rate(settings, group) <= 0,
        )

    limiter = Limiter(
        key_func=_client,
        application_limits=[limit(group) for group in (*GROUPS, "other")],
        storage_uri=settings.redis_url or "memory://",
        strategy="moving-window",
        headers_enabled=False,  # kb says its own (see init_app): Retry-After on a 429 only
        in_memory_fallback_enabled=True,
        swallow_errors=True,
        key_prefix="kb",
    )
    limiter.request_filter(lambda: request.path.startswith(UNLIMITED))
    return limiter


def init_app(app: Flask) -> None:
    """Install the rate limits and the security headers."""
    settings = app.extensions["kb"].settings
    limiter = limiter_for(settings)
    app.extensions["kb.credentials"] = checks = Credentials(settings, limiter)

    @app.before_request
    def identify() -> None:  # before the limiter's check, which counts this client
        if not request.path.startswith(UNLIMITED):
            g.client = checks.client_key()

    limiter.init_app(app)

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
        current = limiter.current_limit
        if current is not None:
            h["X-RateLimit-Limit"] = str(current.limit.amount)
            h["X-RateLimit-Remaining"] = str(current.remaining)
            if response.status_code == 429:
                h["Retry-After"] = str(max(1, math.ceil(current.reset_at - time.time())))
        h.setdefault("Content-Security-Policy", policy)
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if frame_ancestors == "'none'":
            h.setdefault("X-Frame-Options", "DENY")
        return response
