"""Feedback nudges in ranking: the votes of the store, embedded once, applied to each search.

See :mod:`kb.nudges` for the rule. Votes and undos are read from the store at most every
:data:`REFRESH_SECONDS`; each voted question is embedded once per model and kept in memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np

from kb.config import Settings
from kb.embedder import Embedder
from kb.models import Hit
from kb.nudges import WINDOW_DAYS, Nudge, Undo, Vote, nudges
from kb.usecases.stores import Stores

REFRESH_SECONDS = 30.0
EXTRA = 5  # pages ranked beyond k, so a page nudged up from just below k can enter


class FeedbackNudges:
    """Moves pages up or down for questions like ones customers voted on (bounded)."""

    def __init__(self, settings: Settings, stores: Stores) -> None:
        self.settings = settings
        self.stores = stores
        self._votes: tuple[list[Vote], list[Undo]] = ([], [])
        self._read = -REFRESH_SECONDS
        self._generation = 0  # bumped at each read of the votes
        # Per embedder: the generation embedded, and the unit vectors of the votes' and the
        # undos' questions, row by row; kept until the votes are read again.
        self._matrices: dict[str, tuple[int, np.ndarray, np.ndarray]] = {}
        self._known: dict[tuple[str, str], np.ndarray] = {}  # (embedder, question) → unit vector
        self._lock = threading.Lock()

    @property
    def on(self) -> bool:
        """Whether votes may move ranking at all (``KB_FEEDBACK_BOOST`` above 0)."""
        return self.settings.feedback_boost > 0

    def refresh(self) -> None:
        """Read the votes and undos again on the next search."""
        self._read = -REFRESH_SECONDS

    def evidence(self) -> tuple[list[Vote], list[Undo]]:
        """Return the votes of the last :data:`WINDOW_DAYS` days and the undos."""
        if time.monotonic() - self._read >= REFRESH_SECONDS:
            since = (datetime.now(UTC) - timedelta(days=WINDOW_DAYS)).isoformat(timespec="seconds")
            if self.stores.read_only() is None:  # nothing stored yet, so no votes
                return [], []
            with self.stores.journal() as journal:
                self._votes = (journal.votes(since), journal.undos())
            self._generation += 1
            self._read = time.monotonic()
        return self._votes

    def for_question(
        self, vector: np.ndarray, embedder: Embedder, now: datetime | None = None
    ) -> dict[str, Nudge]:
        """Return the nudges for a question embedded as ``vector`` by ``embedder``."""
        votes, undos = self.evidence()
        if not self.on or not votes:
            return {}
        q = vector / (np.linalg.norm(vector) or 1.0)
        voted, undone_questions = self._embedded(embedder)
        sims = voted @ q
        undone = list(zip(undos, undone_questions @ q, strict=True))
        return nudges(votes, sims, now or datetime.now(UTC),
                      bound=self.settings.feedback_boost, undos=undone)  # fmt: skip

    def apply(self, hits: Sequence[Hit], nudged: dict[str, Nudge], k: int) -> list[Hit]:
        """Return the ``k`` best of ``hits`` once each nudged page's score is multiplied by
        ``1 + boost`` (the order of the others kept)."""
        if not nudged:
            return list(hits[:k])
        moved = [replace(h, score=h.score * (1 + nudged[h.passage.doc_id].boost))
                 if h.passage.doc_id in nudged else h for h in hits]  # fmt: skip
        return sorted(moved, key=lambda h: -h.score)[:k]

    def review(self, embedder: Embedder, now: datetime | None = None) -> list[Nudge]:
        """Return the nudges votes make now, one per page and group of similar questions
        (named by the voted question most like them), largest first: what editors see and may
        undo."""
        votes, _ = self.evidence()
        if not self.on or not votes:
            return []
        voted, _ = self._embedded(embedder)
        first = {v.query: i for i, v in reversed(list(enumerate(votes)))}
        found: dict[tuple[str, tuple[str, ...]], Nudge] = {}
        for row in first.values():
            for nudge in self.for_question(voted[row], embedder, now).values():
                found.setdefault((nudge.doc_id, tuple(sorted(nudge.queries))), nudge)
        return sorted(found.values(), key=lambda n: (-abs(n.boost), n.doc_id))

    def undo(self, doc_id: str, query: str) -> None:
        """Set aside the votes on ``doc_id`` for questions like ``query`` cast until now."""
        with self.stores.journal() as journal:
            journal.add_undo(doc_id, query)
        self.refresh()

    def _embedded(self, embedder: Embedder) -> tuple[np.ndarray, np.ndarray]:
        """The unit vectors of the votes' and the undos' questions by ``embedder``, row by row,
        built once per read of the votes; each distinct question is embedded once."""
        with self._lock:
            cached = self._matrices.get(embedder.name)
            if cached is not None and cached[0] == self._generation:
                return cached[1], cached[2]
            votes, undos = self._votes
            texts = list(dict.fromkeys([v.query for v in votes] + [u.query for u in undos]))
            new = [t for t in texts if (embedder.name, t) not in self._known]
            if new:
                for text, vector in zip(new, embedder.embed(new, query=True), strict=True):
                    self._known[(embedder.name, text)] = vector / (np.linalg.norm(vector) or 1.0)
            wanted = set(texts)  # questions no longer voted on are forgotten
            self._known = {key: v for key, v in self._known.items() if key[1] in wanted}
            voted, undone = (
                np.array([self._known[(embedder.name, t)] for t in batch]).reshape(-1, embedder.dim)
                for batch in ([v.query for v in votes], [u.query for u in undos])
            )
            self._matrices[embedder.name] = (self._generation, voted, undone)
            return voted, undone
