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
from index.versions import Manifest, current_manifest, current_version
from ingest.chunking import chunk_sections
from ingest.crawl import CrawlLimits
from ingest.fetch import Fetcher
from ingest.pipeline import IngestOptions, IngestReport, ingest_sources
from kb.config import Settings
from kb.models import Document
from kb.progress import Progress
from kb.store import Store, embedding_items
from kb.usecases.embedders import EmbeddingModels
from kb.usecases.locking import ingest_lock
from kb.usecases.retrieval import Retrieval
from kb.usecases.stores import Stores

FIRST_LOOK = 200  # passages a first ingest with auto reads before it picks the model


class Ingestion:
    """Ingests sources into the store and builds the snapshot retrieval serves next."""

    def __init__(
        self, settings: Settings, models: EmbeddingModels, stores: Stores, retrieval: Retrieval
    ) -> None:
        self.settings = settings
        self.models = models
        self.stores = stores
        self.retrieval = retrieval

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
    ) -> IngestReport:
        """Ingest ``sources`` into the store, then build and switch to a new index snapshot.

        One ingest runs at a time per knowledge base (see :mod:`kb.usecases.locking`; with
        ``lock_held`` the caller holds the lock already); ``on_document`` hears the count of
        documents read so far.

        A dry run reads every source and reports what would change, writing nothing.
        """
        options = options or self.options()
        started = time.perf_counter()
        if lock_held:
            return self._ingest(sources, progress, options, fetcher, on_document, started)
        with ingest_lock(self.settings.home, self.settings.database_url):
            return self._ingest(sources, progress, options, fetcher, on_document, started)

    def _ingest(
        self,
        sources: Sequence[str],
        progress: bool,
        options: IngestOptions,
        fetcher: Fetcher | None,
        on_document: Callable[[int], None] | None,
        started: float,
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
            manifest, embedded = self.build_index(store, progress=progress, reason=choice.reason)
            report.index_changed = manifest.version != served
            report.embed_model = manifest.model
            # A snapshot kept because nothing changed may predate the reasons (or a rollback's).
            same = manifest.model == choice.model
            report.embed_model_reason = choice.reason if same else manifest.model_reason
            store.prune_embeddings(self.models.name)
            self.models.ensure_onnx_export()
            # Passages embedded while reading by a model that was not chosen are not in the index.
            report.chunks_embedded = embedded + (
                embedded_while_reading if guess == self.models.name else 0
            )
            report.index_version = manifest.version
            report.seconds = time.perf_counter() - started
            store.finish_run(run, report.to_dict())
        self.retrieval.invalidate()
        return report

    def build_index(
        self, store: Store, *, progress: bool = False, reason: str = ""
    ) -> tuple[Manifest, int]:
        """Build a snapshot from the store if anything changed; return it and the embed count.

        It is built with the model in use; ``reason`` says why that model, in its manifest.
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
            )
