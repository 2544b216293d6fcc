"""The editors' API: FAQ candidates, the content-gap report, feedback review, backend API keys,
regression questions, and the index snapshots (rollback, the gate's verdicts, promotion).

Every route needs the admin key (``Authorization: Bearer KEY``, compared in constant time);
with no key configured the routes are shut. Answers are JSON in the one error shape, and never
cached (``Cache-Control: no-store``, set with the security headers: one answer holds a new key).
"""

from __future__ import annotations

from typing import Any, cast

from flask import Blueprint, make_response

from kb import keys
from kb.sentiment import sentiment
from kb.trends import to_csv
from web.admin_contract import (
    Candidates,
    Decided,
    FaqEdit,
    FaqQuery,
    FeedbackList,
    FeedbackQuery,
    Gaps,
    GapsQuery,
    Gates,
    IngestRequest,
    Jobs,
    KeyRequest,
    Keys,
    KpisQuery,
    MineQuery,
    NewKey,
    Nudge,
    Nudges,
    OneJob,
    OneRegression,
    RegressionEdit,
    RegressionRequest,
    Regressions,
    RegressionsQuery,
    Report,
    Revoked,
    RollbackRequest,
    RolledBack,
    TrendsQuery,
    Undone,
    UndoRequest,
    key_request,
)
from web.api import parsed
from web.openapi import ERRORS, Contract, Reply
from web.requests import get_kb
from web.security import credentials

MAX_ID = 2**63 - 1  # ids are SQLite integers: anything larger names nothing
ADMIN_ERRORS = {401: "No admin key, or the wrong one (Authorization: Bearer KEY)",
                400: ERRORS[400]}  # fmt: skip


def require_key() -> None:
    """Let through only requests carrying the configured admin key."""
    credentials().require_admin()


def blueprint(contract: Contract) -> Blueprint:
    """Return the editors' API, its operations declared with ``contract``'s models."""
    bp = Blueprint("admin", __name__, url_prefix="/admin")
    bp.before_request(require_key)
    op = contract.operation

    def missing(what: str) -> dict[int, str]:
        return {**ADMIN_ERRORS, 404: f"No such {what}"}

    @bp.get("/faq")
    @op(query=FaqQuery, ok=Candidates, errors=ADMIN_ERRORS)
    def faq() -> Reply:
        """FAQ candidates mined from tickets (status=pending|accepted|rejected), largest first."""
        status = cast(FaqQuery, parsed("query")).status
        return Candidates(candidates=get_kb().editorial.candidates(status))

    @bp.post("/faq/mine")
    @op(query=MineQuery, ok=Candidates, errors=ADMIN_ERRORS)
    def mine() -> Reply:
        """Cluster the stored tickets into FAQ candidates again."""
        found = get_kb().editorial.mine_faqs(cast(MineQuery, parsed("query")).min_size)
        return Candidates(found=len(found), candidates=get_kb().editorial.candidates())

    def decide(candidate_id: int, accept: bool) -> Decided:
        edit = cast(FaqEdit, parsed("json"))
        candidate = get_kb().editorial.decide(candidate_id, accept, edit.question, edit.answer)
        return Decided(candidate=candidate)

    @bp.post(f"/faq/<int(max={MAX_ID}):candidate_id>/accept")
    @op(json=FaqEdit, ok=Decided, errors=missing("candidate"))
    def accept(candidate_id: int) -> Reply:
        """Publish a candidate as a faq document (indexed on the next ingest).

        The editor's ``question`` and ``answer`` edits, if any, replace the mined ones.
        """
        return decide(candidate_id, True)

    @bp.post(f"/faq/<int(max={MAX_ID}):candidate_id>/reject")
    @op(json=FaqEdit, ok=Decided, errors=missing("candidate"))
    def reject(candidate_id: int) -> Reply:
        """Reject a candidate; it is not proposed again."""
        return decide(candidate_id, False)

    @bp.get("/gaps")
    @op(query=GapsQuery, ok=Gaps, errors=ADMIN_ERRORS)
    def gaps() -> Reply:
        """Content gaps: refused, unsure or thumbs-down questions, clustered and ranked."""
        days = cast(GapsQuery, parsed("query")).days
        return Gaps(days=days, gaps=[g.to_dict() for g in get_kb().editorial.gaps(days)])

    @bp.get("/trends")
    @op(query=TrendsQuery, ok=Report, errors=ADMIN_ERRORS, media={200: {"text/csv": None}})
    def trends() -> Reply:
        """Weekly ticket volume by queue, sentiment and topic, rising ones flagged; and
        customer satisfaction (CSAT) by week and by topic, in ``csat``.

        ``format=csv`` gives a spreadsheet.
        """
        query = cast(TrendsQuery, parsed("query"))
        found = get_kb().editorial.trends(query.weeks)
        if query.format == "csv":
            response = make_response(to_csv(found))
            response.mimetype = "text/csv"
            response.headers["Content-Disposition"] = "attachment; filename=trends.csv"
            return response
        return Report(**found)

    @bp.get("/kpis")
    @op(query=KpisQuery, ok=Report, errors=ADMIN_ERRORS)
    def kpis() -> Reply:
        """KPIs: questions a day, answered and refused, helpfulness, deflection, top and
        unanswered questions, and customer satisfaction (CSAT: ratings, mean, satisfied share)."""
        return Report(**get_kb().editorial.kpis(cast(KpisQuery, parsed("query")).days))

    @bp.post("/ingest")
    @op(json=IngestRequest, ok=OneJob, status=202, description="Started",
        errors={**ADMIN_ERRORS, 409: ERRORS[409]})  # fmt: skip
    def ingest() -> Reply:
        """Start ingesting sources (URLs or server paths) as a background job; 409 while another
        ingest runs."""
        sources = cast(IngestRequest, parsed("json")).sources
        return OneJob(job=get_kb().jobs.start_ingest(sources)), 202

    @bp.get("/jobs")
    @op(ok=Jobs, errors=ADMIN_ERRORS)
    def job_list() -> Reply:
        """The latest background jobs, newest first."""
        return Jobs(jobs=get_kb().jobs.recent())

    @bp.get(f"/jobs/<int(max={MAX_ID}):job_id>")
    @op(ok=OneJob, errors=missing("job"))
    def job(job_id: int) -> Reply:
        """One job: status (queued, running, done, failed), progress, report or error."""
        return OneJob(job=get_kb().jobs.get(job_id))

    @bp.post("/index/rollback")
    @op(json=RollbackRequest, ok=RolledBack,
        errors={**missing("snapshot"), 503: "The snapshot is damaged"})  # fmt: skip
    def rollback() -> Reply:
        """Serve an earlier index snapshot, once it checks out whole.

        The body names it: ``{"version": "v000003"}``.
        """
        version = cast(RollbackRequest, parsed("json")).version
        changes = get_kb().versions.rollback(version)
        return RolledBack(index_version=version, removed_since=list(changes.removed),
                            changed_since=list(changes.changed))  # fmt: skip

    @bp.post("/index/promote")
    @op(json=RollbackRequest, ok=RolledBack,
        errors={**missing("snapshot"), 503: "The snapshot is damaged"})  # fmt: skip
    def promote() -> Reply:
        """Serve a snapshot the evaluation gate held back, as an editor decided.

        As ``/admin/index/rollback``; the gate's verdict on it becomes ``promoted``.
        """
        version = cast(RollbackRequest, parsed("json")).version
        changes = get_kb().versions.promote(version)
        return RolledBack(index_version=version, removed_since=list(changes.removed),
                          changed_since=list(changes.changed))  # fmt: skip

    @bp.get("/index/gates")
    @op(ok=Gates, errors=ADMIN_ERRORS)
    def gates() -> Reply:
        """The evaluation gate's latest verdicts on new snapshots, newest first (passed, held,
        promoted, forced; figures, reason, broken questions), and the snapshot served."""
        return Gates(served=get_kb().versions.list()[1], gates=get_kb().gate.recent())

    @bp.get("/regressions")
    @op(query=RegressionsQuery, ok=Regressions, errors=ADMIN_ERRORS)
    def regression_list() -> Reply:
        """The regression questions (status=active|retired|all), oldest first."""
        status = cast(RegressionsQuery, parsed("query")).status
        return Regressions(questions=get_kb().regressions.questions(
            None if status == "all" else status))  # fmt: skip

    @bp.post("/regressions")
    @op(json=RegressionRequest, ok=OneRegression, status=201, description="Added",
        errors=ADMIN_ERRORS)  # fmt: skip
    def regression_add() -> Reply:
        """Add a regression question answered by ``pages`` (document ids, kb's links or the
        documents' URLs); a question already kept, folded, gets the pages added."""
        body = cast(RegressionRequest, parsed("json"))
        added = get_kb().regressions.add(body.question, body.pages, note=body.note)
        assert added is not None  # only a ref is ever added twice
        return OneRegression(regression=added), 201

    @bp.patch(f"/regressions/<int(max={MAX_ID}):question_id>")
    @op(json=RegressionEdit, ok=OneRegression, errors=missing("regression question"))
    def regression_edit(question_id: int) -> Reply:
        """Change a regression question's text, pages or note; ``status`` retired retires it,
        active restores it."""
        body = cast(RegressionEdit, parsed("json"))
        edited = get_kb().regressions.edit(question_id, question=body.question,
                                           pages=body.pages, note=body.note,
                                           status=body.status)  # fmt: skip
        return OneRegression(regression=edited)

    @bp.get("/nudges")
    @op(ok=Nudges, errors={**ADMIN_ERRORS, 503: ERRORS[503]})
    def nudges() -> Reply:
        """How customers' votes move pages now (see KB_FEEDBACK_BOOST), largest first."""
        kb = get_kb()
        found = kb.nudges.review(kb.retrieval.searcher().embedder)
        return Nudges(bound=kb.settings.feedback_boost,
                      nudges=[Nudge(doc_id=n.doc_id, boost=round(n.boost, 4), net=round(n.net, 4),
                                    clients=n.clients, queries=list(n.queries[:5]))
                              for n in found])  # fmt: skip

    @bp.post("/nudges/undo")
    @op(json=UndoRequest, ok=Undone, errors=ADMIN_ERRORS)
    def nudge_undo() -> Reply:
        """Undo a nudge: the votes on ``doc_id`` for questions like ``query``, cast until now,
        no longer move it."""
        body = cast(UndoRequest, parsed("json"))
        get_kb().nudges.undo(body.doc_id, body.query)
        return Undone()

    @bp.get("/feedback")
    @op(query=FeedbackQuery, ok=FeedbackList, errors=ADMIN_ERRORS)
    def feedback() -> Reply:
        """The latest feedback, newest first, with the sentiment of each comment."""
        rows = get_kb().documents.recent_feedback(cast(FeedbackQuery, parsed("query")).limit)
        items: list[dict[str, Any]] = [
            {**f.to_dict(), "sentiment": sentiment(f.comment).to_dict() if f.comment else None}
            for f in rows
        ]
        return FeedbackList(feedback=items)

    @bp.get("/keys")
    @op(ok=Keys, errors=ADMIN_ERRORS)
    def key_list() -> Reply:
        """Backend API keys, live ones first: names, limits a minute (0: none), created,
        revoked; never the keys."""
        return Keys(keys=keys.list_keys(get_kb().stores.writer()))

    @bp.post("/keys")
    @op(json=key_request(contract.settings), ok=NewKey, status=201, description="Made",
        errors=ADMIN_ERRORS)  # fmt: skip
    def key_create() -> Reply:
        """Make a backend API key; the answer holds the key, shown this once.

        Limits left out are the settings ``KB_KEY_RATE_LIMIT_ANSWER`` and ``KB_KEY_RATE_LIMIT``.
        """
        body = cast(KeyRequest, parsed("json"))
        writer = get_kb().stores.writer()
        key, stored = keys.create_key(
            writer, body.name, body.answers_per_minute, body.searches_per_minute
        )
        return NewKey(key=key, **stored.to_dict()), 201

    @bp.delete("/keys/<name>")
    @op(ok=Revoked, errors={**ADMIN_ERRORS, 404: "No live key of this name"})
    def key_revoke(name: str) -> Reply:
        """Revoke the live key of this name: its next request is a 401."""
        keys.revoke_key(get_kb().stores.writer(), name)
        return Revoked(revoked=name)

    return bp
