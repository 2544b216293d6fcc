"""Sources → store: read, chunk, upsert by content hash, remove what disappeared."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ingest.chunking import chunk_sections
from ingest.sources import Batch, read_source
from kb.store import Store


@dataclass
class IngestReport:
    """What one ingest run changed."""

    sources: list[str]
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    chunks_embedded: int = 0
    index_version: str | None = None
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        """Whether the store changed."""
        return bool(self.added or self.updated or self.removed)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return asdict(self)

    def summary(self) -> str:
        """Return a one-line human summary."""
        line = (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.removed} removed, {len(self.skipped)} skipped; "
            f"{self.chunks_embedded} chunks embedded"
        )
        if self.index_version:
            line += f"; index {self.index_version}"
        return line + f" ({self.seconds:.1f}s)"


def ingest_sources(
    store: Store,
    sources: Sequence[str],
    *,
    chunk_words: int,
    on_document: Callable[[], None] | None = None,
) -> IngestReport:
    """Read every source, then store its documents; a source that cannot be read stores nothing."""
    started = time.perf_counter()
    batches = [read_source(source) for source in sources]
    report = store_batches(store, batches, chunk_words=chunk_words, on_document=on_document)
    report.seconds = time.perf_counter() - started
    return report


def store_batches(
    store: Store,
    batches: Sequence[Batch],
    *,
    chunk_words: int,
    on_document: Callable[[], None] | None = None,
) -> IngestReport:
    """Upsert the documents of ``batches``; remove documents their sources no longer have."""
    report = IngestReport(sources=[b.source for b in batches])
    for batch in batches:
        before = store.document_ids(batch.source)
        seen: set[str] = set()
        for doc in batch.documents:
            chunks = chunk_sections(doc.id, doc.sections, chunk_words)
            outcome = store.upsert_document(doc, chunks)
            setattr(report, outcome, getattr(report, outcome) + 1)
            seen.add(doc.id)
            if on_document:
                on_document()
        report.removed += store.remove_documents(before - seen)
        report.skipped.extend(batch.skipped)
    return report
