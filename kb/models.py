"""The plain data passed between layers."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Section:
    """A part of a document under one heading; ``anchor`` is the heading's id, if any."""

    heading: str
    text: str
    anchor: str | None = None
    level: int = 2


@dataclass(frozen=True)
class Document:
    """A source document, split into sections, before it is stored."""

    id: str
    title: str
    sections: tuple[Section, ...]
    source: str
    url: str | None = None
    kind: str = "article"
    lang: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    """A passage of a document small enough to embed; it never crosses a section."""

    doc_id: str
    ordinal: int
    section: str
    anchor: str | None
    text: str


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with what a citation needs."""

    chunk_id: int
    doc_id: str
    doc_version: int
    title: str
    url: str
    section: str
    text: str
    kind: str
    lang: str | None


@dataclass(frozen=True)
class Filter:
    """What retrieval may return: document kinds, languages, and metadata values (all must hold).

    Languages match by primary subtag (``en`` matches ``en-US``); a metadata value matches a
    field equal to it or a list field containing it. ``context`` pairs are a user's context
    (product, plan): a passage passes when its field matches or when it has no such field, so
    general articles stay in while another product's articles go.
    """

    kinds: frozenset[str] | None = None
    langs: frozenset[str] | None = None
    meta: tuple[tuple[str, str], ...] = ()
    context: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Escalation:
    """Where to take a question kb could not answer: a department (or None) and a contact."""

    department: str | None
    confidence: float
    contact: str
    text: str = ""  # what to tell the customer: the operator's, or kb's in the question's language


@dataclass(frozen=True)
class UserContext:
    """Who is asking: labels such as product and plan, and a locale such as ``fr-CA``.

    Labels narrow retrieval to articles for the user's product or plan and general ones (see
    ``Filter.context``) and rank the user's own first; the locale ranks articles in the user's
    language first without hiding the others.
    """

    labels: tuple[tuple[str, str], ...] = ()
    locale: str | None = None

    def narrow(self, where: Filter) -> Filter:
        """Return ``where`` narrowed to the user's labels."""
        return replace(where, context=where.context + self.labels)

    def preferences(self) -> tuple[Filter, ...]:
        """Filters for what ranks first: each label, and the locale's language."""
        prefer = tuple(Filter(meta=(pair,)) for pair in self.labels)
        return prefer + ((Filter(langs=frozenset({self.locale})),) if self.locale else ())


@dataclass(frozen=True)
class Evidence:
    """What a page's rank rests on, as the confidence model reads it (see kb/confidence.py)."""

    coverage: float  # idf-weighted share of the query's words found in the page
    title: float  # ... found in its title and headings
    dense_first: bool  # the page holds dense retrieval's best passage
    lexical_first: bool  # ... lexical retrieval's best passage


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with its fused score and the two scores it came from.

    ``dense`` is cosine similarity above chance for the model (0 = unrelated, 1 = identical);
    ``lexical`` is BM25 over the query's ceiling.
    """

    passage: Passage
    score: float
    dense: float
    lexical: float
    duplicates: tuple[str, ...] = ()  # URLs of pages with the same text, shown as this one
    support: tuple[Passage, ...] = ()  # the page's retrieved passages in reading order
    evidence: Evidence | None = None  # for a page: what its rank rests on


@dataclass(frozen=True)
class Citation:
    """A numbered reference from an answer to the passage that supports it."""

    number: int
    doc_id: str
    doc_version: int
    title: str
    url: str
    section: str
    quote: str
    duplicates: tuple[str, ...] = ()  # URLs of pages with the same text as the one cited
    # Where this citation's "[n]" marks start in the answer text (Unicode code point offsets);
    # any other "[n]" there is the source's own text ("press [2]"), not a citation.
    offsets: tuple[int, ...] = ()


@dataclass(frozen=True)
class Answer:
    """An answer with its citations, or a refusal with the closest articles."""

    question: str
    text: str
    citations: tuple[Citation, ...]
    confidence: float
    refused: bool
    mode: str
    related: tuple[Hit, ...] = ()
    fallback: str | None = None  # why the language model was not used, when it failed
    missing: tuple[str, ...] = ()  # names in the question the knowledge base never mentions
    escalation: Escalation | None = None  # on a refusal: the department to contact
