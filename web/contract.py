"""The HTTP contract, declared once: the pydantic models of every request and response.

Requests are validated against these models (see :mod:`web.openapi`, which also generates the
OpenAPI document from them), and responses are built as instances of them, so what the server
sends is what the document says. Limits an operator can change (``max_query_chars``,
``max_k``, the context fields) come from :class:`kb.config.Settings`:
:func:`request_models` builds the request models of one app from its settings, so the
published document follows the settings.

Response models are named as the document's components (``Hit``, ``Answer``, ``Error``); the
domain's dataclasses of the same names live in :mod:`kb.models`. The editors' API has its own
models in :mod:`web.admin_contract`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, create_model, model_validator

from kb import models as domain
from kb.config import Settings
from kb.feedback import MAX_COMMENT, MAX_TEXT
from kb.journal import RatingEntry
from kb.satisfaction import MAX_CONVERSATION
from kb.text import snippet

# --- responses ------------------------------------------------------------------------------


class Error(BaseModel):
    """Every error, whatever the route: a message saying what is wrong, and the request id."""

    ok: Literal[False] = False
    error: str
    status: int
    request_id: str


class Hit(BaseModel):
    """A search result: the best section of one document."""

    doc_id: str
    title: str
    url: str = Field(description="Link to the section (#anchor)")
    section: str
    snippet: str
    score: float
    kind: str
    lang: str | None
    updated_at: str | None = None
    duplicates: list[str] = Field(description="Other pages with the same text, shown as this one")

    @classmethod
    def of(cls, hit: domain.Hit, url: str | None = None, updated_at: str | None = None) -> Hit:
        """Return the result for ``hit``; ``url`` replaces the passage's (made absolute)."""
        p = hit.passage
        return cls(doc_id=p.doc_id, title=p.title, url=url or p.url, section=p.section,
                   snippet=snippet(p.text, 300), score=round(hit.score, 4), kind=p.kind,
                   lang=p.lang, updated_at=updated_at, duplicates=list(hit.duplicates))  # fmt: skip


class SearchResults(BaseModel):
    """One page of search results."""

    hits: list[Hit]
    page: int
    k: int
    next_page: int | None
    index_version: str


class Citation(BaseModel):
    """A numbered reference from the answer to the passage that supports it."""

    number: int = Field(ge=1)
    doc_id: str
    doc_version: int
    title: str
    url: str
    section: str
    quote: str = Field(description="The passage text the answer relies on")
    duplicates: list[str] = Field(description="Other pages with the same text as the one cited")
    offsets: list[NonNegativeInt] = Field(
        description="Where this citation's [n] marks start in the answer text (Unicode code "
        "points); any other [n] there is the source's own text"
    )


class Escalation(BaseModel):
    """Where to take a question kb could not answer."""

    department: str | None
    confidence: float
    contact: str
    text: str = Field(
        description="Where to go next, in the question's language (or the operator's)"
    )


class Answer(BaseModel):
    """An answer with verified citations, or a refusal with the closest articles."""

    question: str
    query: str = Field(description="What was searched (follow-ups made standalone)")
    answer: str = Field(description="Text with [n] citation marks at the citations' offsets")
    citations: list[Citation]
    confidence: float = Field(ge=0, le=1)
    refused: bool
    mode: Literal["extractive", "llm"]
    fallback: str | None
    missing: list[str]
    escalation: Escalation | None
    related: list[Hit]
    conversation_id: str | None = None
    index_version: str | None = None

    @classmethod
    def of(cls, answer: domain.Answer, question: str | None = None, link: Any = None,
           **extra: Any) -> Answer:  # fmt: skip
        """Return the answer to ``question`` (default: the query searched); ``link`` makes each
        URL absolute; ``extra`` sets ``conversation_id`` and ``index_version``."""
        link = link or (lambda url: url)
        citations = [
            Citation(number=c.number, doc_id=c.doc_id, doc_version=c.doc_version, title=c.title,
                     url=link(c.url), section=c.section, quote=c.quote,
                     duplicates=list(c.duplicates), offsets=list(c.offsets))
            for c in answer.citations
        ]  # fmt: skip
        e = answer.escalation
        return cls(
            question=answer.question if question is None else question,
            query=answer.question,
            answer=answer.text,
            citations=citations,
            confidence=answer.confidence,
            refused=answer.refused,
            mode=answer.mode,  # type: ignore[arg-type]
            fallback=answer.fallback,
            missing=list(answer.missing),
            escalation=Escalation(
                department=e.department, confidence=e.confidence, contact=e.contact, text=e.text
            )
            if e
            else None,  # fmt: skip
            related=[Hit.of(h, link(h.passage.url)) for h in answer.related]
            if answer.refused
            else [],
            **extra,
        )


class Section(BaseModel):
    """A section of a document, under its anchor."""

    heading: str
    anchor: str
    text: str


class Document(BaseModel):
    """A public document with its sections."""

    id: str
    title: str
    url: str
    kind: str
    lang: str | None
    version: int
    updated_at: str | None
    sections: list[Section]


class Routed(BaseModel):
    """A predicted label and its confidence."""

    label: str
    confidence: float


class Routing(BaseModel):
    """Which queue (department) and priority a request belongs to."""

    model_config = ConfigDict(extra="allow")  # one entry per field the router was trained on
    queue: Routed | None = None
    priority: Routed | None = None
    router_version: str


class Stored(BaseModel):
    """Feedback stored, with its id."""

    ok: Literal[True] = True
    id: int


class Rating(BaseModel):
    """A satisfaction rating stored: a second rating of a conversation by the same client
    replaces the first (``replaced``), which keeps its id."""

    ok: Literal[True] = True
    id: int
    conversation_id: str
    rating: int = Field(ge=1, le=5)
    channel: Literal["page", "widget", "api"]
    comment: str | None = Field(description="As stored: redacted")
    created_at: str
    replaced: bool

    @classmethod
    def of(cls, entry: RatingEntry, replaced: bool) -> Rating:
        """Return the response for a stored rating."""
        return cls.model_validate({**entry.to_dict(), "replaced": replaced})


class Health(BaseModel):
    """Liveness, with document counts and the index version."""

    ok: Literal[True] = True
    documents: int
    chunks: int
    index_version: str | None


class Ready(BaseModel):
    """Readiness: the index version served."""

    ok: Literal[True] = True
    index_version: str


# --- requests -------------------------------------------------------------------------------

Text = Annotated[str, Field(max_length=MAX_TEXT)]
Short = Annotated[str, Field(max_length=100)]


class Body(BaseModel):
    """A JSON request body: types are not coerced ("1" is not a number); unknown fields are
    ignored."""

    model_config = ConfigDict(strict=True, extra="ignore")


class Turn(Body):
    """An earlier turn of the conversation."""

    question: str
    answer: str | None = None


class CitedPassage(Body):
    """A citation as the customer saw it."""

    doc_id: str
    number: int | None = None
    doc_version: int | None = None
    url: str | None = None


class FeedbackRequest(Body):
    """A customer's thumbs up or down on an answer (``target=answer``) or a result."""

    rating: Literal["up", "down", 1, -1]
    target: Literal["answer", "result"] = "answer"
    query: Text
    comment: Annotated[str, Field(max_length=MAX_COMMENT)] | None = None
    answer: Text | None = None
    citations: list[CitedPassage] = Field([], max_length=20)
    doc_id: Annotated[str, Field(max_length=500, description="The result rated")] | None = None
    index_version: Annotated[str, Field(max_length=40)] | None = None
    request_id: Annotated[str, Field(max_length=64)] | None = None


class RatingRequest(Body):
    """A customer's satisfaction with a conversation, 1 (very dissatisfied) to 5 (very
    satisfied), given at its end."""

    conversation_id: Annotated[
        str,
        Field(min_length=1, max_length=MAX_CONVERSATION,
              description="The conversation_id its answers were asked under"),
    ]  # fmt: skip
    rating: int = Field(ge=1, le=5)
    comment: Annotated[str, Field(max_length=MAX_COMMENT)] | None = None
    channel: Literal["page", "widget", "api"] = Field("api", description="Where it was given")


class RouteRequest(Body):
    """A customer's request to route."""

    text: str


class Query(BaseModel):
    """Query parameters: numbers arrive as text and are read as numbers."""

    model_config = ConfigDict(extra="allow")


class IdQuery(Query):
    id: str | None = Field(None, description="The document id, when a path cannot carry it")


class PageQuery(Query):
    q: str | None = Field(None, description="The question; the page shows its answer")


class SearchQuery(Query):
    """``meta.<field>=value`` keeps documents whose label field has that value."""

    q: str = Field(description="The query")
    k: int = Field(10, ge=1, description="Results a page")
    page: int = Field(1, ge=1, description="Page, from 1")
    kind: str | None = Field(None, description="Comma list of document kinds")
    lang: str | None = Field(None, description="Comma list of languages, e.g. en")


class AnswerRequest(Body):
    """A question, with the conversation so far and who is asking."""

    question: str
    history: list[Turn] = Field([], max_length=20, description="Earlier turns, oldest first")
    conversation_id: Short | None = None
    context: BaseModel | None = None
    stream: bool = Field(False, description="Answer as server-sent events")


@dataclass(frozen=True)
class RequestModels:
    """The request models of one app, with the limits of its settings."""

    search: type[SearchQuery]
    answer: type[AnswerRequest]


def request_models(settings: Settings) -> RequestModels:
    """Return the request models with ``settings``' limits, so the document states them."""
    question = Annotated[str, Field(min_length=1, max_length=settings.max_query_chars)]
    context_fields: Any = {
        name: (Short | None, None) for name in (*settings.context_keys, "locale")
    }
    context = create_model(
        "Context",
        __config__=ConfigDict(strict=True, extra="forbid"),
        __doc__="Who is asking: the user's labels (as the documents' fields) and locale.",
        **context_fields,
    )
    by_context: Any = {
        f"context_{name}": (Short | None, Field(None, alias=f"context.{name}"))
        for name in (*settings.context_keys, "locale")
    }
    max_k = settings.max_k

    class Search(SearchQuery):
        __doc__ = SearchQuery.__doc__

        @model_validator(mode="after")
        def _within_results(self) -> Search:
            if self.page * self.k > max_k * 5:
                raise ValueError(f"page must be between 1 and {max_k * 5 // self.k} for k={self.k}")
            return self

    search: Any = create_model(
        "SearchQuery",
        __base__=Search,
        q=(
            Annotated[str, Field(max_length=settings.max_query_chars)],
            Field(description="The query"),
        ),
        k=(int, Field(10, ge=1, le=max_k, description="Results a page")),
        **by_context,
    )
    answer: Any = create_model(
        "AnswerRequest",
        __base__=AnswerRequest,
        __doc__=AnswerRequest.__doc__,
        question=(question, ...),
        context=(context | None, None),
    )
    return RequestModels(search=search, answer=answer)
