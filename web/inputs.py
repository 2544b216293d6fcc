"""Every text a request carries is valid Unicode, checked once before any route reads it.

A JSON string may hold a lone UTF-16 surrogate (``"\\ud800"``: a JavaScript client cut a
string inside an emoji), a query string or form body may hold percent-escapes that are not
UTF-8 (``%ED%A0%80``), and any of them may hold NUL characters. None of these can be
embedded, tokenised or stored as text, so the request is refused with a 400 naming the field
(``question must be valid Unicode text``) instead of failing deep inside a route.

A JSON body may also be nested deeper than any route needs: ``[[[[…`` a thousand deep (2 KB)
overflows the parser's recursion. Every JSON body is measured before it is parsed, whatever its
content type and whichever code parses it (the app's JSON provider does it), and more than
:data:`MAX_JSON_DEPTH` levels is a 400 (``the JSON body is nested too deeply``).

Headers need no check here: WSGI gives them as Latin-1, which has no surrogates, and the
server refuses NULs in them.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Flask, request
from flask.json.provider import DefaultJSONProvider

from kb.errors import InvalidInput

FORM = "application/x-www-form-urlencoded"
MAX_JSON_DEPTH = 32  # arrays and objects inside one another; no route's body needs more than 4
# A JSON string (escapes and all, or unterminated to the end), or a bracket outside strings.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)


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


def json_depth(text: str) -> int:
    """Return how deeply arrays and objects nest in the JSON ``text`` (0 for a scalar).

    Counted without parsing (so without recursion) and without looking inside strings; stray
    closing brackets are left for the parser to refuse.
    """
    depth = deepest = 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth = max(0, depth - 1)
    return deepest


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing a document nested more than :data:`MAX_JSON_DEPTH` levels."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse ``s``; raise :class:`InvalidInput` before parsing if it nests too deeply."""
        if isinstance(s, (bytes, bytearray)):
            s = s.decode(json.detect_encoding(s), "surrogatepass")  # as json.loads does
        if json_depth(s) > MAX_JSON_DEPTH:
            raise InvalidInput(
                f"the JSON body is nested too deeply (at most {MAX_JSON_DEPTH} levels)"
            )
        return super().loads(s, **kwargs)


def check_json(value: Any, where: str = "request body") -> None:
    """Raise :class:`InvalidInput` naming the first string in ``value`` that is not usable.

    ``where`` names ``value``; nested fields are named like ``history[0].question``. The walk
    keeps its own stack, so no depth of nesting can exhaust Python's.
    """
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        item, at = stack.pop()
        if isinstance(item, str):
            if not usable(item):
                raise _refuse(at)
        elif isinstance(item, dict):
            named: list[tuple[Any, str]] = []
            for key, field in item.items():  # a key is a string named as the field names
                named += [(key, f"a field name in {at}"),
                          (field, key if at == "request body" else f"{at}.{key}")]  # fmt: skip
            stack.extend(reversed(named))  # popped in order: the first bad one is named
        elif isinstance(item, list):
            stack.extend(reversed([(v, f"{at}[{n}]") for n, v in enumerate(item)]))


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
