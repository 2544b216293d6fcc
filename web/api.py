"""The JSON API: /search, /answer, /feedback, /ratings, /documents/<id>, /healthz, /readyz.

The blueprint is served at ``/v1/…`` (the contract chatbot backends pin) and, as an alias of
the latest version, at the bare paths. Every response says its version in ``KB-API-Version``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

from flask import Blueprint, Response, request, stream_with_context

from kb import models as domain
from kb.errors import NotFound
from kb.links import article_path
from kb.models import Filter, UserContext
from kb.text import slugify
from kb.timing import stage
from kb.usecases.validation import user_context
from web.contract import (
    Answer,
    AnswerRequest,
    Document,
    FeedbackRequest,
    Health,
    Hit,
    IdQuery,
    Rating,
    RatingRequest,
    Ready,
    RouteRequest,
    Routing,
    SearchQuery,
    SearchResults,
    Section,
    Stored,
)
from web.openapi import ERRORS, Contract, Reply
from web.requests import get_kb, requested_id
from web.security import client_key_id, client_name
from web.versions import API_VERSION

API_ERRORS = (401, 429)  # any route: a bad backend key, a client over its limit
BODY_ERRORS = (*API_ERRORS, 413)
# The events of a streamed answer (Accept: text/event-stream or "stream": true).
EVENTS = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"enum": ["delta", "reset", "done"]},
        "data": {"type": "string",
                 "description": "JSON: delta {text}, reset {reason}, done the Answer"},
    },
}  # fmt: skip


def parsed(part: str) -> Any:
    """Return the request's validated ``query``, ``json`` or ``form`` (see web.openapi)."""
    return getattr(request.context, part)  # type: ignore[attr-defined]


def api_headers(response: Response) -> Response:
    """Say the API version, and let the allowed origins' pages call the API (the widget)."""
    response.headers["KB-API-Version"] = str(API_VERSION)
    allowed = {o.strip() for o in get_kb().settings.cors_origins.split(",") if o.strip()}
    origin = request.headers.get("Origin")
    if origin and ("*" in allowed or origin in allowed):
        response.headers["Access-Control-Allow-Origin"] = "*" if "*" in allowed else origin
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type, Accept, X-Request-Id"
        response.headers["Access-Control-Expose-Headers"] = (
            "X-Request-Id, KB-API-Version, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining"
        )
        response.headers["Access-Control-Max-Age"] = "600"
    response.vary.add("Origin")
    return response


def absolute(url: str) -> str:
    """Return ``url`` made absolute against this server when it is one of kb's own pages."""
    return request.host_url.rstrip("/") + url if url.startswith("/") else url


def filter_from_args() -> Filter | None:
    """Return the filter in ``kind``, ``lang`` (comma lists) and ``meta.<field>`` parameters."""

    def listed(name: str) -> frozenset[str] | None:
        raw = request.args.get(name, "")
        values = frozenset(v.strip() for v in raw.split(",") if v.strip())
        return values or None

    meta = []
    for key, value in request.args.items(multi=True):
        if key.startswith("meta."):
            meta.append((key[5:], value))
    kinds, langs = listed("kind"), listed("lang")
    if kinds is None and langs is None and not meta:
        return None
    return Filter(kinds=kinds, langs=langs, meta=tuple(sorted(meta)))


def context_from_args(fields: tuple[str, ...]) -> UserContext:
    """Return the user context in ``context.<field>`` parameters (``context.locale=fr``)."""
    raw = {k[8:]: v for k, v in request.args.items() if k.startswith("context.")}
    return user_context(raw or None, fields)


def blueprint(contract: Contract) -> Blueprint:
    """Return the API's blueprint, its operations declared with ``contract``'s models."""
    bp = Blueprint("api", __name__)
    bp.after_request(api_headers)
    models = contract.models

    @bp.get("/search")
    @contract.operation(query=models.search, ok=SearchResults, errors=(400, *API_ERRORS, 503))
    def search() -> Reply:
        """Search the help centre: the best section of each best document, a page at a time."""
        kb, query = get_kb(), cast(SearchQuery, parsed("query"))
        searcher = kb.retrieval.searcher()
        hits = kb.retrieval.rank_page(
            query.q,
            k=query.k,
            page=query.page,
            where=filter_from_args(),
            searcher=searcher,
            context=context_from_args(kb.settings.context_keys),
        )
        more = len(hits) > query.k
        hits = hits[: query.k]
        with stage("store"):
            updated = kb.documents.updated_times((h.passage.doc_id for h in hits), searcher)
        with stage("snippets"):
            found = [Hit.of(h, absolute(h.passage.url), updated.get(h.passage.doc_id))
                     for h in hits]  # fmt: skip
        return SearchResults(hits=found, page=query.page, k=query.k,
                               next_page=query.page + 1 if more else None,
                               index_version=searcher.version)  # fmt: skip

    @bp.post("/answer")
    @contract.operation(
        json=models.answer,
        ok=Answer,
        description="The answer; with stream=true, server-sent events: delta {text}, reset "
        "{reason}, then one done carrying the answer",
        errors=(400, *BODY_ERRORS, 503),
        media={200: {"text/event-stream": EVENTS}},
    )
    def answer() -> Reply:
        """Answer a question with verified citations, or refuse with the closest articles.

        With ``"stream": true`` or ``Accept: text/event-stream`` the answer comes as server-sent
        events: ``delta`` (verified text to append), ``reset`` (discard the text so far) and
        one final ``done`` carrying the whole answer as the JSON response would.
        """
        kb, body = get_kb(), cast(AnswerRequest, parsed("json"))
        stream = body.stream or request.accept_mimetypes.best == "text/event-stream"
        searcher = kb.retrieval.searcher()
        history = [turn.question for turn in body.history]
        raw = body.context.model_dump(exclude_none=True) if body.context else None
        context = user_context(raw, kb.settings.context_keys)
        conversation = body.conversation_id

        def result(answer: domain.Answer) -> Answer:
            return Answer.of(answer, body.question, absolute, conversation_id=conversation,
                               index_version=searcher.version)  # fmt: skip

        if not stream:
            answer = kb.answering.answer(body.question, None, searcher, history, context,
                                         channel="api", conversation=conversation)  # fmt: skip
            return result(answer)
        events = kb.answering.answer_stream(body.question, None, searcher, history, context,
                                            channel="api", conversation=conversation)  # fmt: skip

        def sse() -> Iterator[str]:
            for name, value in events:
                if name == "delta":
                    data = json.dumps({"text": value}, ensure_ascii=False)
                elif name == "reset":
                    data = json.dumps({"reason": value}, ensure_ascii=False)
                else:
                    data = result(value).model_dump_json()
                yield f"event: {name}\ndata: {data}\n\n"

        return Response(
            stream_with_context(sse()),
            mimetype="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @bp.post("/route")
    @contract.operation(json=RouteRequest, ok=Routing, errors=(400, *BODY_ERRORS, 503))
    def route() -> Reply:
        """Which queue (department) and priority a request belongs to, with confidences."""
        kb = get_kb()
        routed = kb.triage.route(cast(RouteRequest, parsed("json")).text)
        version = (kb.triage.router_dir / "CURRENT").read_text().strip()
        return Routing.model_validate({**routed, "router_version": version})

    @bp.post("/feedback")
    @contract.operation(json=FeedbackRequest, ok=Stored, status=201, description="Stored",
                        errors=(400, *BODY_ERRORS))  # fmt: skip
    def feedback() -> Reply:
        """Rate an answer or a result (Was this helpful?), with the customer's comment if any."""
        body = cast(FeedbackRequest, parsed("json"))
        feedback_id = get_kb().documents.add_feedback(body.model_dump(exclude_none=True),
                                                      client=client_name())  # fmt: skip
        return Stored(id=feedback_id), 201

    @bp.post("/ratings")
    @contract.operation(json=RatingRequest, ok=Rating, status=201,
                        description="Stored; a second rating of the conversation by the same "
                        "client replaces the first", errors=(400, *BODY_ERRORS))  # fmt: skip
    def ratings() -> Reply:
        """Rate a conversation 1 to 5 at its end (customer satisfaction, CSAT).

        The conversation is the ``conversation_id`` its answers were asked under. A backend's
        API key keeps its conversations apart from other clients' with the same ids.
        """
        body = cast(RatingRequest, parsed("json"))
        stored, replaced = get_kb().documents.add_rating(
            body.model_dump(exclude_none=True), client=client_key_id()
        )
        return Rating.of(stored, replaced), 201

    @bp.get("/documents/", defaults={"doc_id": None})
    @bp.get("/documents/<path:doc_id>")
    @contract.operation(query=IdQuery, ok=Document,
                        errors={**{e: ERRORS[e] for e in API_ERRORS}, 400: "No id given",
                                404: "No such public document"})  # fmt: skip
    def document(doc_id: str | None) -> Reply:
        """A public document: its metadata and its sections with their anchors.

        The id is the path, or the ``id`` query parameter for ids a path cannot carry
        (``..``, ``/a``, ``a/``).
        """
        doc_id = requested_id(doc_id)
        doc = get_kb().documents.public_document(doc_id)
        if doc is None:
            raise NotFound(f"no document {doc_id[:200]!r}")
        sections = [Section(heading=s.heading, anchor=s.anchor or slugify(s.heading),
                              text=s.text) for s in doc.sections]  # fmt: skip
        return Document(id=doc.id, title=doc.title, url=absolute(doc.url or article_path(doc.id)),
                          kind=doc.kind, lang=doc.lang, version=doc.version,
                          updated_at=doc.updated_at, sections=sections)  # fmt: skip

    @bp.get("/healthz")
    @contract.operation(ok=Health, errors=API_ERRORS)
    def healthz() -> Reply:
        """Liveness, with document counts and the index version."""
        return Health(**get_kb().documents.status())

    @bp.get("/readyz")
    @contract.operation(ok=Ready, errors=(*API_ERRORS, 503))
    def readyz() -> Reply:
        """Readiness: 200 once an index is loaded and searchable, else 503 in the error shape."""
        return Ready(index_version=get_kb().retrieval.searcher().version)

    return bp
