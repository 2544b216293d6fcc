""" "Was this helpful?": validating a customer's rating of an answer or a result.

Feedback is stored with what it was about (the query, the answer, its citations, the index
version) so editors can tell a bad answer from a stale index. Free text is redacted with the
ticket redactor before it is stored: customers type e-mail addresses and card numbers into
comment boxes.
"""

from __future__ import annotations

from typing import Any

from kb.errors import InvalidInput
from kb.redact import redact

MAX_COMMENT = 2000
MAX_TEXT = 10_000
RATINGS = {"up": 1, "down": -1, 1: 1, -1: -1}


def _text(raw: dict[str, Any], name: str, limit: int, required: bool = False) -> str | None:
    value = raw.get(name)
    if value is None or value == "":
        if required:
            raise InvalidInput(f"missing field {name!r}")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string")
    if len(value) > limit:
        raise InvalidInput(f"{name} is too long: {len(value)} characters (at most {limit})")
    return value.strip() or None


def parse_feedback(raw: Any) -> dict[str, Any]:
    """Return the feedback in a request body, validated and redacted; raise InvalidInput.

    ``{"rating": "up"|"down", "query": …, "target": "answer"|"result", "comment"?: …,
    "answer"?: …, "citations"?: [{"doc_id", "doc_version"?, "url"?}], "doc_id"?: …,
    "index_version"?: …, "request_id"?: …}``; a result's feedback names its ``doc_id``.
    """
    if not isinstance(raw, dict):
        raise InvalidInput("request body must be a JSON object")
    rating = raw.get("rating")
    if isinstance(rating, bool) or rating not in RATINGS:
        raise InvalidInput("rating must be 'up' or 'down'")
    target = raw.get("target", "answer")
    if target not in ("answer", "result"):
        raise InvalidInput("target must be 'answer' or 'result'")
    query = _text(raw, "query", MAX_TEXT, required=True)
    doc_id = _text(raw, "doc_id", 500)
    if target == "result" and doc_id is None:
        raise InvalidInput("feedback on a result needs its doc_id")
    citations = raw.get("citations", [])
    if not isinstance(citations, list) or len(citations) > 20:
        raise InvalidInput("citations must be a list of at most 20 objects")
    kept = []
    for c in citations:
        if not isinstance(c, dict) or not isinstance(c.get("doc_id"), str):
            raise InvalidInput("each citation must be an object with a 'doc_id' string")
        kept.append({k: c[k] for k in ("number", "doc_id", "doc_version", "url") if k in c})
    comment = _text(raw, "comment", MAX_COMMENT)
    answer = _text(raw, "answer", MAX_TEXT)
    return {
        "target": target,
        "rating": RATINGS[rating],
        "query": redact(query or "").text,
        "comment": redact(comment).text if comment else None,
        "answer": answer,
        "citations": kept,
        "doc_id": doc_id,
        "index_version": _text(raw, "index_version", 40),
        "request_id": _text(raw, "request_id", 64),
    }
