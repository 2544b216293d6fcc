"""The embedding model of one knowledge base: which one, loaded once, and its ONNX export."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from index.choice import AUTO, DEFAULT_MODEL, MULTILINGUAL_MODEL, ModelChoice, choose_model
from index.embedding import languages_of, load_embedder, model_path
from index.onnx import OnnxEmbedder, export_path, set_threads
from index.onnx import export as onnx_export
from index.tuning import tuned_base, tuned_folder
from index.versions import current_manifest
from kb.config import Settings
from kb.embedder import Embedder
from kb.errors import ConfigError
from kb.store import Store

log = logging.getLogger("kb")


def explicit(setting: str) -> str | None:
    """Return the model the ``embed_model`` ``setting`` names, or None for ``auto``."""
    return None if setting.strip().lower() == AUTO else setting


class EmbeddingModels:
    """Which embedding model a knowledge base uses, the model itself and its query embedder.

    An embedder handed in (``given``: tests, benchmarks) is used whatever the content;
    otherwise the model is the one the served snapshot was built with, else the
    ``embed_model`` setting, else the default, and an ingest may change it (:meth:`use`).
    """

    def __init__(self, settings: Settings, given: Embedder | None = None) -> None:
        self.settings = settings
        self.given = given
        self._name: str | None = None
        self._embedder = given
        self._query_embedder: Embedder | None = None

    @property
    def name(self) -> str:
        """The name of the embedding model in use (see the class docstring)."""
        if self.given is not None:
            return self.given.name
        if self._name is None:
            served = current_manifest(self.settings.snapshots_dir)
            setting = self.settings.embed_model
            self._name = served.model if served else explicit(setting) or DEFAULT_MODEL
        return self._name

    @property
    def named(self) -> str | None:
        """The model fixed before any content is read: the one given, or the one set (or the
        served model tuned from it)."""
        if self.given is not None:
            return self.given.name
        setting = explicit(self.settings.embed_model)
        return self._tuned_from(setting) if setting else None

    def _tuned_from(self, model: str) -> str:
        """Return the served model if it was tuned from ``model`` (:mod:`index.tuning`), else
        ``model``: a knowledge base keeps its tuned model until an editor rolls it back."""
        served = current_manifest(self.settings.snapshots_dir)
        if served is not None and tuned_base(served.model) == model:
            return served.model
        return model

    def path(self, name: str) -> Path:
        """Return the folder of model ``name``: a tuned model's, a bundled package's or a path.

        Raises :class:`ConfigError` if there is none.
        """
        if tuned_base(name) is not None:
            return tuned_folder(self.settings.snapshots_dir, name)
        return model_path(name)

    def languages(self, name: str) -> frozenset[str]:
        """Return the languages model ``name`` reads (a tuned model reads its base's)."""
        return languages_of(tuned_base(name) or name)

    def use(self, name: str) -> None:
        """Embed with model ``name`` from now on (a given embedder stays)."""
        if self.given is None and name != self.name:
            self._name = name
            self._embedder = self._query_embedder = None

    def choose(self, store: Store) -> ModelChoice:
        """Return the embedding model for what ``store`` holds, and why.

        ``KB_EMBED_MODEL`` decides when set; with ``auto`` the languages of the stored passages
        do (see :func:`index.choice.choose_model`).
        """
        if self.given is not None:
            return ModelChoice(self.given.name, "given to the knowledge base")
        return self.choose_for(store.passage_languages())

    def choose_for(self, languages: Mapping[str | None, int]) -> ModelChoice:
        """Return the model for passages in ``languages`` (language → count), and why."""
        choice = choose_model(languages, self.settings.embed_model)
        if choice.model == MULTILINGUAL_MODEL and explicit(self.settings.embed_model) is None:
            try:
                self.load(MULTILINGUAL_MODEL)
            except ConfigError:
                choice = choose_model(languages, AUTO, multilingual_installed=False)
        tuned = self._tuned_from(choice.model)
        if tuned != choice.model:
            return ModelChoice(tuned, f"{choice.reason}; tuned on this knowledge base")
        return choice

    def load(self, name: str) -> Embedder:
        """Return the model ``name`` (the given embedder if any), loaded once per process."""
        if self.given is not None:
            return self.given
        s = self.settings
        if tuned_base(name) is None:
            return load_embedder(name, s.embed_batch_size, s.models_dir)
        return load_embedder(
            name, s.embed_batch_size, s.models_dir, self.path(name), self.languages(name)
        )

    @property
    def embedder(self) -> Embedder:
        """The embedding model in use, loaded on first use."""
        if self._embedder is None:
            self._embedder = self.load(self.name)
        return self._embedder

    @property
    def query_embedder(self) -> Embedder:
        """The query embedder: the ONNX export when there is one (serving then needs no torch)."""
        if self._query_embedder is None:
            export = self._onnx_path()
            backend = self.settings.query_backend
            if backend != "torch" and export is not None and export.exists():
                name = self.name
                self._query_embedder = OnnxEmbedder(
                    name, export, self.path(name), self.languages(name)
                )
            elif backend == "onnx":
                raise ConfigError("query_backend is onnx but no export exists yet: run kb ingest")
            else:
                self._query_embedder = self.embedder
        return self._query_embedder

    def share_cores(self, workers: int) -> None:
        """Embed with this process's share of the cores, one of ``workers`` serving processes:
        the ONNX sessions made from now on (see ``index.onnx.set_threads``)."""
        set_threads((os.cpu_count() or 1) // max(workers, 1))

    def _onnx_path(self) -> Path | None:
        try:
            name = self.name
            return export_path(self.settings.models_dir, name, self.path(name))
        except ConfigError:
            return None

    def ensure_onnx_export(self) -> None:
        """Export the embedding model to ONNX once, for serving without torch."""
        export = self._onnx_path()
        if self.settings.query_backend == "torch" or export is None or export.exists():
            return
        try:
            onnx_export(self.path(self.name), export)
        except Exception as e:  # serving falls back to torch; say why once
            log.warning("could not export the model to ONNX (%s); queries will use torch", e)
