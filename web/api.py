"""The JSON API: /search, /answer, /feedback, /documents/<id>, /healthz, /readyz.

The blueprint is served at ``/v1/…`` (the contract chatbot backends pin) and, as an alias of
the latest version, at the bare paths. Every response says its version in ``KB-API-Version``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, jsonify, request, stream_with_context
from flask.typing import ResponseReturnValue

from kb.errors import InvalidInput, NotFound
from kb.links import article_path
from kb.models import Answer, Filter, UserContext
from kb.schema import answer_json, hit_json
from kb.text import slugify
from kb.usecases.validation import user_context
from web.requests import get_kb, requested_id
from web.versions import API_VERSION

bp = Blueprint("api", __name__)


@bp.after_request
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


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number, not {raw[:40]!r}") from None


def json_body() -> dict[str, Any]:
    """Return the request's JSON object body, or raise :class:`InvalidInput`."""
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("request body must be a JSON object")
    return body


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


@bp.get("/search")
def search() -> ResponseReturnValue:
    """Return the best section of each of the best documents for ``q``, a page at a time."""
    kb = get_kb()
    if "q" not in request.args:
        raise InvalidInput("missing query parameter q")
    k, page = _int_arg("k", 10), _int_arg("page", 1)
    if not 1 <= k <= kb.settings.max_k:
        raise InvalidInput(f"k must be between 1 and {kb.settings.max_k}")
    if not page >= 1 or page * k > kb.settings.max_k * 5:
        raise InvalidInput(f"page must be between 1 and {kb.settings.max_k * 5 // k} for k={k}")
    searcher = kb.retrieval.searcher()
    hits = kb.retrieval.rank_page(
        request.args["q"],
        k=k,
        page=page,
        where=filter_from_args(),
        searcher=searcher,
        context=context_from_args(kb.settings.context_keys),
    )
    more = len(hits) > k
    hits = hits[:k]
    updated = kb.documents.updated_times(h.passage.doc_id for h in hits)
    items = []
    for hit in hits:
        item = hit_json(hit)
        item["url"] = absolute(item["url"])
        item["updated_at"] = updated.get(hit.passage.doc_id)
        items.append(item)
    return jsonify(
        {
            "hits": items,
            "page": page,
            "k": k,
            "next_page": page + 1 if more else None,
            "index_version": searcher.version,
        }
    )


@bp.post("/answer")
def answer() -> ResponseReturnValue:
    """Answer ``question`` with verified citations, or refuse with the closest articles.

    With ``"stream": true`` or ``Accept: text/event-stream`` the answer comes as server-sent
    events: ``delta`` (verified text to append), ``reset`` (discard the text so far) and one
    final ``done`` carrying the whole answer as the JSON response would.
    """
    body = json_body()
    if "question" not in body:
        raise InvalidInput("missing field 'question'")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidInput("stream must be true or false")
    stream = stream or request.accept_mimetypes.best == "text/event-stream"
    kb = get_kb()
    searcher = kb.retrieval.searcher()
    history = history_questions(body.get("history", []))
    conversation = body.get("conversation_id")
    if conversation is not None and (not isinstance(conversation, str) or len(conversation) > 100):
        raise InvalidInput("conversation_id must be a string of at most 100 characters")
    context = user_context(body.get("context"), kb.settings.context_keys)

    def result(answer: Answer) -> dict[str, Any]:
        out = answer_json(answer)
        out["question"] = body["question"]
        out["query"] = answer.question
        out["conversation_id"] = conversation
        for item in (*out["citations"], *out["related"]):
            item["url"] = absolute(item["url"])
        out["index_version"] = searcher.version
        return out

    question = body["question"]
    if not stream:
        answer = kb.answering.answer(
            question, None, searcher, history, context, channel="api", conversation=conversation
        )
        return jsonify(result(answer))
    events = kb.answering.answer_stream(
        question, None, searcher, history, context, channel="api", conversation=conversation
    )

    def sse() -> Iterator[str]:
        for name, value in events:
            if name == "delta":
                data: dict[str, Any] = {"text": value}
            elif name == "reset":
                data = {"reason": value}
            else:
                data = result(value)
            yield f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"

    return Response(
        stream_with_context(sse()),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def history_questions(history: Any) -> list[str]:
    """Return the earlier questions of ``history``: a list of {"question", "answer"?} objects."""
    if not isinstance(history, list) or len(history) > 20:
        raise InvalidInput("history must be a list of at most 20 turns")
    questions = []
    for turn in history:
        if not isinstance(turn, dict) or not isinstance(turn.get("question"), str):
            raise InvalidInput("each history turn must be an object with a 'question' string")
        questions.append(turn["question"])
    return questions


@bp.post("/route")
def route() -> ResponseReturnValue:
    """Which queue (department) and priority a request belongs to, with confidences."""
    body = json_body()
    if "text" not in body:
        raise InvalidInput("missing field 'text'")
    kb = get_kb()
    routed = kb.triage.route(body["text"])
    version = (kb.triage.router_dir / "CURRENT").read_text().strip()
    return jsonify({**routed, "router_version": version})


@bp.post("/feedback")
def feedback() -> ResponseReturnValue:
    """Store a customer's thumbs up or down (and comment) on an answer or a result."""
    feedback_id = get_kb().documents.add_feedback(json_body())
    return jsonify({"ok": True, "id": feedback_id}), 201


@bp.get("/documents/", defaults={"doc_id": None})
@bp.get("/documents/<path:doc_id>")
def document(doc_id: str | None) -> ResponseReturnValue:
    """Return a public document: its metadata and its sections with their anchors.

    The id is the path, or the ``id`` query parameter for ids a path cannot carry.
    """
    doc_id = requested_id(doc_id)
    doc = get_kb().documents.public_document(doc_id)
    if doc is None:
        raise NotFound(f"no document {doc_id[:200]!r}")
    return jsonify(
        {
            "id": doc.id,
            "title": doc.title,
            "url": absolute(doc.url or article_path(doc.id)),
            "kind": doc.kind,
            "lang": doc.lang,
            "version": doc.version,
            "updated_at": doc.updated_at,
            "sections": [
                {"heading": s.heading, "anchor": s.anchor or slugify(s.heading), "text": s.text}
                for s in doc.sections
            ],
        }
    )


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Say the process is up and which index it serves."""
    return jsonify({"ok": True, **get_kb().documents.status()})


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Answer 200 once an index is loaded and searchable, else 503 in the error shape."""
    searcher = get_kb().retrieval.searcher()
    return jsonify({"ok": True, "index_version": searcher.version})
