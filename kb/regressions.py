"""Regression questions: customer questions with their right pages, kept in the store.

A knowledge base grows its own set: an accepted FAQ entry (its question → the new entry), an
editor's mark on an answer (the question → the page the editor picked), helpful feedback on
an answer (the question → the pages it cited), and questions imported from a file. Editors
add, edit and retire them. Every snapshot an ingest builds is scored on the active ones (see
:mod:`kb.usecases.gate`), and the gate's verdicts are kept here too (table ``index_gates``).

A question is compared folded (NFKC, lower case, spaces and punctuation dropped), so "How do
I reset?" and "how do i reset" are one question: adding it again adds its pages to it.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from kb.database import Database, utcnow
from kb.errors import InvalidInput, NotFound
from kb.text import normalize

ORIGINS = ("editor", "faq", "feedback", "import")
STATUSES = ("active", "retired")
MAX_QUESTION = 1000
MAX_PAGES = 20


@dataclass(frozen=True)
class RegressionQuestion:
    """A question and the documents that answer it (``pages``: document ids)."""

    id: int
    question: str
    pages: tuple[str, ...]
    origin: str  # editor, faq, feedback or import
    ref: str | None  # what it first came from ("feedback:12", "faq:3")
    status: str  # active or retired
    note: str
    created_at: str
    updated_at: str

    def to_dict(self) -> dict[str, Any]:
        """The question as JSON."""
        return {**asdict(self), "pages": list(self.pages)}


@dataclass(frozen=True)
class GateRecord:
    """The gate's verdict on a snapshot (table ``index_gates``)."""

    version: str
    status: str  # passed, held, promoted (held, then served by an editor), forced
    served: str | None  # the snapshot it was compared with
    verdict: dict[str, Any]  # figures before and after, broken questions, the reason
    created_at: str
    updated_at: str

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON."""
        return asdict(self)


def from_feedback(item: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    """Return the regression question helpful feedback makes (its question and the documents
    the answer cited), or None: only an answer rated up with citations makes one."""
    if item.get("rating") != 1 or item.get("target") != "answer" or not item.get("query"):
        return None
    pages = [str(c["doc_id"]) for c in item.get("citations") or []
             if isinstance(c, Mapping) and c.get("doc_id")]  # fmt: skip
    return (str(item["query"]), pages) if pages else None


def fold(question: str) -> str:
    """Return ``question`` as questions are compared: NFKC, lower case, letters and digits."""
    text = unicodedata.normalize("NFKC", question).casefold()
    return "".join(c for c in text if c.isalnum())


def clean(question: str, pages: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """Return the question and pages as stored; raise :class:`InvalidInput` naming the field."""
    text = normalize(question)
    if not fold(text):
        raise InvalidInput("question is empty")
    if len(text) > MAX_QUESTION:
        raise InvalidInput(f"question must be at most {MAX_QUESTION} characters")
    kept = tuple(dict.fromkeys(p.strip() for p in pages if p and p.strip()))
    if not kept:
        raise InvalidInput("pages must name at least one document")
    if len(kept) > MAX_PAGES:
        raise InvalidInput(f"pages must name at most {MAX_PAGES} documents")
    return text, kept


class Regressions(Database):
    """The regression questions and the gate's verdicts, in the store."""

    def add(
        self, question: str, pages: Sequence[str], origin: str, *, ref: str | None = None,
        note: str = "",
    ) -> RegressionQuestion | None:  # fmt: skip
        """Add a question (or its pages to the active question it folds to); return it.

        Returns None when ``ref`` was added before (feedback is added once). Raises
        :class:`InvalidInput` for an empty question, no pages or an unknown origin.
        """
        if origin not in ORIGINS:
            raise InvalidInput(f"origin must be one of {', '.join(ORIGINS)}")
        text, kept = clean(question, pages)
        now = utcnow()
        try:
            with self.transaction() as c:
                if (
                    ref is not None
                    and c.execute("SELECT 1 FROM regression_refs WHERE ref = ?", (ref,)).fetchone()
                ):
                    return None
                row = c.execute(
                    "SELECT id, pages FROM regression_questions WHERE folded = ? AND status ="
                    " 'active' ORDER BY id LIMIT 1",
                    (fold(text),),
                ).fetchone()
                if row:
                    merged = tuple(dict.fromkeys([*json.loads(row[1]), *kept]))[:MAX_PAGES]
                    c.execute(
                        "UPDATE regression_questions SET pages = ?, updated_at = ? WHERE id = ?",
                        (json.dumps(list(merged)), now, row[0]),
                    )
                    question_id = int(row[0])
                else:
                    question_id = int(c.execute(
                        "INSERT INTO regression_questions (question, folded, pages, origin, ref,"
                        " note, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?) RETURNING id",
                        (text, fold(text), json.dumps(list(kept)), origin, ref, note[:500], now,
                         now),
                    ).fetchone()[0])  # fmt: skip
                if ref is not None:
                    c.execute(
                        "INSERT INTO regression_refs (ref, question_id) VALUES (?, ?)",
                        (ref, question_id),
                    )
        except IntegrityError:  # the same ref added at the same moment by another worker
            return None
        return self.get(question_id)

    def get(self, question_id: int) -> RegressionQuestion:
        """Return a question; raise :class:`NotFound` if there is none with that id."""
        rows = self._rows("SELECT * FROM regression_questions WHERE id = ?", (question_id,))
        if not rows:
            raise NotFound(f"no regression question {question_id}")
        return _question(rows[0])

    def questions(self, status: str | None = "active") -> list[RegressionQuestion]:
        """Return the questions of ``status`` (None: all), oldest first."""
        if status is None:
            rows = self._rows("SELECT * FROM regression_questions ORDER BY id")
        else:
            rows = self._rows(
                "SELECT * FROM regression_questions WHERE status = ? ORDER BY id", (status,)
            )
        return [_question(r) for r in rows]

    def edit(
        self, question_id: int, *, question: str | None = None,
        pages: Sequence[str] | None = None, note: str | None = None, status: str | None = None,
    ) -> RegressionQuestion:  # fmt: skip
        """Change a question's text, pages, note or status; return it.

        Raises :class:`NotFound` for an unknown id, :class:`InvalidInput` for bad values.
        """
        current = self.get(question_id)
        if status is not None and status not in STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}")
        text, kept = clean(
            current.question if question is None else question,
            current.pages if pages is None else pages,
        )
        with self.transaction() as c:
            c.execute(
                "UPDATE regression_questions SET question = ?, folded = ?, pages = ?, note = ?,"
                " status = ?, updated_at = ? WHERE id = ?",
                (text, fold(text), json.dumps(list(kept)),
                 (current.note if note is None else note)[:500],
                 current.status if status is None else status, utcnow(), question_id),
            )  # fmt: skip
        return self.get(question_id)

    # the gate's verdicts -------------------------------------------------------------------

    def record_gate(
        self, version: str, status: str, served: str | None, verdict: dict[str, Any]
    ) -> None:
        """Keep the gate's verdict on snapshot ``version`` (replacing an earlier one)."""
        now = utcnow()
        with self.transaction() as c:
            c.execute(
                "INSERT INTO index_gates (version, status, served, verdict, created_at,"
                " updated_at) VALUES (?,?,?,?,?,?) ON CONFLICT (version) DO UPDATE SET"
                " status = excluded.status, served = excluded.served,"
                " verdict = excluded.verdict, updated_at = excluded.updated_at",
                (version, status, served, json.dumps(verdict), now, now),
            )

    def set_gate_status(self, version: str, status: str) -> None:
        """Change the status of a recorded verdict (held → promoted)."""
        with self.transaction() as c:
            c.execute(
                "UPDATE index_gates SET status = ?, updated_at = ? WHERE version = ?",
                (status, utcnow(), version),
            )

    def gate(self, version: str) -> GateRecord | None:
        """Return the verdict on ``version``, or None if the gate never judged it."""
        rows = self._rows("SELECT * FROM index_gates WHERE version = ?", (version,))
        return _gate(rows[0]) if rows else None

    def gates(self, limit: int = 20) -> list[GateRecord]:
        """Return the latest verdicts, newest first."""
        rows = self._rows("SELECT * FROM index_gates ORDER BY version DESC LIMIT ?", (limit,))
        return [_gate(r) for r in rows]


def _question(row: dict[str, Any]) -> RegressionQuestion:
    fields = {k: v for k, v in row.items() if k != "folded"}
    return RegressionQuestion(**{**fields, "pages": tuple(json.loads(row["pages"]))})


def _gate(row: dict[str, Any]) -> GateRecord:
    return GateRecord(**{**row, "verdict": json.loads(row["verdict"])})
