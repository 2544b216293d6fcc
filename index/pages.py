"""Pages as retrieval units: which passages make a page, which pages are duplicates, and how a
page scores from all its passages. Pure functions over plain data and numpy arrays.

A *page* is what a result links to: a whole document, or one section of a document so long
that linking to it as a whole would not help (a manual on one HTML page). Passages of a page
are contiguous rows of a snapshot (rows are ordered by document, then position).

Near-duplicate pages (the same article in several modules, a print copy, a mirror without a
canonical link) form a group shown as one result: the page with the shortest address stands
for the group and lists the others.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np

from kb.dedupe import connected_groups, jaccard, similar_pairs
from kb.text import normalize, tokenize, words

LONG_PAGE_WORDS = 2000  # a document longer than this is ranked and linked section by section
DUPLICATE_TEXT_SAME_TITLE = 0.6  # word-shingle Jaccard above which two pages titled alike are one
DUPLICATE_TEXT = 0.8  # ... two pages whose titles share most words
DUPLICATE_TEXT_ALONE = 0.95  # ... and above which they are one whatever their titles
DUPLICATE_TITLE = 0.8  # title-word Jaccard for "alike titles"
_STEP = re.compile(r"^\s*\d{1,2}[.)]\s+\S", re.M)


@dataclass(frozen=True)
class PageRow:
    """What page building needs of one passage row."""

    doc_id: str
    title: str
    url: str  # the link to the passage's section
    doc_url: str  # the link to its document
    section: str
    anchor: str | None
    text: str


@dataclass(frozen=True)
class Page:
    """A retrieval unit: rows ``start``–``end`` (exclusive) of one document."""

    start: int
    end: int
    doc_id: str
    url: str
    title: str
    headings: tuple[str, ...]
    steps: bool  # it gives a numbered procedure
    section_page: bool = False  # one section of a long document, not a whole document
    group: int = -1  # the page standing for its duplicate group (itself when alone)


def has_steps(text: str) -> bool:
    """Whether ``text`` holds a numbered procedure: at least two numbered lines."""
    return len(_STEP.findall(text)) >= 2


def split_pages(rows: Sequence[PageRow], long_words: int = LONG_PAGE_WORDS) -> list[Page]:
    """Return the pages of ``rows`` (ordered by document): one per document, or one per
    section for a document over ``long_words`` words."""
    pages: list[Page] = []
    start = 0
    while start < len(rows):
        end = start
        while end < len(rows) and rows[end].doc_id == rows[start].doc_id:
            end += 1
        if sum(words(r.text) for r in rows[start:end]) > long_words:
            cut = start
            for i in range(start + 1, end + 1):
                if i == end or _section(rows[i]) != _section(rows[cut]):
                    pages.append(_page(rows, cut, i, section_page=True))
                    cut = i
        else:
            pages.append(_page(rows, start, end, section_page=False))
        start = end
    return pages


def _section(row: PageRow) -> tuple[str, str | None]:
    return row.section, row.anchor


def _page(rows: Sequence[PageRow], start: int, end: int, *, section_page: bool) -> Page:
    first = rows[start]
    headings = tuple(dict.fromkeys(r.section for r in rows[start:end] if r.section))
    return Page(
        start=start,
        end=end,
        doc_id=first.doc_id,
        url=first.url if section_page else first.doc_url,
        title=first.title,
        headings=headings,
        steps=has_steps("\n".join(r.text for r in rows[start:end])),
        section_page=section_page,
    )


def shingles(text: str, n: int = 3) -> frozenset[str]:
    """Return the word ``n``-grams of ``text`` (its words when it has fewer)."""
    tokens = normalize(text).casefold().split()
    if len(tokens) < n:
        return frozenset({" ".join(tokens)}) if tokens else frozenset()
    return frozenset(map(" ".join, zip(*(tokens[i:] for i in range(n)), strict=False)))


def duplicate_groups(pages: Sequence[Page], rows: Sequence[PageRow]) -> list[Page]:
    """Return ``pages`` with ``group`` set: near-duplicates share the page that stands for them.

    Two pages are duplicates when they have the same title (with the section's heading, for a
    section of a long document) and share most word 3-grams, when their titles share most words and
    their texts nearly all 3-grams, or when their texts are all but identical, whatever their
    titles. Sections of one document are never duplicates of each other. The page with the
    shortest address (then the first in order) stands for its group.
    """
    texts = [shingles("\n".join(r.text for r in rows[p.start : p.end])) for p in pages]
    names = [" ".join(tokenize(" ".join([p.title, *p.headings[:1]]) if p.section_page
                               else p.title)) for p in pages]  # fmt: skip
    titles = [frozenset(name.split()) for name in names]

    def alike(i: int, j: int) -> bool:
        text = jaccard(texts[i], texts[j])
        if names[i] == names[j] and names[i]:
            return text >= DUPLICATE_TEXT_SAME_TITLE
        if jaccard(titles[i], titles[j]) >= DUPLICATE_TITLE:
            return text >= DUPLICATE_TEXT
        return text >= DUPLICATE_TEXT_ALONE

    pairs = [
        (i, j)
        for i, j in similar_pairs(texts, DUPLICATE_TEXT_SAME_TITLE)
        # Sections of one document are never each other's copies, however alike.
        if pages[i].doc_id != pages[j].doc_id and alike(i, j)
    ]
    group = list(range(len(pages)))
    for members in connected_groups(len(pages), pairs):
        lead = min(members, key=lambda i: (len(urlsplit(pages[i].url).path), pages[i].url, i))
        for i in members:
            group[i] = lead
    return [Page(**{**p.__dict__, "group": g}) for p, g in zip(pages, group, strict=True)]


# Query time --------------------------------------------------------------------------------


HOW_TO = re.compile(
    r"^\s*(how\b|what are the steps|steps? (to|for)\b|(can|could) (i|you|we)\b|is there a way\b"
    r"|i (want|need|would like) to\b|where (do|can) i\b)|怎么|怎样|如何|步骤|방법|どうやって|方法",
    re.I,
)


def asks_how(question: str) -> bool:
    """Whether the question asks how to do something (so a page giving steps fits best)."""
    return HOW_TO.search(question) is not None


def group_top(scores: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return, for each distinct key, the position of its highest score, and the keys.

    Positions come back in the order of their scores, best first.
    """
    order = np.argsort(-scores, kind="stable")
    _, first = np.unique(keys[order], return_index=True)
    best = order[first]
    best = best[np.argsort(-scores[best], kind="stable")]
    return best, keys[best]
