"""Customer satisfaction (CSAT): a 1–5 rating at the end of a conversation, and its figures.

A rating belongs to a conversation (the ``conversation_id`` the answer was given under) and to
the client that gave it: a backend's API key, or no key for the page, the widget and anyone
else. A second rating of the same conversation by the same client replaces the first. The
comment is redacted with the ticket redactor before it is stored, as feedback comments are.

The figures are the usual ones: the number of ratings, their mean, and the share of 4s and 5s
("satisfied"), which is what CSAT usually means when it is quoted as a percentage.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kb.errors import InvalidInput
from kb.feedback import MAX_COMMENT
from kb.redact import redact

CHANNELS = ("page", "widget", "api")
MAX_CONVERSATION = 100  # as long as the conversation_id /answer accepts
SATISFIED = 4  # a rating of 4 or 5 is a satisfied customer


def parse_rating(raw: Any) -> dict[str, Any]:
    """Return the rating in a request body, validated and redacted; raise InvalidInput.

    ``{"conversation_id": …, "rating": 1..5, "channel"?: "page"|"widget"|"api",
    "comment"?: …}``; the channel is ``api`` unless said.
    """
    if not isinstance(raw, dict):
        raise InvalidInput("request body must be a JSON object")
    conversation = raw.get("conversation_id")
    if conversation is None or conversation == "":
        raise InvalidInput("missing field 'conversation_id'")
    if not isinstance(conversation, str) or len(conversation) > MAX_CONVERSATION:
        raise InvalidInput(
            f"conversation_id must be a string of at most {MAX_CONVERSATION} characters"
        )
    rating = raw.get("rating")
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InvalidInput("rating must be a whole number from 1 to 5")
    channel = raw.get("channel") or "api"
    if channel not in CHANNELS:
        raise InvalidInput("channel must be page, widget or api")
    comment = raw.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise InvalidInput("comment must be a string")
    if comment is not None and len(comment) > MAX_COMMENT:
        raise InvalidInput(
            f"comment is too long: {len(comment)} characters (at most {MAX_COMMENT})"
        )
    comment = comment.strip() if comment else None
    return {
        "conversation_id": conversation,
        "rating": rating,
        "channel": channel,
        "comment": redact(comment).text if comment else None,
    }


def csat(ratings: Iterable[int]) -> dict[str, Any]:
    """Return the CSAT of ``ratings`` (1 to 5 each): their count, mean and satisfied share.

    With no ratings the mean and share are None, not 0: nobody said anything.
    """
    given = list(ratings)
    if not given:
        return {"ratings": 0, "mean": None, "satisfied": None}
    return {
        "ratings": len(given),
        "mean": round(sum(given) / len(given), 2),
        "satisfied": round(sum(r >= SATISFIED for r in given) / len(given), 3),
    }
