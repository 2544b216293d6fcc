"""The content store: documents, their versions and chunks, crawl state, cached embeddings.

It is the source of truth; index snapshots are built from it and can always be rebuilt.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
from sqlalchemy.exc import OperationalError

from kb.database import Database, utcnow
from kb.models import Chunk, Document, Section
from kb.text import content_hash, text_key


def document_hash(doc: Document) -> str:
    """Return the hash of everything stored about ``doc``; equal hashes mean nothing changed."""
    parts = [
        doc.title,
        doc.url or "",
        doc.kind,
        doc.lang or "",
        json.dumps(doc.meta, sort_keys=True),
    ]
    for s in doc.sections:
        parts += [s.heading, s.anchor or "", str(s.level), s.text]
    return content_hash(*parts)


def source_date(meta: dict[str, Any], now: str) -> str | None:
    """Return the date a document's source says it changed (``meta["updated_at"]``, ISO 8601
    in UTC as :func:`utcnow` writes it), or None when it says none or one after ``now``."""
    value = meta.get("updated_at")
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    text = when.astimezone(UTC).isoformat(timespec="seconds")
    return text if text <= now else None


@dataclass(frozen=True)
class StoredDocument:
    """A document as stored, with its sections rebuilt from its chunks."""

    id: str
    source: str
    kind: str
    title: str
    url: str | None
    lang: str | None
    meta: dict[str, Any]
    version: int
    updated_at: str
    sections: tuple[Section, ...]


@dataclass(frozen=True)
class IndexRow:
    """One chunk with the document fields an index snapshot needs."""

    chunk_id: int
    doc_id: str
    doc_version: int
    kind: str
    lang: str | None
    title: str
    url: str | None
    section: str
    anchor: str | None
    text: str
    content_hash: str
    meta: str = "{}"
    source: str = ""
    updated_at: str = ""


def sections_of(chunks: Iterable[tuple[str, str | None, str]]) -> tuple[Section, ...]:
    """Return a document's sections from its chunks' (heading, anchor, text), in order.

    Consecutive chunks of one section are joined again, with a blank line between them.
    """
    sections: list[Section] = []
    for heading, anchor, text in chunks:
        if sections and sections[-1].heading == heading and sections[-1].anchor == anchor:
            text = sections.pop().text + "\n\n" + text
        sections.append(Section(heading=heading, text=text, anchor=anchor))
    return tuple(sections)


class Reads(Protocol):
    """A connection that runs a statement with ``?`` parameters (the store's, a snapshot's)."""

    def execute(self, sql: str, args: Sequence[Any] = ..., /) -> Any:
        """Run ``sql``; the result has ``fetchone`` and ``fetchall``."""
        ...


def read_document(conn: Reads, doc_id: str, chunks_sql: str) -> StoredDocument | None:
    """Return document ``doc_id`` from a database with a ``documents`` table (the store's, or
    an index snapshot's copy), its chunks' (heading, anchor, text) read in order by
    ``chunks_sql`` with the id as its one parameter; None if there is no such document."""
    row = conn.execute(
        "SELECT id, source, kind, title, url, lang, meta, version, updated_at"
        " FROM documents WHERE id = ?",
        (doc_id,),
    ).fetchone()
    if row is None:
        return None
    chunks = conn.execute(chunks_sql, (doc_id,)).fetchall()
    return StoredDocument(
        id=row[0], source=row[1], kind=row[2], title=row[3], url=row[4], lang=row[5],
        meta=json.loads(row[6]), version=row[7], updated_at=row[8], sections=sections_of(chunks),
    )  # fmt: skip


@dataclass(frozen=True)
class PageState:
    """What the crawler learnt of a page: validators for conditional GETs and its links."""

    url: str
    doc_id: str | None
    etag: str | None = None
    last_modified: str | None = None
    lastmod: str | None = None
    links: tuple[str, ...] = ()


class Store(Database):
    """Documents, their versions and chunks, crawl state, ingest runs and cached embeddings."""

    # documents ------------------------------------------------------------------------------

    def upsert_document(self, doc: Document, chunks: Sequence[Chunk]) -> str:
        """Store ``doc`` and its chunks; return ``added``, ``updated`` or ``unchanged``.

        ``doc.source`` holds the document from now on, besides any source holding it already.
        """
        digest = document_hash(doc)
        now = utcnow()
        changed = source_date(doc.meta, now) or now  # a help-centre export's own date
        with self.transaction() as c:
            row = c.execute(
                "SELECT content_hash, version, text_key FROM documents WHERE id = ?", (doc.id,)
            ).fetchone()
            holder = (doc.id, doc.source)
            if row:
                c.execute(
                    "INSERT INTO document_sources (doc_id, source) VALUES (?,?)"
                    " ON CONFLICT DO NOTHING",
                    holder,
                )
            if row and row[0] == digest:
                if row[2] is None:  # stored before text keys were
                    c.execute(
                        "UPDATE documents SET text_key = ? WHERE id = ?",
                        (text_key(doc.sections), doc.id),
                    )
                return "unchanged"
            version = row[1] + 1 if row else 1
            fields = (doc.kind, doc.title, doc.url, doc.lang, json.dumps(doc.meta))
            if row:
                c.execute(
                    "UPDATE documents SET kind=?, title=?, url=?, lang=?, meta=?,"
                    " content_hash=?, text_key=?, version=?, updated_at=? WHERE id=?",
                    (*fields, digest, text_key(doc.sections), version, changed, doc.id),
                )
                c.execute("DELETE FROM chunks WHERE doc_id = ?", (doc.id,))
            else:
                c.execute(
                    "INSERT INTO documents (kind, title, url, lang, meta, content_hash, text_key,"
                    " version, created_at, updated_at, source, id)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (*fields, digest, text_key(doc.sections), version, now, changed, doc.source,
                     doc.id),
                )  # fmt: skip
                c.execute("INSERT INTO document_sources (doc_id, source) VALUES (?,?)", holder)
            c.execute(
                "INSERT INTO document_versions (doc_id, version, content_hash, title, created_at)"
                " VALUES (?,?,?,?,?) ON CONFLICT (doc_id, version) DO UPDATE SET"
                " content_hash = excluded.content_hash, title = excluded.title,"
                " created_at = excluded.created_at",
                (doc.id, version, digest, doc.title, now),
            )
            c.executemany(
                "INSERT INTO chunks (doc_id, ordinal, section, anchor, text, content_hash)"
                " VALUES (?,?,?,?,?,?)",
                [
                    (doc.id, ch.ordinal, ch.section, ch.anchor, ch.text, chunk_hash(doc, ch))
                    for ch in chunks
                ],
            )
        return "updated" if row else "added"

    def outcome(self, doc: Document) -> str:
        """Return what upserting ``doc`` would do: ``added``, ``updated`` or ``unchanged``."""
        row = self.conn.execute("SELECT content_hash FROM documents WHERE id = ?", (doc.id,))
        found = row.fetchone()
        if found is None:
            return "added"
        return "unchanged" if found[0] == document_hash(doc) else "updated"

    def remove_documents(self, ids: Iterable[str]) -> int:
        """Delete the documents ``ids`` and their chunks, whatever holds them; return how many
        existed."""
        ids = list(ids)
        with self.transaction() as c:
            removed = 0
            for doc_id in ids:
                removed += c.execute("DELETE FROM documents WHERE id = ?", (doc_id,)).rowcount
        return removed

    def release(self, source: str, ids: Iterable[str], *, dry_run: bool = False) -> int:
        """Let ``source`` stop holding the documents ``ids``; delete those no source holds.

        Returns how many documents are deleted (or would be, in a dry run). A document another
        source still holds stays, shown as that source's.
        """
        ids = sorted(set(ids))
        owners = self.owners(ids)
        gone = [i for i in ids if i in owners and owners[i][0] <= {source}]
        if dry_run or not ids:
            return len(gone)
        with self.transaction() as c:
            c.executemany(
                "DELETE FROM document_sources WHERE doc_id = ? AND source = ?",
                [(i, source) for i in ids],
            )
            c.executemany("DELETE FROM documents WHERE id = ?", [(i,) for i in gone])
            c.executemany(
                "UPDATE documents SET source = (SELECT min(source) FROM document_sources"
                " WHERE doc_id = documents.id) WHERE id = ? AND source = ?",
                [(i, source) for i in ids],
            )
        return len(gone)

    def forget_sources_except(self, source: str) -> int:
        """Delete every document and crawl state of sources other than ``source``.

        Returns how many documents went; a document ``source`` holds too stays, as its.
        """
        with self.transaction() as c:
            c.execute("DELETE FROM pages WHERE source != ?", (source,))
            c.execute("DELETE FROM document_sources WHERE source != ?", (source,))
            c.execute("UPDATE documents SET source = ? WHERE id IN"
                      " (SELECT doc_id FROM document_sources)", (source,))  # fmt: skip
            return c.execute("DELETE FROM documents WHERE source != ?", (source,)).rowcount

    def owners(self, ids: Iterable[str]) -> dict[str, tuple[frozenset[str], str | None]]:
        """Return the sources holding each of ``ids`` that is stored, and its public URL."""
        ids = list(set(ids))
        found: dict[str, tuple[set[str], str | None]] = {}
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            rows = self.conn.execute(
                "SELECT d.id, d.url, s.source FROM documents d"
                " LEFT JOIN document_sources s ON s.doc_id = d.id"
                f" WHERE d.id IN ({','.join('?' * len(part))})",
                part,
            )
            for doc_id, url, source in rows:
                sources, _ = found.setdefault(doc_id, (set(), url))
                if source is not None:
                    sources.add(source)
        return {i: (frozenset(sources), url) for i, (sources, url) in found.items()}

    def text_keys(self, ids: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        """Return the text key (:func:`kb.text.text_key`) and public URL of each of ``ids``."""
        ids = sorted(set(ids))
        out: dict[str, tuple[str, str | None]] = {}
        missing: list[tuple[str, str]] = []
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self.conn.execute(
                f"SELECT id, text_key, url FROM documents WHERE id IN ({marks})", part
            ).fetchall()
            for doc_id, key, url in rows:
                if key is None:  # stored before text keys were: read it back, once
                    doc = self.get_document(doc_id)
                    key = text_key(doc.sections) if doc else ""
                    missing.append((key, doc_id))
                out[doc_id] = (key, url)
        if missing:
            with suppress(OperationalError), self.transaction() as c:  # a reader: next time
                c.executemany("UPDATE documents SET text_key = ? WHERE id = ?", missing)
        return out

    def document_ids(self, source: str | None = None) -> set[str]:
        """Return the ids of all documents, or of those ingested from ``source``."""
        if source is None:
            rows = self.conn.execute("SELECT id FROM documents")
        else:
            rows = self.conn.execute(
                "SELECT doc_id FROM document_sources WHERE source = ?", (source,)
            )
        return {r[0] for r in rows}

    def has_document(self, doc_id: str) -> bool:
        """Whether the store holds document ``doc_id``."""
        return bool(self.conn.execute("SELECT 1 FROM documents WHERE id = ?", (doc_id,)).rows)

    def document_id_at(self, url: str) -> str | None:
        """Return the id of a document whose public URL is ``url``, or None."""
        row = self.conn.execute(
            "SELECT id FROM documents WHERE url = ? ORDER BY id LIMIT 1", (url,)
        ).fetchone()
        return str(row[0]) if row else None

    def document_id_under(self, path: str) -> str | None:
        """Return the id of a document whose URL's path ends with ``/path`` (a page named
        relative to its site, as help-centre question sets name them), or None."""
        escaped = path.lstrip("/").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        row = self.conn.execute(
            "SELECT id FROM documents WHERE url LIKE ? ESCAPE '\\' ORDER BY length(url), id"
            " LIMIT 1",
            ("%/" + escaped,),
        ).fetchone()
        return str(row[0]) if row else None

    def get_document(self, doc_id: str) -> StoredDocument | None:
        """Return the stored document ``doc_id`` with its sections, or None."""
        return read_document(
            self.conn,
            doc_id,
            "SELECT section, anchor, text FROM chunks WHERE doc_id = ? ORDER BY ordinal",
        )

    def versions(self) -> dict[str, int]:
        """Return the version of every stored document, by id."""
        return dict(self.conn.execute("SELECT id, version FROM documents"))

    def counts(self) -> dict[str, int]:
        """Return the number of documents and chunks stored."""
        docs = self.conn.execute("SELECT count(*) FROM documents").fetchone()[0]
        chunks = self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        return {"documents": docs, "chunks": chunks}

    def passage_languages(self) -> dict[str | None, int]:
        """Return how many chunks are stored per document language (None: not known)."""
        rows = self.conn.execute(
            "SELECT NULLIF(d.lang, ''), count(*) FROM chunks c JOIN documents d ON d.id = c.doc_id"
            " GROUP BY 1"
        )
        return {lang: n for lang, n in rows}

    def index_rows(self) -> list[IndexRow]:
        """Return every chunk with its document's fields, in a stable order."""
        rows = self.conn.execute(
            "SELECT c.id, d.id, d.version, d.kind, d.lang, d.title, d.url, c.section, c.anchor,"
            " c.text, c.content_hash, d.meta, d.source, d.updated_at"
            " FROM chunks c JOIN documents d ON d.id = c.doc_id"
            " ORDER BY d.id, c.ordinal"
        )
        return [IndexRow(*r) for r in rows]

    # embeddings -----------------------------------------------------------------------------

    def get_embeddings(self, model: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """Return the cached embeddings of ``model`` for those of ``hashes`` it has."""
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(hashes), 500):
            batch = list(hashes[start : start + 500])
            marks = ",".join("?" * len(batch))
            for h, blob in self.conn.execute(
                f"SELECT content_hash, vector FROM embeddings WHERE model = ?"
                f" AND content_hash IN ({marks})",
                (model, *batch),
            ):
                found[h] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_embeddings(self, model: str, vectors: dict[str, np.ndarray]) -> None:
        """Cache embeddings of ``model`` by content hash."""
        with self.transaction() as c:
            c.executemany(
                "INSERT INTO embeddings (model, content_hash, vector) VALUES (?,?,?)"
                " ON CONFLICT (model, content_hash) DO UPDATE SET vector = excluded.vector",
                [(model, h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in vectors.items()],
            )

    def retain_embeddings(self, model: str, hashes: Iterable[str]) -> int:
        """Drop the cached embeddings of ``model`` other than ``hashes``; return how many."""
        keep = set(hashes)
        with self._lock:
            stored = [r[0] for r in self.conn.execute(
                "SELECT content_hash FROM embeddings WHERE model = ?", (model,))]  # fmt: skip
        gone = [h for h in stored if h not in keep]
        with self.transaction() as c:
            for start in range(0, len(gone), 500):
                batch = gone[start : start + 500]
                c.execute(
                    f"DELETE FROM embeddings WHERE model = ? AND content_hash IN"
                    f" ({','.join('?' * len(batch))})",
                    (model, *batch),
                )
        return len(gone)

    def prune_embeddings(self, model: str) -> int:
        """Drop cached embeddings no chunk uses any more; return how many."""
        with self.transaction() as c:
            return c.execute(
                "DELETE FROM embeddings WHERE model = ? AND content_hash NOT IN"
                " (SELECT content_hash FROM chunks)",
                (model,),
            ).rowcount

    def forget_embeddings(self, model: str) -> int:
        """Drop every cached embedding of ``model`` (a tuned model that was refused)."""
        with self.transaction() as c:
            return c.execute("DELETE FROM embeddings WHERE model = ?", (model,)).rowcount

    # crawl state ----------------------------------------------------------------------------

    def pages(self, source: str) -> dict[str, PageState]:
        """Return what the crawler knows of the pages of ``source``, by URL."""
        rows = self.conn.execute(
            "SELECT url, doc_id, etag, last_modified, lastmod, links FROM pages WHERE source = ?",
            (source,),
        )
        return {
            r[0]: PageState(r[0], r[1], r[2], r[3], r[4], tuple(json.loads(r[5]))) for r in rows
        }

    def save_pages(self, source: str, pages: Sequence[PageState], *, complete: bool) -> None:
        """Record page states; when ``complete``, forget pages of ``source`` not among them."""
        now = utcnow()
        with self.transaction() as c:
            if complete:
                c.execute("DELETE FROM pages WHERE source = ?", (source,))
            c.executemany(
                "INSERT INTO pages (url, source, doc_id, etag, last_modified, lastmod, links,"
                " fetched_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (url, source) DO UPDATE SET"
                " doc_id = excluded.doc_id, etag = excluded.etag,"
                " last_modified = excluded.last_modified, lastmod = excluded.lastmod,"
                " links = excluded.links, fetched_at = excluded.fetched_at",
                [
                    (
                        p.url,
                        source,
                        p.doc_id,
                        p.etag,
                        p.last_modified,
                        p.lastmod,
                        json.dumps(list(p.links)),
                        now,
                    )  # fmt: skip
                    for p in pages
                ],
            )

    # ingest runs ----------------------------------------------------------------------------

    def documents_of_kind(self, kind: str) -> list[StoredDocument]:
        """Return every stored document of ``kind``."""
        with self._lock:
            ids = [r[0] for r in self.conn.execute(
                "SELECT id FROM documents WHERE kind = ? ORDER BY id", (kind,))]  # fmt: skip
        return [d for d in (self.get_document(i) for i in ids) if d is not None]

    def updated_times(self, doc_ids: Iterable[str]) -> dict[str, str]:
        """Return when each of ``doc_ids`` last changed (ISO 8601, UTC)."""
        ids = list(dict.fromkeys(doc_ids))
        if not ids:
            return {}
        with self._lock:
            rows = self.conn.execute(
                f"SELECT id, updated_at FROM documents WHERE id IN ({','.join('?' * len(ids))})",
                ids,
            ).fetchall()
        return dict(rows)

    def titles(self, doc_ids: Iterable[str]) -> dict[str, str]:
        """Return the title of each of ``doc_ids`` that is stored."""
        ids = list(dict.fromkeys(doc_ids))
        if not ids:
            return {}
        with self._lock:
            rows = self.conn.execute(
                f"SELECT id, title FROM documents WHERE id IN ({','.join('?' * len(ids))})", ids
            ).fetchall()
        return dict(rows)

    def start_run(self, sources: Sequence[str]) -> int:
        """Record the start of an ingest run; return its id."""
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO ingest_runs (started_at, sources) VALUES (?, ?) RETURNING id",
                (utcnow(), json.dumps(list(sources))),
            )
            return int(cur.fetchone()[0])

    def finish_run(self, run_id: int, report: dict[str, Any]) -> None:
        """Record the report of ingest run ``run_id``."""
        with self.transaction() as c:
            c.execute(
                "UPDATE ingest_runs SET finished_at = ?, report = ? WHERE id = ?",
                (utcnow(), json.dumps(report), run_id),
            )


def embedding_items(doc: Document, chunks: Sequence[Chunk]) -> list[tuple[str, str]]:
    """Return (content hash, text to embed) for each chunk of ``doc``."""
    items = []
    for chunk in chunks:
        text = embedding_text(doc.title, chunk.section, chunk.text)
        items.append((content_hash(text), text))
    return items


def chunk_hash(doc: Document, chunk: Chunk) -> str:
    """Return the hash of exactly what is embedded for ``chunk``."""
    return content_hash(embedding_text(doc.title, chunk.section, chunk.text))


def embedding_text(title: str, section: str, text: str) -> str:
    """Return the text embedded for a chunk: its text headed by the document and section title."""
    head = title if not section or section == title else f"{title} — {section}"
    return f"{head}\n{text}"
