"""Lines a site repeats on many of its pages: navigation, footers, collapsed-section labels.

Extraction keeps a page's main content, but real help centres put chrome inside it that no
page-level rule can tell from text: every page of the Debian Administrator's Handbook ends with
"Prev / Up / Home / Next / Download the ebook", every GIMP manual page with "Report a bug in
GIMP", and a thousand pages of a translated help centre carry the same untranslated label
("若要使用此指令..."). A passage made of nothing but such lines (a page's navigation chunk)
answers no question, yet it matches every question that shares a word with it.

A line is boilerplate when it stands in many documents of the knowledge base; the test is
the template detection of Bar-Yossef and Rajagopalan ("Template detection via data mining and
its applications", WWW 2002) at the granularity of lines. A passage made only of boilerplate
is never retrieved; it stays in the store and in the article view. Removing the lines from
passages that also hold content was measured too (on three English and three Chinese help
centres) and left out: it helped one, hurt another and changed nothing on the rest.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

SHARE = 0.05  # a line in at least this share of the documents is boilerplate …
MIN_DOCUMENTS = 10  # … and in at least this many, so a small knowledge base keeps its text


def line_key(line: str) -> str:
    """Return a line as it is compared: spacing collapsed, case folded."""
    return " ".join(line.split()).casefold()


def boilerplate_lines(
    texts: Iterable[tuple[str, str]], *, share: float = SHARE, min_documents: int = MIN_DOCUMENTS
) -> frozenset[str]:
    """Return the keys (see :func:`line_key`) of the lines repeated across documents.

    ``texts`` are (document id, passage text) pairs, several per document. A line counts once
    per document however often it repeats there; it is boilerplate when it stands in at least
    ``max(min_documents, share × documents)`` documents.
    """
    documents_with: dict[str, set[str]] = defaultdict(set)
    documents: set[str] = set()
    for doc_id, text in texts:
        documents.add(doc_id)
        for line in text.splitlines():
            if key := line_key(line):
                documents_with[key].add(doc_id)
    needed = max(min_documents, share * len(documents))
    return frozenset(key for key, docs in documents_with.items() if len(docs) >= needed)


def only_boilerplate(text: str, lines: frozenset[str]) -> bool:
    """Whether every line of ``text`` with any text on it is one of the ``lines``."""
    keys = [key for line in text.splitlines() if (key := line_key(line))]
    return bool(lines) and bool(keys) and all(key in lines for key in keys)
