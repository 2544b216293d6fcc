"""Sources → store: read or crawl, chunk, upsert by content hash, remove what disappeared."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ingest.chunking import chunk_sections
from ingest.crawl import CrawlLimits, crawl
from ingest.fetch import Fetcher, HttpFetcher
from ingest.helpcentre import is_helpcentre_export, read_helpcentre_export
from ingest.ids import suffixed
from ingest.language import with_language
from ingest.sheets import is_faq_sheet, read_faq_sheet
from ingest.sources import MAX_FILE_BYTES, Batch, is_url, read_source, too_large
from kb.errors import SourceError
from kb.models import Document
from kb.store import Store


@dataclass(frozen=True)
class IngestOptions:
    """How to read sources."""

    chunk_words: int = 150
    limits: CrawlLimits = field(default_factory=CrawlLimits)
    user_agent: str = "kb-crawler/0.1"
    timeout: float = 20.0
    max_bytes: int = 5 * 1024 * 1024  # a crawled page
    max_file_bytes: int = MAX_FILE_BYTES  # a file: on disk, or a PDF or Word file a crawl links
    mapping: dict[str, str] | None = None
    dry_run: bool = False


@dataclass
class IngestReport:
    """What one ingest run changed."""

    sources: list[str]
    fetched: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    held: int = 0  # documents not seen but kept: their source was not seen whole
    held_because: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)  # ids another source holds
    redactions: dict[str, int] = field(default_factory=dict)
    chunks_embedded: int = 0
    embed_model: str | None = None  # the model the index was built with
    embed_model_reason: str = ""  # why that model: "chosen: 83% of passages are zh", …
    index_version: str | None = None  # the snapshot built (or kept), served or held back
    index_changed: bool = False  # whether the snapshot served changed
    held_back: bool = False  # the new snapshot did worse on the regression questions
    gate: dict[str, Any] | None = None  # the evaluation gate's verdict on a new snapshot
    dry_run: bool = False
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        """Whether the store changed (or would, in a dry run)."""
        return bool(self.added or self.updated or self.removed)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return asdict(self)

    def summary(self) -> str:
        """Return a one-line human summary."""
        head = "would be: " if self.dry_run else ""
        line = (
            f"{head}{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.removed} removed, {len(self.skipped)} skipped, {len(self.failed)} failed"
        )
        if self.fetched:
            line = f"{self.fetched} pages fetched; " + line
        if self.held:
            line += f"; {self.held} kept: {', '.join(self.held_because)}"
        if not self.dry_run:
            line += f"; {self.chunks_embedded} chunks embedded"
        if self.index_version:
            line += f"; index {self.index_version}"
            if self.held_back:
                line += " held back (not served)"
        return line + f" ({self.seconds:.1f}s)"

    def model_line(self) -> str | None:
        """Return the line naming the embedding model and why it was used, or None (dry run)."""
        if self.embed_model is None:
            return None
        reason = f" ({self.embed_model_reason})" if self.embed_model_reason else ""
        return f"embedding model: {self.embed_model}{reason}"


def read(
    source: str,
    store: Store,
    options: IngestOptions,
    *,
    fetcher: Fetcher | None = None,
    on_document: Callable[[Document], None] | None = None,
) -> Batch:
    """Read one source: crawl a URL, import an FAQ sheet, a help-centre export or a ticket
    export, or read files.

    ``on_document`` sees each document, with its language, as soon as it is read (a crawl
    reads for a while). Every document comes back with its language (see
    :func:`ingest.language.document_language`).
    """
    # Language detection runs once per document: what on_document saw is what is kept. The
    # read document stays referenced beside its result, so its id() cannot be reused.
    told: dict[int, tuple[Document, Document]] = {}

    def heard(doc: Document) -> None:
        told[id(doc)] = (doc, with_language(doc))
        if on_document:
            on_document(told[id(doc)][1])

    batch = _read(source, store, options, fetcher=fetcher, on_document=heard)
    batch.documents = [
        told[id(doc)][1] if id(doc) in told else with_language(doc) for doc in batch.documents
    ]
    return batch


def _read(
    source: str,
    store: Store,
    options: IngestOptions,
    *,
    fetcher: Fetcher | None = None,
    on_document: Callable[[Document], None] | None = None,
) -> Batch:
    if is_url(source):
        fetcher = fetcher or HttpFetcher(
            timeout=options.timeout,
            max_bytes=options.max_bytes,
            max_document_bytes=options.max_file_bytes,
            user_agent=options.user_agent,
        )
        return crawl(
            [source],
            fetcher,
            store.pages(source),
            options.limits,
            user_agent=options.user_agent,
            source=source,
            on_document=on_document,
            text_keys=store.text_keys,
            max_file_bytes=options.max_file_bytes,
        )
    path = Path(source).expanduser()
    if path.is_file() and path.stat().st_size > options.max_file_bytes:
        raise SourceError(f"cannot ingest {source}: "
                          + too_large(path.stat().st_size, options.max_file_bytes))  # fmt: skip
    if is_faq_sheet(path, options.mapping):
        batch = read_faq_sheet(path, options.mapping)
    elif is_helpcentre_export(path):
        batch = read_helpcentre_export(path)
    elif is_ticket_export(path):
        from ingest.tickets import read_tickets

        batch = read_tickets(path, options.mapping)
    else:
        batch = read_source(
            source,
            held=lambda resolved: held_ids(store, resolved),
            max_bytes=options.max_file_bytes,
        )
    if on_document:
        for doc in batch.documents:
            on_document(doc)
    return batch


def is_ticket_export(path: Path) -> bool:
    """Return whether ``path`` is a ticket export (CSV, JSON, or JSONL without a ``text`` field)."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".json"):
        return True
    if suffix == ".jsonl" and path.is_file():
        with path.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.strip():
                    try:
                        first = json.loads(line)
                    except ValueError:
                        return False
                    return isinstance(first, dict) and "text" not in first
    return False


def ingest_sources(
    store: Store,
    sources: Sequence[str],
    *,
    options: IngestOptions | None = None,
    fetcher: Fetcher | None = None,
    on_document: Callable[[Document], None] | None = None,
) -> IngestReport:
    """Read every source, then store its documents; a source that cannot be read stores nothing.

    Raises :class:`SourceError` when a source gives no document at all (every page skipped,
    say): what is stored stays as it is rather than being removed.
    """
    options = options or IngestOptions()
    started = time.perf_counter()
    batches = [read(s, store, options, fetcher=fetcher, on_document=on_document) for s in sources]
    for batch in batches:
        if not batch.documents and not batch.kept:
            raise SourceError(nothing_to_ingest(batch))
    report = store_batches(store, batches, chunk_words=options.chunk_words, dry_run=options.dry_run)
    report.seconds = time.perf_counter() - started
    return report


def nothing_to_ingest(batch: Batch) -> str:
    """Say why a source gave no document: what was fetched, skipped and failed, and why.

    ``nothing to ingest from URL: 1 page fetched, 1 skipped (no text in the page)``
    """
    parts = []
    if batch.fetched:
        parts.append(f"{batch.fetched} page{'s' * (batch.fetched != 1)} fetched")
    for label, items in (("skipped", batch.skipped), ("failed", batch.failed)):
        if items:
            reasons = Counter(reason for _, reason in items)
            shown = ", ".join(
                reason if len(reasons) == 1 else f"{n} {reason}"
                for reason, n in reasons.most_common(3)
            )
            more = ", …" if len(reasons) > 3 else ""
            parts.append(f"{len(items)} {label} ({shown}{more})")
    if batch.fetched and not batch.skipped and not batch.failed:
        parts.append("none of them a document")
    return f"nothing to ingest from {batch.source}: {', '.join(parts) or 'no page found'}"


def held_ids(store: Store, source: str) -> tuple[dict[str, str], dict[str, str]]:
    """Return the ids a file source holds by file path, and by text key for documents of no
    recorded path (stored before paths were): an id a file held stays that file's."""
    by_path = {path: p.doc_id for path, p in store.pages(source).items() if p.doc_id}
    rest = store.document_ids(source) - set(by_path.values())
    by_text = {key: doc_id for doc_id, (key, _) in sorted(store.text_keys(rest).items())}
    return by_path, by_text


def own_ids(store: Store, batch: Batch, held: set[str]) -> list[tuple[str, str]]:
    """Give the documents of ``batch`` whose ids another source holds ids of their own.

    Each source holds its own documents, so that one dropping a document never takes it from
    another: a document whose id another source holds is stored as ``id~<hash of its source>``,
    even with the same text (ranking groups identical pages, and an answer never says a
    sentence twice), and keeps that id while ``batch.source`` holds it (``held``), on every run.
    One exception: a page at one public URL reached by two crawls is one document, held by
    both, and stays while either reaches it. Returns (id, what happened) for the report.
    """
    docs = {d.id: d for d in batch.documents}
    owners = store.owners(docs)
    renames: dict[str, str] = {}
    notes = []
    for doc_id, doc in docs.items():
        sources, url = owners.get(doc_id, (frozenset(), None))
        own = suffixed(doc_id, batch.source)
        if batch.source in sources:
            continue
        if not sources:
            if own in held:  # renamed once: the id stays, even if the first holder let go
                renames[doc_id] = own
            continue
        if (
            url is not None
            and url == doc.url
            and is_url(batch.source)
            and any(map(is_url, sources))
        ):
            continue  # one page, two crawls: one document held by both
        renames[doc_id] = own
        notes.append((doc_id, f"id taken by {', '.join(sorted(sources))}; stored as {own!r}"))
    if renames:
        batch.documents = [replace(d, id=renames.get(d.id, d.id)) for d in batch.documents]
        batch.pages = [
            replace(p, doc_id=renames.get(p.doc_id, p.doc_id) if p.doc_id else None)
            for p in batch.pages
        ]
    return sorted(notes)


def store_batches(
    store: Store,
    batches: Sequence[Batch],
    *,
    chunk_words: int,
    dry_run: bool = False,
) -> IngestReport:
    """Upsert the documents of ``batches``; remove documents their sources no longer have.

    A crawl that did not see its whole site (a limit was hit, a sitemap or robots.txt failed)
    removes only pages that answered 404 or 410, and the report says how many it kept and why;
    pages that failed for a passing reason keep their documents, and what they linked to.
    """
    report = IngestReport(sources=[b.source for b in batches], dry_run=dry_run)
    redactions: Counter[str] = Counter()
    for batch in batches:
        before = store.document_ids(batch.source)
        report.renamed.extend(own_ids(store, batch, before))
        seen = set(batch.kept)
        for doc in batch.documents:
            if dry_run:
                outcome = store.outcome(doc)
            else:
                outcome = store.upsert_document(
                    doc, chunk_sections(doc.id, doc.sections, chunk_words)
                )
            setattr(report, outcome, getattr(report, outcome) + 1)
            seen.add(doc.id)
        report.unchanged += len(batch.kept - {d.id for d in batch.documents})
        doomed = (before - seen) if batch.complete else (batch.gone & before) - seen
        held = len(before - seen - doomed)
        if held:
            report.held += held
            report.held_because.extend(
                r for r in batch.incomplete_because if r not in report.held_because
            )
        report.removed += store.release(batch.source, doomed, dry_run=dry_run)
        if not dry_run and batch.pages:
            store.save_pages(batch.source, batch.pages, complete=batch.complete)
        report.fetched += batch.fetched
        report.skipped.extend(batch.skipped)
        report.failed.extend(batch.failed)
        redactions.update(batch.redactions)
    report.redactions = dict(redactions)
    return report
