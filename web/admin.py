"""The editors' API: FAQ candidates, the content-gap report, feedback review, backend API keys.

Every route needs the admin key (``Authorization: Bearer KEY``, compared in constant time);
with no key configured the routes are shut. Answers are JSON in the one error shape, and never
cached (``Cache-Control: no-store``, set with the security headers: one answer holds a new key).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, make_response, request
from flask.typing import ResponseReturnValue

from kb import keys
from kb.errors import InvalidInput
from kb.sentiment import sentiment
from kb.trends import to_csv
from web.api import json_body
from web.requests import get_kb
from web.security import credentials

bp = Blueprint("admin", __name__, url_prefix="/admin")
MAX_ID = 2**63 - 1  # ids are SQLite integers: anything larger names nothing


@bp.before_request
def require_key() -> None:
    """Let through only requests carrying the configured admin key."""
    credentials().require_admin()


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name, "")
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be between {low} and {high}")
    return value


@bp.get("/faq")
def faq() -> ResponseReturnValue:
    """The FAQ candidates (``status=pending|accepted|rejected``), largest first."""
    found = get_kb().editorial.candidates(request.args.get("status"))
    return jsonify({"candidates": [c.to_dict() for c in found]})


@bp.post("/faq/mine")
def mine() -> ResponseReturnValue:
    """Cluster the stored tickets into FAQ candidates again."""
    min_size = _int_arg("min_size", 3, 2, 1000)
    found = get_kb().editorial.mine_faqs(min_size)
    saved = [c.to_dict() for c in get_kb().editorial.candidates()]
    return jsonify({"found": len(found), "candidates": saved})


def _decide(candidate_id: int, accept: bool) -> ResponseReturnValue:
    body: dict[str, Any] = json_body() if request.get_data() else {}
    candidate = get_kb().editorial.decide(
        candidate_id, accept, body.get("question"), body.get("answer")
    )
    return jsonify({"ok": True, "candidate": candidate.to_dict()})


@bp.post(f"/faq/<int(max={MAX_ID}):candidate_id>/accept")
def accept(candidate_id: int) -> ResponseReturnValue:
    """Publish a candidate (with the editor's ``question`` and ``answer`` edits, if any)."""
    return _decide(candidate_id, True)


@bp.post(f"/faq/<int(max={MAX_ID}):candidate_id>/reject")
def reject(candidate_id: int) -> ResponseReturnValue:
    """Reject a candidate; it is not proposed again."""
    return _decide(candidate_id, False)


@bp.get("/gaps")
def gaps() -> ResponseReturnValue:
    """The content-gap report over the last ``days`` (default 90)."""
    days = _int_arg("days", 90, 1, 3650)
    return jsonify({"days": days, "gaps": [g.to_dict() for g in get_kb().editorial.gaps(days)]})


@bp.get("/trends")
def trends() -> ResponseReturnValue:
    """Weekly ticket volume by queue, sentiment and topic; ``format=csv`` for a spreadsheet."""
    found = get_kb().editorial.trends(_int_arg("weeks", 12, 2, 520))
    if request.args.get("format") == "csv":
        response = make_response(to_csv(found))
        response.mimetype = "text/csv"
        response.headers["Content-Disposition"] = "attachment; filename=trends.csv"
        return response
    return jsonify(found)


@bp.get("/kpis")
def kpis() -> ResponseReturnValue:
    """Questions a day, answered and refused, helpfulness, deflection, top questions."""
    return jsonify(get_kb().editorial.kpis(_int_arg("days", 30, 1, 3650)))


@bp.post("/ingest")
def ingest() -> ResponseReturnValue:
    """Start ingesting ``sources`` in the background; 409 while another ingest runs."""
    body = json_body()
    sources = body.get("sources")
    if not isinstance(sources, list) or not 1 <= len(sources) <= 50:
        raise InvalidInput("sources must be a list of 1 to 50 URLs or paths")
    return jsonify({"job": get_kb().jobs.start_ingest(sources).to_dict()}), 202


@bp.get("/jobs")
def job_list() -> ResponseReturnValue:
    """The latest background jobs, newest first."""
    return jsonify({"jobs": [j.to_dict() for j in get_kb().jobs.recent()]})


@bp.get(f"/jobs/<int(max={MAX_ID}):job_id>")
def job(job_id: int) -> ResponseReturnValue:
    """One job: status (queued, running, done, failed), progress, report or error."""
    return jsonify({"job": get_kb().jobs.get(job_id).to_dict()})


@bp.post("/index/rollback")
def rollback() -> ResponseReturnValue:
    """Serve an earlier index snapshot (``{"version": "v000003"}``), once it checks out."""
    version = json_body().get("version")
    if not isinstance(version, str) or not version:
        raise InvalidInput("version must be a snapshot name such as v000003")
    kb = get_kb()
    changes = kb.versions.rollback(version)
    return jsonify(
        {
            "ok": True,
            "index_version": version,
            "removed_since": list(changes.removed),
            "changed_since": list(changes.changed),
        }
    )


@bp.get("/feedback")
def feedback() -> ResponseReturnValue:
    """The latest feedback, newest first."""
    rows = get_kb().documents.recent_feedback(_int_arg("limit", 100, 1, 1000))
    items = [
        {**f.to_dict(), "sentiment": sentiment(f.comment).to_dict() if f.comment else None}
        for f in rows
    ]
    return jsonify({"feedback": items})


@bp.get("/keys")
def key_list() -> ResponseReturnValue:
    """The backend API keys, live ones first (names and limits; never the keys)."""
    return jsonify({"keys": [k.to_dict() for k in keys.list_keys(get_kb().stores.writer())]})


@bp.post("/keys")
def key_create() -> ResponseReturnValue:
    """Make a backend key (``name``, ``answers_per_minute``?, ``searches_per_minute``?).

    The answer holds the key itself, shown this once; the settings ``KB_KEY_RATE_LIMIT_ANSWER``
    and ``KB_KEY_RATE_LIMIT`` give the limits left out.
    """
    body, settings = json_body(), get_kb().settings
    key, stored = keys.create_key(
        get_kb().stores.writer(),
        body.get("name"),
        body.get("answers_per_minute", settings.key_rate_limit_answer),
        body.get("searches_per_minute", settings.key_rate_limit),
    )
    return jsonify({"key": key, **stored.to_dict()}), 201


@bp.delete("/keys/<name>")
def key_revoke(name: str) -> ResponseReturnValue:
    """Revoke the live key called ``name``: its next request is a 401."""
    keys.revoke_key(get_kb().stores.writer(), name)
    return jsonify({"ok": True, "revoked": name})
