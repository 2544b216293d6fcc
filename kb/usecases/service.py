"""The knowledge base as one object: the CLI and the web layer both call these methods."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

from index.background import BackgroundEmbedder
from index.choice import AUTO, DEFAULT_MODEL, MULTILINGUAL_MODEL, ModelChoice, choose_model
from index.embedding import languages_of, load_embedder, model_path
from index.onnx import OnnxEmbedder, export_path
from index.onnx import export as onnx_export
from index.search import Query, Searcher
from index.snapshot import (
    Drift,
    Manifest,
    Snapshot,
    build_snapshot,
    current_manifest,
    current_version,
    drift,
    list_versions,
    load_current,
    switch_to,
)
from ingest.chunking import chunk_sections
from ingest.crawl import CrawlLimits
from ingest.fetch import Fetcher
from ingest.pipeline import IngestOptions, IngestReport, ingest_sources
from ingest.tickets import labelled_tickets
from kb.answer import Event, answer_question, escalation_text, missing_names, stream_answer
from kb.confidence import Calibrator, features
from kb.config import Settings
from kb.conversation import MAX_TURNS, Known, faithful, is_follow_up, standalone
from kb.embedder import Embedder
from kb.errors import ConfigError, InvalidInput, KbError, NotFound, NotReady
from kb.feedback import parse_feedback
from kb.generate import ExtractiveGenerator, Generator
from kb.llm import UpstreamError
from kb.models import Answer, Document, Escalation, Filter, Hit, UserContext
from kb.progress import Progress
from kb.redact import redact
from kb.router import Router, load_router
from kb.routing import NEIGHBOURS, vote
from kb.store import Store, StoredDocument, embedding_items
from kb.telemetry import ANSWERS, FEEDBACK, RETRIEVAL_SECONDS, timed
from kb.text import normalize
from kb.usecases.locking import ingest_lock

log = logging.getLogger("kb")


def clean_query(text: Any, max_chars: int, name: str = "query") -> str:
    """Return the normalised query, or raise :class:`InvalidInput` saying what is wrong."""
    if not isinstance(text, str):
        raise InvalidInput(f"{name} must be a string")
    if len(text) > max_chars:
        raise InvalidInput(f"{name} is too long: {len(text)} characters (at most {max_chars})")
    text = normalize(text)
    if not text:
        raise InvalidInput(f"{name} is empty")
    return text


FIELD_NAME = re.compile(r"^[A-Za-z0-9_]{1,40}$")
LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8}){0,3}$")
# Passages a first ingest with KB_EMBED_MODEL=auto reads before it picks the model to embed
# them with (the final choice, over all passages, is made when the snapshot is built).
FIRST_LOOK = 200


def user_context(raw: Any, fields: Sequence[str]) -> UserContext:
    """Return the user context in ``raw`` ({"product": …, "plan": …, "locale": …}).

    Raise :class:`InvalidInput` naming the problem: not an object, a field that is not one of
    ``fields`` or ``locale``, a value that is not a short string, a malformed locale.
    """
    if raw is None:
        return UserContext()
    if not isinstance(raw, dict):
        raise InvalidInput('context must be an object such as {"product": "hub"}')
    labels = []
    for key, value in raw.items():
        if key not in (*fields, "locale"):
            allowed = ", ".join((*fields, "locale"))
            raise InvalidInput(f"context field {str(key)[:40]!r} is not one of: {allowed}")
        if value is None or value == "":
            continue
        if not isinstance(value, str) or len(value) > 100:
            raise InvalidInput(f"context {key} must be a string of at most 100 characters")
        if key == "locale":
            if not LOCALE.match(value):
                raise InvalidInput(f"context locale {value[:40]!r} is not a tag like fr-CA")
        else:
            labels.append((key, value.strip()))
    locale = raw.get("locale") or None
    return UserContext(labels=tuple(sorted(labels)), locale=locale)


def check_filter(where: Filter) -> None:
    """Raise :class:`InvalidInput` unless the filter is small and well formed."""
    if len(where.meta) > 5 or len(where.kinds or ()) + len(where.langs or ()) > 20:
        raise InvalidInput("too many filter values (at most 5 metadata fields, 20 kinds/languages)")
    for field, value in where.meta:
        if not FIELD_NAME.match(field):
            raise InvalidInput(f"bad metadata field name {field[:40]!r}")
        if len(value) > 200:
            raise InvalidInput(f"metadata value for {field} is too long (at most 200 characters)")
    for value in (*(where.kinds or ()), *(where.langs or ())):
        if len(value) > 40:
            raise InvalidInput("kind and lang values are at most 40 characters")


class KnowledgeBase:
    """Store, index and answerer behind the operations users have."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self._given = embedder  # an embedder handed in is used whatever the content
        self._model: str | None = None
        self._query_embedder: Embedder | None = None
        self._llm: Generator | None = None
        self._searcher: Searcher | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._router: tuple[str, Router] | None = None
        self._writer: Store | None = None
        self._reader: Store | None = None
        self._writer_lock = threading.Lock()

    @property
    def model(self) -> str:
        """The name of the embedding model in use.

        The one the served snapshot was built with (queries must be embedded alike), else the
        ``embed_model`` setting, else (``auto`` before any ingest) the default. An ingest may
        change it (see :meth:`choose_model`).
        """
        if self._given is not None:
            return self._given.name
        if self._model is None:
            served = current_manifest(self.settings.index_dir)
            setting = self.settings.embed_model
            self._model = served.model if served else _explicit(setting) or DEFAULT_MODEL
        return self._model

    def _use_model(self, name: str) -> None:
        """Embed with model ``name`` from now on (a given embedder stays)."""
        if self._given is None and name != self.model:
            self._model = name
            self._embedder = self._query_embedder = None

    def choose_model(self, store: Store) -> ModelChoice:
        """Return the embedding model for what ``store`` holds, and why.

        ``KB_EMBED_MODEL`` decides when set; with ``auto`` the languages of the stored passages
        do (see :func:`index.choice.choose_model`). An embedder handed to this object is used
        whatever they are.
        """
        if self._given is not None:
            return ModelChoice(self._given.name, "given to the knowledge base")
        return self._choice_for(store.passage_languages())

    def _choice_for(self, languages: Mapping[str | None, int]) -> ModelChoice:
        choice = choose_model(languages, self.settings.embed_model)
        if choice.model == MULTILINGUAL_MODEL and _explicit(self.settings.embed_model) is None:
            try:
                load_embedder(
                    MULTILINGUAL_MODEL, self.settings.embed_batch_size, self.settings.models_dir
                )
            except ConfigError:
                return choose_model(languages, AUTO, multilingual_installed=False)
        return choice

    @property
    def embedder(self) -> Embedder:
        """The embedding model, loaded on first use."""
        if self._embedder is None:
            self._embedder = load_embedder(
                self.model,
                self.settings.embed_batch_size,
                self.settings.models_dir,
            )
        return self._embedder

    @property
    def query_embedder(self) -> Embedder:
        """The query embedder: the ONNX export when there is one (serving then needs no torch)."""
        if self._query_embedder is None:
            export = self._onnx_path()
            if self.settings.query_backend != "torch" and export is not None and export.exists():
                name = self.model
                self._query_embedder = OnnxEmbedder(
                    name, export, model_path(name), languages_of(name)
                )
            elif self.settings.query_backend == "onnx":
                raise ConfigError("query_backend is onnx but no export exists yet: run kb ingest")
            else:
                self._query_embedder = self.embedder
        return self._query_embedder

    def _onnx_path(self) -> Path | None:
        try:
            name = self.model
            return export_path(self.settings.models_dir, name, model_path(name))
        except ConfigError:
            return None

    def ensure_onnx_export(self) -> None:
        """Export the embedding model to ONNX once, for serving without torch."""
        export = self._onnx_path()
        if self.settings.query_backend == "torch" or export is None or export.exists():
            return
        try:
            onnx_export(model_path(self.model), export)
        except Exception as e:  # serving falls back to torch; say why once
            log.warning("could not export the model to ONNX (%s); queries will use torch", e)

    def open_store(self) -> Store:
        """Open the SQLite store (the caller closes it)."""
        return Store(self.settings.store_path)

    def writer(self) -> Store:
        """A connection kept open for the small writes serving makes (query log, feedback).

        Opening the store for each request would check migrations and connect every time;
        the store's lock makes the one connection safe across request threads.
        """
        with self._writer_lock:
            if self._writer is None:
                self._writer = Store(self.settings.store_path)
            return self._writer

    def reader(self) -> Store:
        """A read-only connection kept open for the small reads every request makes (API keys).

        It has a lock of its own, so these reads never wait for the writer's lock; in WAL mode
        each read sees every write committed before it (a revoked key is refused at once).
        """
        with self._writer_lock:
            if self._reader is None:
                if self._writer is None:  # the writer creates and migrates the store first
                    self._writer = Store(self.settings.store_path)
                self._reader = Store.reader(self.settings.store_path)
            assert self._reader is not None
            return self._reader

    # ingestion ---------------------------------------------------------------------------

    def ingest_options(self, **overrides: Any) -> IngestOptions:
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
    ) -> IngestReport:
        """Ingest ``sources`` into the store, then build and switch to a new index snapshot.

        One ingest runs at a time per data directory (a lock file says so); ``on_document``
        hears the count of documents read so far.

        A dry run reads every source and reports what would change, writing nothing.
        """
        options = options or self.ingest_options()
        started = time.perf_counter()
        with ingest_lock(self.settings.home):
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
        store = self.open_store()
        run = None
        try:
            if options.dry_run:
                report = ingest_sources(store, sources, options=options, fetcher=fetcher)
                report.seconds = time.perf_counter() - started
                return report
            run = store.start_run(sources)
            # Passages are embedded while the sources are read, before their languages are all
            # known: with the model given or set, or the one in use. A first ingest with auto
            # looks at its first FIRST_LOOK passages' languages before it starts embedding, so
            # a Chinese help centre is not embedded with MiniLM first and e5 again after.
            guess = (
                self.model if self._given else _explicit(self.settings.embed_model) or self.model
            )
            undecided = (
                self._given is None
                and _explicit(self.settings.embed_model) is None
                and current_manifest(self.settings.index_dir) is None
            )
            with Progress("Reading", enabled=progress) as bar, ExitStack() as stack:
                background: BackgroundEmbedder | None = None
                waiting: list[list[tuple[str, str]]] = []  # read before the model was chosen
                seen: Counter[str | None] = Counter()  # their passages by language

                def start(model: str) -> BackgroundEmbedder:
                    embedder = BackgroundEmbedder(
                        self.settings.store_path,
                        model,
                        lambda: (
                            self._given
                            or load_embedder(
                                model, self.settings.embed_batch_size, self.settings.models_dir
                            )
                        ),
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
                        guess = self._choice_for(seen).model
                        background = start(guess)

                report = ingest_sources(
                    store, sources, options=options, fetcher=fetcher, on_document=read
                )
                # A small first ingest is embedded by the snapshot build, with the chosen model.
                embedded_while_reading = background.close() if background else 0
            served = current_version(self.settings.index_dir)
            choice = self.choose_model(store)
            self._use_model(choice.model)
            manifest, embedded = self.build_index(store, progress=progress, reason=choice.reason)
            report.index_changed = manifest.version != served
            report.embed_model = manifest.model
            # A snapshot kept because nothing changed may predate the reasons (or a rollback's).
            same = manifest.model == choice.model
            report.embed_model_reason = choice.reason if same else manifest.model_reason
            store.prune_embeddings(self.model)
            self.ensure_onnx_export()
            # Passages embedded while reading by a model that was not chosen are not in the index.
            report.chunks_embedded = embedded + (
                embedded_while_reading if guess == self.model else 0
            )
            report.index_version = manifest.version
            report.seconds = time.perf_counter() - started
            store.finish_run(run, report.to_dict())
        finally:
            store.close()
        self._searcher = None
        return report

    def build_index(
        self, store: Store, *, progress: bool = False, reason: str = ""
    ) -> tuple[Manifest, int]:
        """Build a snapshot from the store if anything changed; return it and the embed count.

        It is built with :attr:`model`; ``reason`` says why that model, in its manifest.
        """
        with Progress("Embedding", enabled=progress) as bar:
            return build_snapshot(
                store,
                self.model,
                lambda: self.embedder,
                self.settings.index_dir,
                progress=bar.step,
                batch_size=self.settings.embed_batch_size,
                keep=self.settings.index_keep,
                hnsw_threshold=self.settings.hnsw_threshold,
                model_reason=reason,
            )

    # index versions ----------------------------------------------------------------------

    def index_versions(self) -> tuple[list[Manifest], str | None]:
        """Return every snapshot and the name of the one served."""
        index_dir = self.settings.index_dir
        return list_versions(index_dir), current_version(index_dir)

    def rollback(self, version: str) -> Drift:
        """Serve snapshot ``version`` from now on, once it has loaded and checked out whole.

        Returns how its documents differ from the store's: those it still cites that were
        removed or changed since (kb's article pages serve them as the snapshot has them).
        Raises :class:`NotFound` for no such snapshot, :class:`KbError` (503) for a damaged one.
        """
        if not re.fullmatch(r"v[0-9]{1,12}", version):  # a name, never a path or a novel
            raise NotFound(f"no index snapshot {version[:40]!r}")
        directory = self.settings.index_dir / version
        snapshot = None
        if (directory / "manifest.json").is_file():
            snapshot = Snapshot(directory)  # raises, naming the damage, if it cannot be served
        switch_to(self.settings.index_dir, version)
        self._searcher = None
        if snapshot is None:
            return Drift()
        store = Store.reader(self.settings.store_path)
        try:
            return drift(snapshot.document_versions(), store.versions() if store else {})
        finally:
            if store is not None:
                store.close()

    # retrieval ---------------------------------------------------------------------------

    def searcher(self) -> Searcher:
        """Return a searcher over the snapshot being served, reloading when it changes."""
        now = time.monotonic()
        current = self._searcher
        if current is not None and now - self._checked < self.settings.reload_interval:
            return current
        self._checked = now
        version = current_version(self.settings.index_dir)
        if current is not None and current.version == version:
            return current
        # One thread loads the new snapshot; the others keep serving the current one.
        if current is not None and not self._lock.acquire(blocking=False):
            return current
        if current is None:
            self._lock.acquire()
        try:
            if self._searcher is not None and self._searcher.version == version:
                return self._searcher
            try:
                snapshot: Snapshot = load_current(self.settings.index_dir)
            except KbError as e:
                if self._searcher is None:
                    raise
                log.error("index %s not loaded, still serving %s: %s",
                          version, self._searcher.version, e.message)  # fmt: skip
                return self._searcher
            self._use_model(snapshot.manifest.model)  # its passages' model embeds the queries
            self._searcher = Searcher(
                snapshot,
                self.query_embedder,
                candidates=self.settings.search_candidates,
                dense_weight=self.settings.dense_weight,
            )
            log.debug("serving index %s", snapshot.version)
            return self._searcher
        finally:
            self._lock.release()

    def search(
        self,
        query: str,
        k: int = 10,
        method: str = "hybrid",
        where: Filter | None = None,
        searcher: Searcher | None = None,
        context: UserContext | None = None,
    ) -> list[Hit]:
        """Return the best section of each of the ``k`` best documents for ``query``."""
        query = clean_query(query, self.settings.max_query_chars)
        if not 1 <= k <= self.settings.max_k:
            raise InvalidInput(f"k must be between 1 and {self.settings.max_k}")
        return self.rank(query, k, method, where, searcher, context)

    def rank_page(
        self,
        query: str,
        k: int,
        page: int,
        where: Filter | None = None,
        searcher: Searcher | None = None,
        context: UserContext | None = None,
    ) -> list[Hit]:
        """Return page ``page`` (from 1) of ``k`` documents, and the first of the next page
        when there is one (so ``len > k`` means more follow)."""
        query = clean_query(query, self.settings.max_query_chars)
        hits = self.rank(query, page * k + 1, "hybrid", where, searcher, context)
        return hits[(page - 1) * k :]

    def public_filter(self, where: Filter | None = None) -> Filter:
        """Return ``where`` narrowed to the public kinds; asking for a private kind is an error."""
        public = self.settings.public
        if where is None:
            return Filter(kinds=public)
        check_filter(where)
        if where.kinds is not None and not where.kinds <= public:
            raise InvalidInput(f"kind must be one of: {', '.join(sorted(public))}")
        return replace(where, kinds=where.kinds if where.kinds is not None else public)

    def rank(
        self,
        query: str | Query,
        k: int,
        method: str = "hybrid",
        where: Filter | None = None,
        searcher: Searcher | None = None,
        context: UserContext | None = None,
    ) -> list[Hit]:
        """Rank documents for a validated query (search and evaluation share this).

        ``query`` may be prepared once with ``searcher().query(text)`` to rank it many ways;
        pass ``searcher`` to pin one snapshot across calls.
        """
        searcher = searcher or self.searcher()
        prepared = searcher.query(query) if isinstance(query, str) else query
        context = context or UserContext()
        with timed(RETRIEVAL_SECONDS):
            return searcher.pages(
                prepared,
                k,
                method=method,
                where=context.narrow(self.public_filter(where)),
                prefer=context.preferences(),
            )

    def answer(
        self,
        question: str,
        generator: Generator | None = None,
        searcher: Searcher | None = None,
        history: Sequence[str] = (),
        context: UserContext | None = None,
        *,
        channel: str | None = None,
        conversation: str | None = None,
    ) -> Answer:
        """Answer ``question`` with cited passages, or refuse with the closest articles.

        ``history`` holds the conversation's earlier questions, oldest first: a follow-up is
        made standalone with them before retrieval. ``context`` (product, plan, locale)
        narrows and orders retrieval. With a ``channel`` ("api", "page") the question and how
        kb did are logged, redacted, under ``conversation`` (see :meth:`log_query`).
        """
        searcher = searcher or self.searcher()
        answer = answer_question(**self._plan(question, generator, searcher, history, context))
        answer = self.escalate(answer, searcher) if answer.refused else answer
        if channel is not None:
            self.log_query(answer, channel, conversation, searcher.version)
        return answer

    def answer_stream(
        self,
        question: str,
        generator: Generator | None = None,
        searcher: Searcher | None = None,
        history: Sequence[str] = (),
        context: UserContext | None = None,
        *,
        channel: str | None = None,
        conversation: str | None = None,
    ) -> Iterator[Event]:
        """Like :meth:`answer`, as events (see :func:`kb.answer.stream_answer`); the answer is
        logged when its ``done`` event is produced.

        Bad input raises here, before the first event, so it can still be a 4xx.
        """
        pinned = searcher or self.searcher()
        events = stream_answer(**self._plan(question, generator, pinned, history, context))

        def finished(answer: Answer) -> Answer:
            answer = self.escalate(answer, pinned) if answer.refused else answer
            if channel is not None:
                self.log_query(answer, channel, conversation, pinned.version)
            return answer

        return ((name, finished(value) if name == "done" else value) for name, value in events)

    def log_query(
        self, answer: Answer, channel: str, conversation: str | None, index_version: str | None
    ) -> None:
        """Record a question and how kb did, redacted, for the gap report and the KPIs (unless
        the ``query_log`` setting is off); count it in the answers metric either way."""
        ANSWERS.labels("refused" if answer.refused else "answered", answer.mode).inc()
        if not self.settings.query_log:
            return
        self.writer().log_query(
            {
                "channel": channel,
                "query": redact(answer.question).text,
                "refused": int(answer.refused),
                "confidence": answer.confidence,
                "top_doc": answer.citations[0].doc_id if answer.citations else None,
                "index_version": index_version,
                "conversation_id": conversation,
            }
        )

    def escalate(self, answer: Answer, searcher: Searcher) -> Answer:
        """Add to a refusal where to take the question: the trained router's queue when there
        is one, else the department the most similar resolved tickets went to."""
        routed = self.route(answer.question) if self.router() is not None else {}
        if "queue" in routed:
            department, share = routed["queue"]["label"], routed["queue"]["confidence"]
        else:
            tickets = searcher.search(searcher.query(answer.question), NEIGHBOURS,
                                      where=Filter(kinds=frozenset({"ticket"})))  # fmt: skip
            chunk_ids = [h.passage.chunk_id for h in tickets]
            department, share = vote(tickets, searcher.field_values(chunk_ids, "queue"))
        contact, given = self.settings.escalation_contact, self.settings.escalation_text
        if department is None and not contact and not given:
            return answer
        text = given or escalation_text(department, contact, answer.question)
        return replace(answer, escalation=Escalation(department, share, contact, text))

    def _plan(
        self,
        question: str,
        generator: Generator | None,
        searcher: Searcher,
        history: Sequence[str],
        context: UserContext | None,
    ) -> dict[str, Any]:
        """Validate, make the question standalone, retrieve, pick the generators.

        Returns the arguments of :func:`kb.answer.answer_question` and ``stream_answer``.
        """
        question = clean_query(question, self.settings.max_query_chars, name="question")
        previous = [clean_query(q, self.settings.max_query_chars, "history question")
                    for q in history[-MAX_TURNS:]]  # fmt: skip
        llm = self.llm()
        query = self.standalone(question, previous, llm, searcher.knows)
        context = context or UserContext()
        with timed(RETRIEVAL_SECONDS):
            hits = searcher.pages(
                searcher.query(query),
                10,
                where=context.narrow(self.public_filter()),
                prefer=context.preferences(),
                support=1,
            )
        extractive = ExtractiveGenerator(self.query_embedder)
        known = searcher.knows
        return {
            "question": query,
            "hits": hits,
            "generator": generator or llm or extractive,
            "passages": self.settings.answer_passages,
            "min_confidence": self.settings.min_confidence,
            "fallback": extractive,
            "missing": missing_names(query, known),
            "probability": Calibrator().probability(
                features(hits, known, query, searcher.above_chance)
            ),
        }

    def standalone(
        self, question: str, previous: Sequence[str], llm: Generator | None, known: Known
    ) -> str:
        """Return the follow-up ``question`` made standalone: by the model if any, else by rule.

        ``known`` tells the terms the index has: a short question naming one is a new one.
        """
        if not previous or not is_follow_up(question, known):
            return question
        rewrite = getattr(llm, "rewrite", None)
        if rewrite is not None:
            try:
                query = clean_query(rewrite(question, previous), self.settings.max_query_chars)
                if faithful(query, question, previous):
                    return query
                log.warning("follow-up rewrite left the conversation, using the rule: %r", query)
            except (UpstreamError, InvalidInput) as e:
                log.warning("follow-up rewrite failed, using the rule: %s", e)
        return standalone(question, previous, known)

    # routing -----------------------------------------------------------------------------

    @property
    def router_dir(self) -> Path:
        """Where trained routers are versioned."""
        return self.settings.models_dir / "router"

    def router(self) -> Router | None:
        """The router being served (reloaded when another is trained or rolled back), or None."""
        current = self.router_dir / "CURRENT"
        if not current.is_file():
            return None
        version = current.read_text().strip()
        if self._router is None or self._router[0] != version:
            router, version = load_router(self.router_dir)
            self._router = (version, router)
        return self._router[1]

    def route(self, text: Any) -> dict[str, dict[str, Any]]:
        """Return each trained field's label (queue, priority) and confidence for ``text``."""
        text = clean_query(text, self.settings.max_request_bytes, name="text")
        router = self.router()
        if router is None:
            raise NotReady("no router is trained yet: run `kb train-router TICKETS` first")
        (predicted,) = router.predict([text], self.query_embedder)
        return {f: {"label": label, "confidence": round(p, 3)} for f, (label, p) in
                predicted.items()}  # fmt: skip

    def train_router(
        self, paths: Sequence[Path], fields: Sequence[str] = ("queue", "priority"),
        mapping: dict[str, str] | None = None,
    ) -> tuple[str, int]:  # fmt: skip
        """Train a router on labelled ticket exports and serve it; return its version and size."""
        examples = [e for p in paths for e in labelled_tickets(p, fields, mapping)]
        texts = [e.text for e in examples]
        labels = {f: [e.labels[f] for e in examples] for f in fields}
        router = Router.train(texts, labels, self.query_embedder, self.model)
        version = router.save(self.router_dir)
        self._router = None
        return version, len(texts)

    def llm(self) -> Generator | None:
        """The language-model generator when an endpoint is configured, else None."""
        s = self.settings
        if not s.llm_base_url:
            return None
        if self._llm is None:
            from kb.llm import OpenAIGenerator

            self._llm = OpenAIGenerator(
                base_url=s.llm_base_url,
                model=s.llm_model,
                api_key=s.llm_api_key or os.environ.get("OPENAI_API_KEY", ""),
                timeout=s.llm_timeout,
                max_tokens=s.llm_max_tokens,
                retries=s.llm_retries,
            )
        return self._llm

    def add_feedback(self, raw: Any) -> int:
        """Validate, redact and store a customer's feedback; return its id."""
        item = parse_feedback(raw)
        FEEDBACK.labels("up" if item["rating"] > 0 else "down", item["target"]).inc()
        return self.writer().add_feedback(item)

    def recent_feedback(self, limit: int = 100) -> list[dict[str, Any]]:
        """Return the latest feedback, newest first."""
        store = Store(self.settings.store_path)
        try:
            return store.feedback(limit)
        finally:
            store.close()

    def updated_times(self, doc_ids: Iterable[str]) -> dict[str, str]:
        """Return when each document last changed."""
        store = Store.reader(self.settings.store_path)
        if store is None:
            return {}
        try:
            return store.updated_times(doc_ids)
        finally:
            store.close()

    def public_document(self, doc_id: str) -> StoredDocument | None:
        """Return the stored document ``doc_id`` if it is of a public kind, else None."""
        doc = self.document(doc_id)
        return doc if doc is not None and doc.kind in self.settings.public else None

    def document(self, doc_id: str) -> StoredDocument | None:
        """Return document ``doc_id`` (of any kind) as the served snapshot holds it, or None.

        The served snapshot's copy is the text its results and citations link to, anchors
        included, even after a rollback to a snapshot built before the document changed or went.
        A document the snapshot does not hold (added since it was built, or a snapshot older
        than format 7) comes from the store.
        """
        try:
            served = self.searcher().document(doc_id)
        except KbError:  # no index yet, or none that loads: the store's copy is all there is
            served = None
        if served is not None:
            return served
        store = Store.reader(self.settings.store_path)
        if store is None:
            return None
        try:
            return store.get_document(doc_id)
        finally:
            store.close()

    def status(self) -> dict[str, Any]:
        """Return counts and the served index version."""
        store = Store.reader(self.settings.store_path)
        counts = {"documents": 0, "chunks": 0}
        if store is not None:
            try:
                counts = store.counts()
            finally:
                store.close()
        return {**counts, "index_version": current_version(self.settings.index_dir)}


def _explicit(setting: str) -> str | None:
    """Return the model ``setting`` names, or None for ``auto``."""
    return None if setting.strip().lower() == AUTO else setting
