"""Backend API keys: a chatbot's server calls the API as itself, with its own rate limits.

All of a backend's calls come from one address, so the per-address limits meant for page
visitors would cap a whole chatbot. A key is sent as ``Authorization: Bearer kbk_<id>_<secret>``:
the id finds its row in the store, the whole key is checked against a salted scrypt hash (made
like the admin key's, :mod:`kb.secrets`). The key itself is shown once, when it is made, and
never stored. Revoking takes effect on the next request, in every server process.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from kb.errors import InvalidInput, NotFound, Unauthorized
from kb.journal import Journal
from kb.secrets import check_key, hash_key

PREFIX = "kbk"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_RATE = 1_000_000  # a minute; 0 means no limit


@dataclass(frozen=True)
class ApiKey:
    """A backend key as stored: its name, limits a minute (0: none) and whether it is revoked."""

    name: str
    key_id: str
    answers_per_minute: int
    searches_per_minute: int
    created_at: str
    revoked_at: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ApiKey:
        """Return the key in a store row."""
        return cls(**{f: row[f] for f in cls.__dataclass_fields__})

    def to_dict(self) -> dict[str, Any]:
        """Return the key's public fields as JSON-ready data (the secret is never here)."""
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


def _rate(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RATE:
        raise InvalidInput(f"{name} must be a whole number from 0 (no limit) to {MAX_RATE}")
    return value


def create_key(
    store: Journal, name: Any, answers_per_minute: Any, searches_per_minute: Any
) -> tuple[str, ApiKey]:
    """Make, hash and store a new key; return the key (shown once) and its stored record.

    Raises :class:`InvalidInput` for a bad name or limit, or a name a live key already has.
    """
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InvalidInput("name must be 1 to 64 letters, digits, '.', '_' or '-'")
    key_id = secrets.token_hex(8)
    row = {
        "name": name,
        "key_id": key_id,
        "answers_per_minute": _rate(answers_per_minute, "answers_per_minute"),
        "searches_per_minute": _rate(searches_per_minute, "searches_per_minute"),
    }
    key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    if not store.add_api_key({**row, "key_hash": hash_key(key)}):
        raise InvalidInput(f"a live key is already called {name!r}: revoke it or pick another")
    stored = store.api_key(key_id)
    assert stored is not None
    return key, ApiKey.from_row(stored)


def list_keys(store: Journal) -> list[ApiKey]:
    """Return every key, live ones first."""
    return [ApiKey.from_row(row) for row in store.api_keys()]


def revoke_key(store: Journal, name: str) -> None:
    """Revoke the live key called ``name``; raise :class:`NotFound` if there is none."""
    if not store.revoke_api_key(name):
        raise NotFound(f"no live API key called {name[:64]!r}")


class KeyChecker:
    """Checks presented keys against the store; remembers which it has verified.

    scrypt costs about 50 ms, too much for every request of a busy backend, so once a key has
    checked out its SHA-256 is kept (in this process) and compared instead. The row is still
    read on every request, so revocation takes effect at once.
    """

    def __init__(self) -> None:
        self._verified: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def check(self, store: Journal, given: str) -> ApiKey:
        """Return the live key ``given`` is; raise :class:`Unauthorized` otherwise."""
        scheme, _, rest = given.partition("_")
        key_id = rest.partition("_")[0]
        row = store.api_key(key_id) if scheme == PREFIX and key_id else None
        if row is None or row["revoked_at"] is not None:
            raise Unauthorized("API key unknown or revoked")
        digest = hashlib.sha256(given.encode("utf-8", "replace")).digest()
        with self._lock:
            known = self._verified.get(key_id)
        if known is None or not hmac.compare_digest(known, digest):
            if not check_key(given, row["key_hash"]):
                raise Unauthorized("API key unknown or revoked")
            with self._lock:
                self._verified[key_id] = digest
        return ApiKey.from_row(row)
