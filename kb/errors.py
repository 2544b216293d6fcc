"""Errors meant for users: one base class carrying an HTTP status and a safe message.

    KbError (400)
    ├── ConfigError        (500: the server is misconfigured; CLI exit 2)
    ├── InvalidInput       (400)
    ├── Unauthorized       (401: no admin key or the wrong one; an unknown or revoked API key)
    ├── NotFound           (404)
    ├── SourceError        (400: a path, file or URL that cannot be ingested)
    └── NotReady           (503: no index yet)

Anything else that escapes is a bug: the web layer logs it with the request id and returns a
generic 500; the CLI prints one line and exits 1.
"""

from __future__ import annotations


class KbError(Exception):
    """An error whose message is safe to show to the user."""

    status = 400

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class ConfigError(KbError):
    status = 500


class InvalidInput(KbError):
    status = 400


class Unauthorized(KbError):
    status = 401


class NotFound(KbError):
    status = 404


class SourceError(KbError):
    status = 400


class NotReady(KbError):
    status = 503
