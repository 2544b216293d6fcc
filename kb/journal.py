"""The journal: what customers and editors did, kept beside the content in kb's SQLite file.

Feedback, satisfaction ratings, the redacted query log, FAQ candidates and editors' decisions on
them, background jobs and backend API keys. The content (documents, chunks, embeddings) is
:mod:`kb.store`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from kb.database import Database, utcnow
from kb.nudges import Undo, Vote


@dataclass(frozen=True)
class FeedbackEntry:
    """A customer's thumbs up or down on an answer or a result, redacted (table ``feedback``)."""

    id: int
    created_at: str  # ISO 8601, UTC
    target: str  # "answer" or "result"
    rating: int  # 1 or -1
    comment: str | None
    query: str
    answer: str | None
    citations: list[Any]  # the cited passages as the customer saw them
    doc_id: str | None
    index_version: str | None
    request_id: str | None
    client: str = ""  # a backend key's id, or a visitor's monthly pseudonym "v:…" (kb.nudges)

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON."""
        return asdict(self)


@dataclass(frozen=True)
class RatingEntry:
    """A customer's 1–5 rating of a conversation, redacted (table ``ratings``)."""

    id: int
    created_at: str  # ISO 8601, UTC: when it was given (or last replaced)
    conversation_id: str
    client: str  # the backend API key's id; "" for a visitor (page, widget, no key)
    channel: str  # "page", "widget" or "api"
    rating: int  # 1 to 5
    comment: str | None
    question: str | None  # the conversation's first question, as the query log has it
    top_doc: str | None  # the document kb answered that question from; None if it refused

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON."""
        return asdict(self)


@dataclass(frozen=True)
class LoggedQuery:
    """One question asked and how kb did, redacted (table ``queries``)."""

    id: int
    created_at: str  # ISO 8601, UTC
    channel: str  # "api" or "page"
    query: str
    refused: bool
    confidence: float  # the answer's calibrated confidence, 0..1
    top_doc: str | None  # the first cited document
    index_version: str | None
    conversation_id: str | None


@dataclass(frozen=True)
class SavedCandidate:
    """A proposed FAQ entry and the editors' decision on it (table ``faq_candidates``)."""

    id: int
    key: str  # stable over re-mining: the cluster's tickets
    created_at: str
    question: str
    answer: str
    size: int  # tickets in the cluster
    tickets: list[str]
    lang: str | None
    queue: str | None
    coverage: float  # how well the closest article already answers it, 0..1
    article: dict[str, Any] | None  # that article
    status: str  # "pending", "accepted" or "rejected"
    decided_at: str | None
    doc_id: str | None  # the faq document an accepted candidate became

    def to_dict(self) -> dict[str, Any]:
        """The candidate as JSON."""
        return asdict(self)


@dataclass(frozen=True)
class Job:
    """A background job (an ingest started from the admin API) and how it went (``jobs``)."""

    id: int
    kind: str
    sources: list[str]
    status: str  # "queued", "running", "done" or "failed"
    progress: int | None  # documents read so far
    report: dict[str, Any] | None  # the ingest report when done
    error: str | None
    pid: int
    created_at: str
    updated_at: str
    host: str = ""  # the machine running it (its pid means something there only)

    def to_dict(self) -> dict[str, Any]:
        """The job as JSON."""
        return asdict(self)


class Journal(Database):
    """Feedback, ratings, the query log, FAQ candidates, jobs and API keys."""

    # feedback -------------------------------------------------------------------------------

    def add_feedback(self, item: Mapping[str, Any]) -> int:
        """Store one piece of feedback (see ``FEEDBACK_FIELDS``); return its id."""
        values = [item.get(f) for f in FEEDBACK_FIELDS]
        values[FEEDBACK_FIELDS.index("citations")] = json.dumps(item.get("citations", []))
        values[FEEDBACK_FIELDS.index("client")] = item.get("client") or ""
        with self.transaction() as conn:
            cursor = conn.execute(
                f"INSERT INTO feedback (created_at, {', '.join(FEEDBACK_FIELDS)})"
                f" VALUES (?, {', '.join('?' * len(FEEDBACK_FIELDS))}) RETURNING id",
                [utcnow(), *values],
            )
            return int(cursor.fetchone()[0])

    def feedback(self, limit: int = 100) -> list[FeedbackEntry]:
        """Return the latest feedback, newest first."""
        rows = self._rows("SELECT * FROM feedback ORDER BY id DESC LIMIT ?", (limit,))
        return [FeedbackEntry(**{**r, "citations": json.loads(r["citations"])}) for r in rows]

    # satisfaction ratings ---------------------------------------------------------------------

    def add_rating(self, item: Mapping[str, Any]) -> tuple[RatingEntry, bool]:
        """Store a rating (``RATING_FIELDS``); return it, and whether it replaced an earlier
        rating of the same conversation by the same client (which keeps its id)."""
        values = [item.get(f) for f in RATING_FIELDS]
        values[RATING_FIELDS.index("client")] = item.get("client") or ""
        replaced = ("created_at", "channel", "rating", "comment", "question", "top_doc")
        updates = ", ".join(f"{f} = excluded.{f}" for f in replaced)
        with self.transaction() as conn:
            earlier = conn.execute(
                "SELECT id FROM ratings WHERE client = ? AND conversation_id = ?",
                (values[RATING_FIELDS.index("client")], item["conversation_id"]),
            ).fetchone()
            result = conn.execute(
                f"INSERT INTO ratings (created_at, {', '.join(RATING_FIELDS)})"
                f" VALUES (?, {', '.join('?' * len(RATING_FIELDS))})"
                f" ON CONFLICT (client, conversation_id) DO UPDATE SET {updates} RETURNING *",
                [utcnow(), *values],
            )
            row = dict(zip(result.names, result.fetchone(), strict=True))
        return RatingEntry(**row), earlier is not None

    def ratings(self, since: str = "") -> list[RatingEntry]:
        """Return the ratings given (or last replaced) since ``since`` (ISO 8601), oldest first."""
        rows = self._rows(
            "SELECT * FROM ratings WHERE created_at >= ? ORDER BY created_at, id", (since,)
        )
        return [RatingEntry(**r) for r in rows]

    def first_question(self, conversation_id: str) -> LoggedQuery | None:
        """Return the first logged question of a conversation, or None."""
        rows = self._rows(
            "SELECT * FROM queries WHERE conversation_id = ? ORDER BY id LIMIT 1",
            (conversation_id,),
        )
        return LoggedQuery(**{**rows[0], "refused": bool(rows[0]["refused"])}) if rows else None

    def votes(self, since: str) -> list[Vote]:
        """Return the votes on pages since ``since`` (ISO 8601), oldest first: a result's
        thumbs, and an answer's for the page it cited first."""
        rows = self._rows(
            "SELECT id, created_at, target, rating, query, doc_id, citations, client FROM"
            " feedback WHERE created_at >= ? ORDER BY id",
            (since,),
        )
        votes = []
        for r in rows:
            doc_id = r["doc_id"]
            if r["target"] == "answer":
                cited = json.loads(r["citations"] or "[]")
                doc_id = cited[0].get("doc_id") if cited and isinstance(cited[0], dict) else None
            if doc_id and r["query"]:
                votes.append(Vote(r["query"], str(doc_id), int(r["rating"]), r["client"] or "",
                                  r["created_at"]))  # fmt: skip
        return votes

    def add_undo(self, doc_id: str, query: str) -> int:
        """Record an editor's undo of the nudge votes gave ``doc_id`` for questions like
        ``query``; return its id."""
        with self.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO nudge_undos (doc_id, query, created_at) VALUES (?, ?, ?) RETURNING id",
                (doc_id, query, utcnow()),
            )
            return int(cursor.fetchone()[0])

    def undos(self) -> list[Undo]:
        """Return the editors' undos, oldest first."""
        return [Undo(r["doc_id"], r["query"], r["created_at"])
                for r in self._rows("SELECT * FROM nudge_undos ORDER BY id")]  # fmt: skip

    def secret(self, name: str) -> str:
        """Return the store's secret ``name``, made (random, 32 bytes) the first time."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO kb_secrets (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (name, secrets.token_hex(32)),
            )
            return str(
                conn.execute("SELECT value FROM kb_secrets WHERE name = ?", (name,)).fetchone()[0]
            )

    # the query log and FAQ candidates --------------------------------------------------------

    def log_query(self, row: Mapping[str, Any]) -> None:
        """Record one question and how kb did (``QUERY_FIELDS``; the query already redacted)."""
        with self.transaction() as conn:
            conn.execute(
                f"INSERT INTO queries (created_at, {', '.join(QUERY_FIELDS)})"
                f" VALUES (?, {', '.join('?' * len(QUERY_FIELDS))})",
                [row.get("created_at") or utcnow(), *(_column(row.get(f)) for f in QUERY_FIELDS)],
            )

    def queries(self, since: str = "") -> list[LoggedQuery]:
        """Return the logged queries since ``since`` (ISO 8601), oldest first."""
        rows = self._rows("SELECT * FROM queries WHERE created_at >= ? ORDER BY id", (since,))
        return [LoggedQuery(**{**r, "refused": bool(r["refused"])}) for r in rows]

    def save_candidates(self, candidates: Sequence[Mapping[str, Any]]) -> None:
        """Replace the pending FAQ candidates; decided ones (by ``key``) are kept as they are."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM faq_candidates WHERE status = 'pending'")
            for c in candidates:
                conn.execute(
                    "INSERT INTO faq_candidates (key, created_at, question, answer,"
                    " size, tickets, lang, queue, coverage, article)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (key) DO NOTHING",
                    (c["key"], utcnow(), c["question"], c["answer"], c["size"],
                     json.dumps(c["tickets"]), c.get("lang"), c.get("queue"), c["coverage"],
                     json.dumps(c.get("article"))),
                )  # fmt: skip

    def candidates(self, status: str | None = None) -> list[SavedCandidate]:
        """Return FAQ candidates (of ``status``), largest first."""
        sql = "SELECT * FROM faq_candidates"
        args: tuple[str, ...] = ()
        if status:
            sql, args = sql + " WHERE status = ?", (status,)
        return [
            SavedCandidate(**{**r, "tickets": json.loads(r["tickets"]),
                              "article": json.loads(r["article"]) if r["article"] else None})
            for r in self._rows(sql + " ORDER BY size DESC, id", args)
        ]  # fmt: skip

    def decide_candidate(
        self, candidate_id: int, status: str, question: str, answer: str, doc_id: str | None
    ) -> None:
        """Record an editor's decision (and edits) on a candidate."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE faq_candidates SET status = ?, question = ?, answer = ?, doc_id = ?,"
                " decided_at = ? WHERE id = ?",
                (status, question, answer, doc_id, utcnow(), candidate_id),
            )

    # background jobs ---------------------------------------------------------------------------

    def add_job(self, kind: str, sources: Sequence[str], pid: int, host: str = "") -> int:
        """Record a queued job run by process ``pid`` on ``host``; return its id."""
        with self.transaction() as conn:
            now = utcnow()
            cursor = conn.execute(
                "INSERT INTO jobs (kind, sources, pid, host, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (kind, json.dumps(list(sources)), pid, host, now, now),
            )
            return int(cursor.fetchone()[0])

    def update_job(self, job_id: int, **fields: Any) -> None:
        """Change a job's ``status``, ``progress``, ``report`` or ``error``."""
        allowed = {
            k: v for k, v in fields.items() if k in ("status", "progress", "report", "error")
        }
        sets = ", ".join(f"{k} = ?" for k in allowed)
        with self.transaction() as conn:
            conn.execute(
                f"UPDATE jobs SET {sets}, updated_at = ? WHERE id = ?",
                [*allowed.values(), utcnow(), job_id],
            )

    def get_job(self, job_id: int) -> Job | None:
        """One job, or None."""
        rows = self._rows("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            return None
        row = rows[0]
        report = json.loads(row["report"]) if row["report"] else None
        return Job(**{**row, "sources": json.loads(row["sources"]), "report": report})

    def job_ids(self, limit: int = 20) -> list[int]:
        """The ids of the latest jobs, newest first."""
        rows = self._rows("SELECT id FROM jobs ORDER BY id DESC LIMIT ?", (limit,))
        return [int(r["id"]) for r in rows]

    # backend API keys ---------------------------------------------------------------------

    def add_api_key(self, row: Mapping[str, Any]) -> bool:
        """Store a new key (``API_KEY_FIELDS``); False if a live key already has its name."""
        try:
            with self.transaction() as conn:
                conn.execute(
                    f"INSERT INTO api_keys (created_at, {', '.join(API_KEY_FIELDS)})"
                    f" VALUES (?, {', '.join('?' * len(API_KEY_FIELDS))})",
                    [utcnow(), *(row[f] for f in API_KEY_FIELDS)],
                )
        except IntegrityError:
            return False
        return True

    def api_key(self, key_id: str) -> dict[str, Any] | None:
        """Return the key whose public part is ``key_id`` (revoked or not), or None."""
        rows = self._rows("SELECT * FROM api_keys WHERE key_id = ?", (key_id,))
        return rows[0] if rows else None

    def api_keys(self) -> list[dict[str, Any]]:
        """Return every key, live ones first, each group oldest first."""
        return self._rows("SELECT * FROM api_keys ORDER BY revoked_at IS NOT NULL, id")

    def revoke_api_key(self, name: str) -> bool:
        """Revoke the live key called ``name``; False if there is none."""
        with self.transaction() as conn:
            cursor = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                (utcnow(), name),
            )
            return cursor.rowcount > 0


def _column(value: Any) -> Any:
    """``value`` as stored: a truth value is an integer (0 or 1) on both engines."""
    return int(value) if isinstance(value, bool) else value


QUERY_FIELDS = (
    "channel", "query", "refused", "confidence", "top_doc", "index_version", "conversation_id",
)  # fmt: skip
API_KEY_FIELDS = (
    "name", "key_id", "key_hash", "answers_per_minute", "searches_per_minute",
)  # fmt: skip
RATING_FIELDS = (
    "conversation_id", "client", "channel", "rating", "comment", "question", "top_doc",
)  # fmt: skip
FEEDBACK_FIELDS = (
    "target", "rating", "comment", "query", "answer", "citations", "doc_id", "index_version",
    "request_id", "client",
)  # fmt: skip
