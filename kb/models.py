"""The plain data passed between layers."""

from __future__ import annotations

from dataclasses import dataclass, field
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
    field equal to it or a list field containing it.
    """

    kinds: frozenset[str] | None = None
    langs: frozenset[str] | None = None
    meta: tuple[tuple[str, str], ...] = ()


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
