"""The JSON API: /search, /answer, /healthz."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, jsonify, request, stream_with_context
from flask.typing import ResponseReturnValue

from kb.errors import InvalidInput
from kb.models import Answer, Filter, UserContext
from kb.schema import answer_json, hit_json
from kb.service import user_context
from web.requests import get_kb

bp = Blueprint("api", __name__)


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
    """Return the best section of each of the best documents for ``q``."""
    kb = get_kb()
    if "q" not in request.args:
        raise InvalidInput("missing query parameter q")
    searcher = kb.searcher()
    hits = kb.search(
        request.args["q"],
        k=_int_arg("k", 10),
        where=filter_from_args(),
        searcher=searcher,
        context=context_from_args(kb.settings.context_keys),
    )
    items = []
    for hit in hits:
        item = hit_json(hit)
        item["url"] = absolute(item["url"])
        items.append(item)
    return jsonify({"hits": items, "index_version": searcher.snapshot.version})


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
    searcher = kb.searcher()
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
        out["index_version"] = searcher.snapshot.version
        return out

    if not stream:
        answer = kb.answer(body["question"], searcher=searcher, history=history, context=context)
        return jsonify(result(answer))
    events = kb.answer_stream(body["question"], searcher=searcher, history=history, context=context)

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


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Say the process is up and which index it serves."""
    return jsonify({"ok": True, **get_kb().status()})
