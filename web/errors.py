"""One error shape: ``{"ok": false, "error": message, "status": code, "request_id": id}``.

API routes, and every path under an API route's first segment (``/v1/nope``, ``/answer/``,
``/search/x``, ``/admin``, ``/admin/nope``: the segments come from the app's url_map), always
answer errors in JSON; pages answer JSON too when the client asks for it, otherwise a small
HTML page. Unexpected exceptions are logged with the request id and never
shown to the client.
"""

from __future__ import annotations

import logging
import re
import sqlite3

from flask import Flask, Response, current_app, jsonify, render_template, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule

from kb.errors import KbError
from web.requests import request_id
from web.versions import API_BLUEPRINTS

log = logging.getLogger("kb.web")
API_SURFACES = (*API_BLUEPRINTS, "document", "admin")  # blueprints that answer only JSON
_VERSIONED = re.compile(r"^/v[0-9]+(?:/|$)")  # /v1/…, and versions that do not exist (yet)


def error_response(message: str, status: int) -> Response:
    """Return the error in the one shape, as JSON or HTML by what the client wants."""
    if _wants_json():
        response = jsonify(
            {"ok": False, "error": message, "status": status, "request_id": request_id()}
        )
    else:
        response = Response(render_template("error.html", message=message, status=status))
        response.mimetype = "text/html"
    response.status_code = status
    return response


def _wants_json() -> bool:
    path = request.path
    if (
        request.blueprint in API_SURFACES
        or path.split("/")[1] in current_app.config["KB_API_SEGMENTS"]
        or _VERSIONED.match(path)
    ):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" or request.is_json


def api_segments(app: Flask) -> frozenset[str]:
    """Return the first path segments of the API's routes (``v1``, ``answer``, ``admin``, …).

    A segment a page route also starts with is left out: that page keeps its HTML errors.
    """

    def first(rule: Rule) -> str:
        return rule.rule.split("/")[1].split("<")[0]

    rules = list(app.url_map.iter_rules())
    api = {first(r) for r in rules if r.endpoint.split(".")[0] in API_SURFACES}
    pages = {first(r) for r in rules if r.endpoint.split(".")[0] not in API_SURFACES}
    return frozenset(api - pages - {""})


def init_app(app: Flask) -> None:
    """Install the handlers that turn every error into the one shape."""
    app.config["KB_API_SEGMENTS"] = api_segments(app)

    @app.errorhandler(KbError)
    def handle_kb_error(e: KbError) -> Response:
        if e.status >= 500:
            log.warning("rid=%s %s", request_id(), e.message)
        response = error_response(e.message, e.status)
        if e.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="kb"'
        retry_after = getattr(e, "retry_after", None)
        if retry_after:
            response.headers["Retry-After"] = str(max(1, round(retry_after)))
        return response

    @app.errorhandler(HTTPException)
    def handle_http(e: HTTPException) -> Response:
        status = e.code or 500
        messages = {
            404: "not found",
            405: f"method {request.method} not allowed here",
            413: f"request body too large (at most {app.config['MAX_CONTENT_LENGTH']} bytes)",
            429: "too many requests: slow down and try again shortly",
        }
        response = error_response(messages.get(status, e.name.lower()), status)
        if status == 405 and e.get_response().headers.get("Allow"):
            response.headers["Allow"] = e.get_response().headers["Allow"]
        return response

    @app.errorhandler(sqlite3.OperationalError)  # an index snapshot's file
    @app.errorhandler(OperationalError)  # the store: locked, full, or its server unreachable
    def handle_storage(e: Exception) -> Response:
        log.error("rid=%s storage error: %s", request_id(), e)
        return error_response("kb cannot store this right now; please try again later", 503)

    @app.errorhandler(Exception)
    def handle_unexpected(e: Exception) -> Response:
        log.exception("rid=%s unexpected error", request_id())
        return error_response(f"internal error (request id {request_id()})", 500)
