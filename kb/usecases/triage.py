"""Ticket triage: a router trained on labelled tickets predicts the queue and priority of text."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ingest.tickets import labelled_tickets
from kb.config import Settings
from kb.errors import NotReady
from kb.router import Router, load_router
from kb.usecases.embedders import EmbeddingModels
from kb.usecases.validation import clean_query


class Triage:
    """Trains, versions and serves the router under ``models_dir/router``."""

    def __init__(self, settings: Settings, models: EmbeddingModels) -> None:
        self.settings = settings
        self.models = models
        self._router: tuple[str, Router] | None = None

    @property
    def router_dir(self) -> Path:
        """Where trained routers are versioned: under ``KB_HOME``, never in a model cache that
        other knowledge bases share (``KB_MODEL_CACHE``), since a router is this one's own."""
        return self.settings.home / "models" / "router"

    def version(self) -> str | None:
        """The version of the router being served, or None when none is trained."""
        current = self.router_dir / "CURRENT"
        return current.read_text().strip() if current.is_file() else None

    def router(self) -> Router | None:
        """The router being served (reloaded when another is trained or rolled back), or None."""
        version = self.version()
        if version is None:
            return None
        if self._router is None or self._router[0] != version:
            router, version = load_router(self.router_dir)
            self._router = (version, router)
        return self._router[1]

    def route(self, text: Any) -> dict[str, dict[str, Any]]:
        """Return each trained field's label (queue, priority) and confidence for ``text``.

        Raises :class:`kb.errors.InvalidInput` for text that is not a non-empty string within
        ``max_request_bytes``, :class:`NotReady` when no router is trained.
        """
        text = clean_query(text, self.settings.max_request_bytes, name="text")
        router = self.router()
        if router is None:
            raise NotReady("no router is trained yet: run `kb train-router TICKETS` first")
        (predicted,) = router.predict([text], self.models.query_embedder)
        return {f: {"label": label, "confidence": round(p, 3)} for f, (label, p) in
                predicted.items()}  # fmt: skip

    def train(
        self, paths: Sequence[Path], fields: Sequence[str] = ("queue", "priority"),
        mapping: dict[str, str] | None = None,
    ) -> tuple[str, int]:  # fmt: skip
        """Train a router on labelled ticket exports and serve it; return its version and size."""
        examples = [e for p in paths for e in labelled_tickets(p, fields, mapping)]
        texts = [e.text for e in examples]
        labels = {f: [e.labels[f] for e in examples] for f in fields}
        router = Router.train(texts, labels, self.models.query_embedder, self.models.name)
        version = router.save(self.router_dir)
        self._router = None
        return version, len(texts)
