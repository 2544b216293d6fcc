"""Ingestion: read sources into the store, embed while reading, build and serve a snapshot.

One ingest runs at a time per data directory (:mod:`kb.usecases.locking`). A first ingest
with ``KB_EMBED_MODEL=auto`` reads its first ``FIRST_LOOK`` passages before it starts
embedding, with the model their languages call for; the final choice, over all passages, is
made when the snapshot is built.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import replace
from typing import Any

from index.background import BackgroundEmbedder
from index.build import build_snapshot
from index.versions import Manifest, current_manifest, current_version, prune, switch_to
from ingest.chunking import chunk_sections
from ingest.crawl import CrawlLimits
from ingest.fetch import Fetcher
from ingest.pipeline import IngestOptions, IngestReport, ingest_sources
from kb.config import Settings
from kb.embedder import Embedder
from kb.errors import ConfigError
from kb.models import Document
from kb.progress import Progress
from kb.store import Store, embedding_items
from kb.usecases.embedders import EmbeddingModels
from kb.usecases.gate import Gate
from kb.usecases.locking import ingest_lock
from kb.usecases.retrieval import Retrieval
from kb.usecases.stores import Stores

FIRST_LOOK = 200  # passages a first ingest with auto reads before it picks the model


class Ingestion:
    """Ingests sources into the store and builds the snapshot retrieval serves next."""

    def __init__(
        self,
        settings: Settings,
        models: EmbeddingModels,
        stores: Stores,
        retrieval: Retrieval,
        gate: Gate | None = None,
    ) -> None:
        self.settings = settings
        self.models = models
        self.stores = stores
        self.retrieval = retrieval
        self.gate = gate

    def options(self, **overrides: Any) -> IngestOptions:
        """Return the ingest options the settings give, with ``overrides``."""
        s = self.settings
        limits = CrawlLimits(
            max_pages=s.crawl_max_pages,
            max_depth=s.crawl_max_depth,
            concurrency=s.crawl_concurrency,
            delay=s.crawl_delay,
        )
        options = IngestOptions(
            chunk_words=s.chunk_words,
            limits=limits,
            user_agent=s.user_agent,
            timeout=s.crawl_timeout,
            max_bytes=s.crawl_max_bytes,
            max_file_bytes=s.max_file_bytes,
        )
        return replace(options, **overrides)

    def ingest(
        self,
        sources: Sequence[str],
        *,
        progress: bool = False,
        options: IngestOptions | None = None,
        fetcher: Fetcher | None = None,
        on_document: Callable[[int], None] | None = None,
        lock_held: bool = False,
        force: bool = False,
    ) -> IngestReport:
        """Ingest ``sources`` into the store, then build and switch to a new index snapshot.

        One ingest runs at a time per knowledge base (see :mod:`kb.usecases.locking`; with
        ``lock_held`` the caller holds the lock already); ``on_document`` hears the count of
        documents read so far.

        A dry run reads every source and reports what would change, writing nothing. A new
        snapshot is served only if it passes the evaluation gate (:mod:`kb.usecases.gate`), or
        with ``force``; otherwise it is kept, held back, and the report says why.
        """
        options = options or self.options()
        started = time.perf_counter()
        args = (sources, progress, options, fetcher, on_document, started, force)
        if lock_held:
            return self._ingest(*args)
        with ingest_lock(self.settings.home, self.settings.database_url):
            return self._ingest(*args)

    def _ingest(
        self,
        sources: Sequence[str],
        progress: bool,
        options: IngestOptions,
        fetcher: Fetcher | None,
        on_document: Callable[[int], None] | None,
        started: float,
        force: bool,
    ) -> IngestReport:
        with self.stores.open() as store:
            if options.dry_run:
                report = ingest_sources(store, sources, options=options, fetcher=fetcher)
                report.seconds = time.perf_counter() - started
                return report
            run = store.start_run(sources)
            # Passages are embedded while the sources are read, before their languages are all
            # known: with the model given or set, or the one in use. A first ingest with auto
            # looks at its first FIRST_LOOK passages' languages before it starts embedding, so
            # a Chinese help centre is not embedded with MiniLM first and e5 again after.
            guess = self.models.named or self.models.name
            undecided = (
                self.models.named is None and current_manifest(self.settings.snapshots_dir) is None
            )
            with Progress("Reading", enabled=progress) as bar, ExitStack() as stack:
                background: BackgroundEmbedder | None = None
                waiting: list[list[tuple[str, str]]] = []  # read before the model was chosen
                seen: Counter[str | None] = Counter()  # their passages by language

                def start(model: str) -> BackgroundEmbedder:
                    embedder = BackgroundEmbedder(
                        self.settings.store,
                        model,
                        lambda: self.models.load(model),
                        batch_size=self.settings.embed_batch_size,
                    )
                    stack.enter_context(embedder)
                    for items in waiting:
                        embedder.submit(items)
                    waiting.clear()
                    return embedder

                if not undecided:
                    background = start(guess)
                read_so_far = 0

                def read(doc: Document) -> None:
                    nonlocal read_so_far, background, guess
                    read_so_far += 1
                    if on_document is not None:
                        on_document(read_so_far)
                    bar.step()
                    chunks = chunk_sections(doc.id, doc.sections, options.chunk_words)
                    if background is not None:
                        background.submit(embedding_items(doc, chunks))
                        return
                    waiting.append(embedding_items(doc, chunks))
                    seen[doc.lang] += len(chunks)
                    if seen.total() >= FIRST_LOOK:
                        guess = self.models.choose_for(seen).model
                        background = start(guess)

                report = ingest_sources(
                    store, sources, options=options, fetcher=fetcher, on_document=read
                )
                # A small first ingest is embedded by the snapshot build, with the chosen model.
                embedded_while_reading = background.close() if background else 0
            served = current_version(self.settings.snapshots_dir)
            choice = self.models.choose(store)
            self.models.use(choice.model)
            self.models.ensure_onnx_export()  # before the build: it embeds the answer units
            manifest, embedded = self.build_index(
                store, progress=progress, reason=choice.reason, serve=False
            )
            if manifest.version != served:
                self._serve_if_it_passes(manifest.version, served, report, force)
            elif self.gate is not None:
                self._still_held(served, report)
            report.index_changed = current_version(self.settings.snapshots_dir) != served
            report.embed_model = manifest.model
            # A snapshot kept because nothing changed may predate the reasons (or a rollback's).
            same = manifest.model == choice.model
            report.embed_model_reason = choice.reason if same else manifest.model_reason
            store.prune_embeddings(self.models.name)
            # Passages embedded while reading by a model that was not chosen are not in the index.
            report.chunks_embedded = embedded + (
                embedded_while_reading if guess == self.models.name else 0
            )
            report.index_version = manifest.version
            report.seconds = time.perf_counter() - started
            store.finish_run(run, report.to_dict())
        self.retrieval.invalidate()
        return report

    def _serve_if_it_passes(
        self, built: str, served: str | None, report: IngestReport, force: bool
    ) -> None:
        """Serve the new snapshot ``built`` if the gate passes it (or ``force``); else keep it
        held back. The verdict goes in ``report`` and in the store."""
        if self.gate is None:
            self._serve(built)
            return
        verdict = self.gate.check(served, built)
        status = "passed" if verdict.passed else ("forced" if force else "held")
        self.gate.record(built, status, served, verdict)
        report.gate = {**verdict.to_dict(), "status": status, "version": built}
        if verdict.passed or force:
            self._serve(built)
        else:
            report.held_back = True

    def _still_held(self, served: str | None, report: IngestReport) -> None:
        """Say in ``report`` that a snapshot newer than the one served is held back."""
        assert self.gate is not None
        held = [g for g in self.gate.held() if served is None or g.version > served]
        if held:
            report.held_back = True
            report.gate = {**held[0].verdict, "status": "held", "version": held[0].version}

    def _serve(self, version: str) -> None:
        switch_to(self.settings.snapshots_dir, version)
        prune(self.settings.snapshots_dir, keep=self.settings.index_keep)

    def build_index(
        self, store: Store, *, progress: bool = False, reason: str = "", serve: bool = True
    ) -> tuple[Manifest, int]:
        """Build a snapshot from the store if anything changed; return it and the embed count.

        It is built with the model in use; ``reason`` says why that model, in its manifest.
        With ``serve`` it is served at once; without, the caller serves it (or not).
        """
        with Progress("Embedding", enabled=progress) as bar:
            return build_snapshot(
                store,
                self.models.name,
                lambda: self.models.embedder,
                self.settings.snapshots_dir,
                progress=bar.step,
                batch_size=self.settings.embed_batch_size,
                keep=self.settings.index_keep,
                hnsw_threshold=self.settings.hnsw_threshold,
                model_reason=reason,
                serve=serve,
                unit_embedder=self._unit_embedder if self.settings.answer_unit_vectors else None,
                unit_kinds=self.settings.public,
            )

    def _unit_embedder(self) -> Embedder:
        """The model that embeds questions, and answer units a snapshot lacks: its ONNX export
        when there is one (an ingest makes it before building), else the model itself."""
        try:
            return self.models.query_embedder
        except ConfigError:  # query_backend onnx, and a tuned model being checked has none yet
            return self.models.embedder
