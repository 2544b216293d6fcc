"""Every text a request carries is valid Unicode, checked once before any route reads it.

A JSON string may hold a lone UTF-16 surrogate (``"\\ud800"``: a JavaScript client cut a
string inside an emoji), a query string or form body may hold percent-escapes that are not
UTF-8 (``%ED%A0%80``), and any of them may hold NUL characters. None of these can be
embedded, tokenised or stored as text, so the request is refused with a 400 naming the field
(``question must be valid Unicode text``) instead of failing deep inside a route.

Headers need no check here: WSGI gives them as Latin-1, which has no surrogates, and the
server refuses NULs in them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Flask, request

from kb.errors import InvalidInput

FORM = "application/x-www-form-urlencoded"


def usable(text: str) -> bool:
    """Whether ``text`` can be encoded as UTF-8 and holds no NUL character."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _refuse(where: str) -> InvalidInput:
    return InvalidInput(f"{where} must be valid Unicode text (no lone surrogates or NULs)")


def check_json(value: Any, where: str = "request body") -> None:
    """Raise :class:`InvalidInput` naming the first string in ``value`` that is not usable.

    ``where`` names ``value``; nested fields are named like ``history[0].question``.
    """
    if isinstance(value, str):
        if not usable(value):
            raise _refuse(where)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not usable(key):
                raise _refuse(f"a field name in {where}")
            check_json(item, key if where == "request body" else f"{where}.{key}")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            check_json(item, f"{where}[{n}]")


def check_urlencoded(raw: bytes) -> None:
    """Raise :class:`InvalidInput` naming the first ``name=value`` pair that is not UTF-8 text."""
    for pair in raw.split(b"&"):
        name, _, value = pair.partition(b"=")
        label = unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8", "replace")
        for part in (name, value):
            try:
                text = unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError:
                raise _refuse(_printable(label)) from None
            if "\x00" in text:
                raise _refuse(_printable(label))


def _printable(label: str) -> str:
    label = "".join(c if c.isprintable() and c != "\ufffd" else "?" for c in label[:40])
    return label or "a parameter"


def check_request() -> None:
    """Refuse the current request if its path, query string or body holds unusable text."""
    try:
        path = request.environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        path = "\x00"
    if "\x00" in path:
        raise _refuse("the path")
    check_urlencoded(request.query_string)
    if request.mimetype == FORM:
        check_urlencoded(request.get_data(cache=True))
    elif request.mimetype == "multipart/form-data":
        for name, value in request.form.items(multi=True):
            if not usable(value):
                raise _refuse(_printable(name))
    elif request.content_length or request.headers.get("Transfer-Encoding"):
        check_json(request.get_json(force=True, silent=True))


def init_app(app: Flask) -> None:
    """Check every request's text before any route reads it (after the rate limits count it)."""
    app.before_request(check_request)
