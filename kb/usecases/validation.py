"""Checks on what callers hand the use cases: queries, user context, filters.

Each raises :class:`kb.errors.InvalidInput` with a message that names the problem; the CLI
prints it as one line and the API returns it as a 400 in the one error shape.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from kb.errors import InvalidInput
from kb.models import Filter, UserContext
from kb.text import normalize


def clean_query(text: Any, max_chars: int, name: str = "query") -> str:
    """Return the normalised query, or raise :class:`InvalidInput` saying what is wrong."""
    if not isinstance(text, str):
        raise InvalidInput(f"{name} must be a string")
    if len(text) > max_chars:
        raise InvalidInput(f"{name} is too long: {len(text)} characters (at most {max_chars})")
    text = normalize(text)
    if not text:
        raise InvalidInput(f"{name} is empty")
    return text


FIELD_NAME = re.compile(r"^[A-Za-z0-9_]{1,40}$")
LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8}){0,3}$")


def user_context(raw: Any, fields: Sequence[str]) -> UserContext:
    """Return the user context in ``raw`` ({"product": …, "plan": …, "locale": …}).

    Raise :class:`InvalidInput` naming the problem: not an object, a field that is not one of
    ``fields`` or ``locale``, a value that is not a short string, a malformed locale.
    """
    if raw is None:
        return UserContext()
    if not isinstance(raw, dict):
        raise InvalidInput('context must be an object such as {"product": "hub"}')
    labels = []
    for key, value in raw.items():
        if key not in (*fields, "locale"):
            allowed = ", ".join((*fields, "locale"))
            raise InvalidInput(f"context field {str(key)[:40]!r} is not one of: {allowed}")
        if value is None or value == "":
            continue
        if not isinstance(value, str) or len(value) > 100:
            raise InvalidInput(f"context {key} must be a string of at most 100 characters")
        if key == "locale":
            if not LOCALE.match(value):
                raise InvalidInput(f"context locale {value[:40]!r} is not a tag like fr-CA")
        else:
            labels.append((key, value.strip()))
    locale = raw.get("locale") or None
    return UserContext(labels=tuple(sorted(labels)), locale=locale)


def check_filter(where: Filter) -> None:
    """Raise :class:`InvalidInput` unless the filter is small and well formed."""
    if len(where.meta) > 5 or len(where.kinds or ()) + len(where.langs or ()) > 20:
        raise InvalidInput("too many filter values (at most 5 metadata fields, 20 kinds/languages)")
    for field, value in where.meta:
        if not FIELD_NAME.match(field):
            raise InvalidInput(f"bad metadata field name {field[:40]!r}")
        if len(value) > 200:
            raise InvalidInput(f"metadata value for {field} is too long (at most 200 characters)")
    for value in (*(where.kinds or ()), *(where.langs or ())):
        if len(value) > 40:
            raise InvalidInput("kind and lang values are at most 40 characters")
