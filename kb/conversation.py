"""Follow-up questions made standalone for retrieval, by rule. Pure.

"And on the web?" means nothing to a search index; after "How do I reset my password?" it
means "How do I reset my password? And on the web?". A question is read as a follow-up when it
is short, opens like one, or leans on a pronoun; then the previous question goes in front of it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from kb.text import tokenize

MAX_TURNS = 3  # prior turns that count; older ones are dropped
_OPENERS = re.compile(
    r"^(and|also|but|or|what about|how about|what if|same for|and if|in that case|then|so)\b",
    re.I,
)
_PRONOUNS = re.compile(r"\b(it|its|that|this|those|these|they|them|there|one|ones)\b", re.I)
_CONTENT = re.compile(r"[^\W\d_]{4,}", re.UNICODE)


def is_follow_up(question: str) -> bool:
    """Return whether ``question`` needs the previous turn to make sense."""
    text = question.strip()
    content_words = [w for w in _CONTENT.findall(text) if not _PRONOUNS.fullmatch(w)]
    return (
        bool(_OPENERS.match(text))
        or len(content_words) <= 1
        or (bool(_PRONOUNS.search(text)) and len(content_words) <= 4)
    )


def standalone(question: str, history: Sequence[str]) -> str:
    """Return the query to retrieve with: the question, with its context if it is a follow-up."""
    previous = [q.strip() for q in history[-MAX_TURNS:] if q.strip()]
    if not previous or not is_follow_up(question):
        return question
    return f"{previous[-1]} {question}"


def faithful(rewrite: str, question: str, history: Sequence[str]) -> bool:
    """Whether a model's rewrite of a follow-up keeps to the conversation.

    At least half of its content words must come from the question or the earlier turns: a
    rewrite that drifts to another topic would retrieve for a question nobody asked.
    """
    words = set(tokenize(rewrite))
    said = set(tokenize(" ".join([*history, question])))
    return bool(words) and len(words & said) >= len(words) / 2
