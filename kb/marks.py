"""Citation marks told apart from text that only looks like one. Pure.

Help pages have bracketed numbers of their own: a phone menu's "press [2]", a footnote's
"[1]", an option list's "[3] Exit". Between generation and verification kb keeps the two
apart the way Markdown does, by escaping: the source's own ``[2]`` travels as ``\\[2\\]``
(as in CommonMark, a backslash makes a bracket literal), so every bare ``[n]`` is a citation.
The extractive composer escapes what it quotes; the language model is given escaped passages
and asked to copy them as written, and a bare ``[n]`` it copies anyway is recognised by the
words around it (:func:`escape_copies`). The final answer carries its text with the source's
brackets as written and, like the citation spans of Cohere's and Anthropic's APIs, the
position of every citation mark (:func:`resolve`), so a client never has to guess.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# A citation mark: a bracketed number that no backslash makes literal.
MARK = re.compile(r"(?<!\\)\[(\d{1,3})\]")
_LITERAL = re.compile(r"\\\[(\d{1,3})\\?\]")  # the source's own "[2]", escaped
_NUMBER = re.compile(r"\[(\d{1,3})\]")
# Read left to right: an escaped backslash, an escaped bracket, or a mark.
_TOKEN = re.compile(rf"(\\\\)|{_LITERAL.pattern}|{_NUMBER.pattern}")
_BEFORE = re.compile(r"(\w*)\s*$")
_AFTER = re.compile(r"^\s*(\w*)")
_CONTEXT = 8  # characters of the neighbouring words compared (CJK words run long)


def escape(text: str) -> str:
    """Return source ``text`` with its own ``[n]`` written ``\\[n\\]``, so none reads as a mark.

    Its backslashes are doubled first, as in CommonMark, so a source's own ``\\[2\\]`` (a
    ``grep`` pattern, a Windows path) comes back from :func:`resolve` as written.
    """
    return _NUMBER.sub(r"\\[\1\\]", text.replace("\\", "\\\\"))


def resolve(text: str) -> tuple[str, list[tuple[int, int]]]:
    """Return ``text`` with escaped source brackets written plainly, and its marks.

    The marks are (offset, n) pairs: ``[n]`` starts at character ``offset`` (a Unicode code
    point index) of the returned text. Any other ``[n]`` in that text is the source's own.
    """
    out: list[str] = []
    marks: list[tuple[int, int]] = []
    size = pos = 0
    for m in _TOKEN.finditer(text):
        out.append(text[pos : m.start()])
        size += m.start() - pos
        backslash, literal, number = m.group(1), m.group(2), m.group(3)
        if number is not None:
            marks.append((size, int(number)))
        piece = "\\" if backslash else f"[{literal or number}]"
        out.append(piece)
        size += len(piece)
        pos = m.end()
    out.append(text[pos:])
    return "".join(out), marks


def escape_copies(text: str, sources: Sequence[str]) -> str:
    """Return a model's ``text`` with the ``[n]`` it copied from ``sources`` escaped.

    A bare ``[n]`` is a copy, not a citation, when a source has ``[n]`` between the same two
    words ("press [2] to"); a citation stands where the source has none. Escaped marks are
    left as they are.
    """
    seen = [_around(s, m) for s in sources for m in MARK.finditer(s)]
    if not seen:
        return text

    def mark(m: re.Match[str]) -> str:
        left, number, right = _around(text, m)
        copied = any(
            n == number and _same(left[::-1], before[::-1]) and _same(right, after)
            for before, n, after in seen
        )
        return rf"\[{number}\]" if copied else m.group(0)

    return MARK.sub(mark, text)


def _around(text: str, m: re.Match[str]) -> tuple[str, str, str]:
    """The word before a bracketed number, the number, and the word after, case-folded."""
    before = _BEFORE.search(text, 0, m.start())
    after = _AFTER.match(text[m.end() :])
    left = before.group(1)[-_CONTEXT:] if before else ""
    right = after.group(1)[:_CONTEXT] if after else ""
    return left.casefold(), m.group(1), right.casefold()


def _same(a: str, b: str) -> bool:
    """Whether two neighbouring words agree: both absent, or one begins the other.

    Chinese is written without spaces, so a "word" is the run up to the bracket: "请按" and
    "按" agree on the character next to it.
    """
    return a == b or bool(a and b and (a.startswith(b) or b.startswith(a)))
