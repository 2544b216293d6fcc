"""The regression questions of a knowledge base: kept, grown, edited, and asked.

Questions come from editors (the editors' page and ``kb regressions add``), from accepted FAQ
entries and helpful feedback (added as they happen, see :func:`from_feedback`), and from files
(``kb regressions import questions.jsonl``: lines of ``{"question", "pages"}``). A page is a
document id, kb's link to it (``/articles/<id>#…``) or the document's own URL. The set is what
the evaluation gate scores every new snapshot on, and what ``kb eval --answers`` measures when
it is given no folder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from kb.config import Settings
from kb.errors import InvalidInput, SourceError
from kb.links import ARTICLES
from kb.regressions import RegressionQuestion
from kb.usecases.answering import Answering
from kb.usecases.gate import Scores, score
from kb.usecases.retrieval import Retrieval
from kb.usecases.stores import Stores


class RegressionSet:
    """The regression questions: add, edit, retire, import, and score the served snapshot."""

    def __init__(self, settings: Settings, stores: Stores, retrieval: Retrieval,
                 answering: Answering) -> None:  # fmt: skip
        self.settings = settings
        self.stores = stores
        self.retrieval = retrieval
        self.answering = answering

    def questions(self, status: str | None = "active") -> list[RegressionQuestion]:
        """Return the questions of ``status`` (None: all), oldest first."""
        with self.stores.regressions() as regressions:
            return regressions.questions(status)

    def add(self, question: str, pages: Sequence[str], *, origin: str = "editor",
            note: str = "", ref: str | None = None) -> RegressionQuestion | None:  # fmt: skip
        """Add a question answered by ``pages`` (ids, kb links or URLs of stored documents).

        Raises :class:`InvalidInput` for an empty question or a page kb does not hold; returns
        None when ``ref`` was added before.
        """
        ids = self.document_ids(pages)
        with self.stores.regressions() as regressions:
            return regressions.add(question, ids, origin, ref=ref, note=note)

    def edit(self, question_id: int, *, question: str | None = None,
             pages: Sequence[str] | None = None, note: str | None = None,
             status: str | None = None) -> RegressionQuestion:  # fmt: skip
        """Change a question; ``status="retired"`` retires it, ``"active"`` brings it back."""
        ids = None if pages is None else self.document_ids(pages)
        with self.stores.regressions() as regressions:
            return regressions.edit(question_id, question=question, pages=ids, note=note,
                                    status=status)  # fmt: skip

    def document_ids(self, pages: Sequence[str]) -> list[str]:
        """Return the stored documents ``pages`` name; raise :class:`InvalidInput` naming the
        first page that names none."""
        if isinstance(pages, str) or not isinstance(pages, Sequence):
            raise InvalidInput("pages must be a list of document ids or links")
        store = self.stores.read_only()
        if store is None:
            raise InvalidInput("the knowledge base holds no documents yet")
        ids = []
        with store:
            for page in pages:
                if not isinstance(page, str) or not page.strip():
                    raise InvalidInput("pages must be a list of document ids or links")
                found = _document_id(page.strip(), store)
                if found is None:
                    raise InvalidInput(f"no document {page.strip()[:200]!r}")
                ids.append(found)
        return ids

    def import_file(self, path: Path) -> tuple[int, list[str]]:
        """Add the questions of a JSONL file (``{"question", "pages"}`` per line), or of a
        help-centre set's ``questions.jsonl`` (the labelled questions kb is measured and
        calibrated with); return how many were added and a reason for each line skipped.
        Raises :class:`SourceError` for a file that cannot be read."""
        if path.is_dir():
            path = path / "questions.jsonl"
        try:
            lines = path.read_text("utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise SourceError(f"cannot read {path}: {e}") from None
        added, skipped = 0, []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                if not isinstance(item, dict):
                    raise InvalidInput("expected a JSON object")
                pages = item.get("pages")
                if not isinstance(pages, list):
                    raise InvalidInput("pages must be a list")
                made = self.add(str(item.get("question", "")), pages, origin="import",
                                ref=f"import:{item['id']}" if item.get("id") else None)  # fmt: skip
            except (ValueError, InvalidInput) as e:
                message = e.message if isinstance(e, InvalidInput) else "not valid JSON"
                skipped.append(f"{path.name}:{number}: {message}")
                continue
            added += made is not None
        return added, skipped

    def score(self) -> Scores:
        """Score the served snapshot on the active questions (as the gate does)."""
        return score(self.questions(), self.retrieval.searcher(), self.retrieval, self.answering)


def _document_id(page: str, store: Any) -> str | None:
    """The id of the stored document ``page`` names: its id, kb's link to it, its URL, or its
    path relative to its site (``tools/crop.html#options``, as help-centre sets label)."""
    candidates = [page]
    parts = urlsplit(page)
    if parts.path.startswith(ARTICLES):
        query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
        candidates.append(unquote(query["id"]) if "id" in query else unquote(parts.path[len(
            ARTICLES):]))  # fmt: skip
    for candidate in candidates:
        if candidate and store.has_document(candidate):
            return candidate
    if parts.scheme in ("http", "https"):
        return store.document_id_at(page.split("#", 1)[0])
    path = page.split("#", 1)[0]
    return store.document_id_under(path) if "/" in path or "." in path else None
