"""Versioned index snapshots on disk: build next to the old one, switch atomically, roll back.

Layout under ``index_dir``::

    v000001/ manifest.json dense.faiss lexical/ passages.sqlite3
    v000002/ ...
    CURRENT        the name of the snapshot being served

``passages.sqlite3`` holds the passages the indexes point at, the pages they make, and (from
format 7) the documents they came from as they were when the snapshot was built: kb's article
view serves a document from the snapshot that cited it, so a rollback restores the text its
links point at instead of linking to documents and sections the store no longer has.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from index.boilerplate import boilerplate_lines, only_boilerplate
from index.dense import MIN_PASSAGES_FOR_PAIRS, OFF_TOPIC_QUESTIONS, PROBES, DenseIndex
from index.fusion import dense_weight_for
from index.lexical import FieldedIndex
from index.pages import Page, PageRow, duplicate_groups, split_pages
from kb.embedder import Embedder
from kb.errors import KbError, NotFound, NotReady
from kb.links import ALSO_AT, article_path, at_address
from kb.models import Filter, Passage
from kb.store import IndexRow, Store, StoredDocument, embedding_text, read_document, utcnow
from kb.text import TOKENIZER, content_hash, script, slugify, tokenize

log = logging.getLogger("kb")
CURRENT = "CURRENT"
FORMAT = 11  # bump when the layout changes: a snapshot of another format is rebuilt
MASK_CACHE = 64  # filters whose row masks a snapshot keeps
FIELD_WEIGHTS = {"heading": 0.5, "body": 0.5}


@dataclass(frozen=True)
class Manifest:
    """What a snapshot holds and how it was built."""

    version: str
    created_at: str
    model: str
    dim: int
    passages: int
    documents: int
    fingerprint: str
    format: int = 1
    files: dict[str, str] = field(default_factory=dict)  # relative path → blake2b of its bytes
    model_reason: str = ""  # why this model: "chosen: 83% of passages are zh", "set by …"


def primary_language(tag: str | None) -> str:
    """Return the primary subtag of a language tag, lower-case: ``en-US`` → ``en``."""
    return (tag or "").replace("_", "-").split("-")[0].strip().lower()


def passage_url(doc_url: str | None, doc_id: str, anchor: str | None, section: str, title: str):
    """Return the link to a passage's section: its anchor, or a text fragment for its heading.

    Documents with no public URL link to kb's own article page, which gives every section an
    anchor (its slug) when the source had none.
    """
    base = (doc_url or article_path(doc_id)).split("#", 1)[0]
    if not doc_url and not anchor and section and section != title:
        anchor = slugify(section)
    if anchor:
        return f"{base}#{quote(anchor, safe='-_.~')}"
    if section and section != title:
        return f"{base}#:~:text={quote(section, safe='')}"
    return base


def fingerprint(model: str, rows: Sequence[IndexRow]) -> str:
    """Return a hash that changes whenever anything a snapshot holds would change."""
    return content_hash(
        str(FORMAT),
        TOKENIZER,
        model,
        *(f"{r.doc_id}\x1e{r.doc_version}\x1e{r.content_hash}" for r in rows),
    )


@dataclass(frozen=True)
class Drift:
    """How a snapshot's documents differ from the store's: ids, sorted."""

    removed: tuple[str, ...] = ()  # in the snapshot, no longer in the store
    changed: tuple[str, ...] = ()  # in both, at another version in the store

    def __bool__(self) -> bool:
        return bool(self.removed or self.changed)

    def summary(self, version: str) -> str:
        """One line for an operator: what the snapshot serves that the store no longer has."""
        parts = []
        for ids, what in ((self.removed, "removed"), (self.changed, "changed")):
            if ids:
                shown = ", ".join(ids[:5]) + (", …" if len(ids) > 5 else "")
                noun = "document" if len(ids) == 1 else "documents"
                parts.append(f"{len(ids)} {noun} {what} since ({shown})")
        return (
            f"{version} serves {' and '.join(parts)}: their pages show {version}'s text"
            " until an ingest changes the store"
        )


def drift(served: dict[str, int], stored: dict[str, int]) -> Drift:
    """Compare a snapshot's document versions with the store's (both by document id)."""
    return Drift(
        removed=tuple(sorted(set(served) - set(stored))),
        changed=tuple(sorted(d for d, v in served.items() if d in stored and stored[d] != v)),
    )


def current_version(index_dir: Path) -> str | None:
    """Return the name of the snapshot being served, or None."""
    try:
        return (index_dir / CURRENT).read_text().strip() or None
    except FileNotFoundError:
        return None


def current_manifest(index_dir: Path) -> Manifest | None:
    """Return the manifest of the snapshot being served, or None (no snapshot, or unreadable)."""
    version = current_version(index_dir)
    if version is None or not re.fullmatch(r"v[0-9]+", version):
        return None
    try:
        return Manifest(**json.loads((index_dir / version / "manifest.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def list_versions(index_dir: Path) -> list[Manifest]:
    """Return the manifests of every complete snapshot, oldest first."""
    manifests = []
    for path in sorted(index_dir.glob("v*/manifest.json")):
        try:
            manifests.append(Manifest(**json.loads(path.read_text())))
        except (ValueError, TypeError):
            continue
    return manifests


def file_digest(path: Path) -> str:
    """The blake2b digest of a file's bytes, read in blocks."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def checksums(directory: Path) -> dict[str, str]:
    """The digest of every file of a snapshot being built (the manifest aside)."""
    return {
        str(p.relative_to(directory)): file_digest(p)
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }


def verify(directory: Path, manifest: Manifest) -> None:
    """Raise :class:`KbError` naming the first file that is missing or not as written."""
    for name, digest in manifest.files.items():
        path = directory / name
        if not path.is_file():
            raise KbError(
                f"index snapshot {directory.name} is damaged: {name} is missing", status=503
            )
        if file_digest(path) != digest:
            raise KbError(
                f"index snapshot {directory.name} is damaged: {name} does not match its checksum",
                status=503,
            )


def switch_to(index_dir: Path, version: str) -> None:
    """Make ``version`` the snapshot being served, atomically."""
    if not (index_dir / version / "manifest.json").is_file():
        raise NotFound(f"no index snapshot {version!r}")
    fd, tmp = tempfile.mkstemp(dir=index_dir, prefix=".current-")
    with os.fdopen(fd, "w") as f:
        f.write(version + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, index_dir / CURRENT)
    _fsync_dir(index_dir)


def build_snapshot(
    store: Store,
    model: str,
    load_embedder: Callable[[], Embedder],
    index_dir: Path,
    *,
    progress: Callable[[int], None] | None = None,
    batch_size: int = 64,
    keep: int = 5,
    hnsw_threshold: int = 50_000,
    model_reason: str = "",
) -> tuple[Manifest, int]:
    """Build a snapshot from the store unless the current one is identical.

    The embedding model is loaded when a snapshot is built (to embed what the cache lacks);
    its name and ``model_reason`` go into the manifest, so queries are embedded alike.
    Returns the served manifest and how many passages had to be embedded.
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    rows = store.index_rows()
    digest = fingerprint(model, rows)
    served = current_version(index_dir)
    manifests = list_versions(index_dir)
    newest = manifests[-1] if manifests else None
    if newest is not None and newest.fingerprint == digest and served is not None:
        # Nothing changed since the last build: keep serving what is served, even a snapshot
        # an operator rolled back to, until the content really changes.
        return next(m for m in manifests if m.version == served), 0

    embedder = load_embedder()
    vectors, embedded = _vectors(store, embedder, rows, progress, batch_size)
    tmp = Path(tempfile.mkdtemp(dir=index_dir, prefix=".build-"))
    try:
        probes = embedder.embed(list(PROBES)) if len(rows) < MIN_PASSAGES_FOR_PAIRS else None
        dense = DenseIndex.build(vectors, hnsw_threshold=hnsw_threshold, probes=probes)
        dense.measure_chance(off_topic_vectors(embedder))
        dense.save(tmp / "dense.faiss")
        FieldedIndex.build(
            {
                "heading": [tokenize(heading_text(r)) for r in rows],
                "body": [tokenize(r.text) for r in rows],
            },
            FIELD_WEIGHTS,
        ).save(tmp / "lexical")
        boilerplate = boilerplate_lines((r.doc_id, r.text) for r in rows)
        chrome = [only_boilerplate(r.text, boilerplate) for r in rows]
        _write_passages(tmp / "passages.sqlite3", rows, build_pages(rows), chrome)
        version = _next_version(index_dir)
        manifest = Manifest(
            version=version,
            created_at=utcnow(),
            model=embedder.name,
            dim=embedder.dim,
            passages=len(rows),
            documents=len({r.doc_id for r in rows}),
            fingerprint=digest,
            format=FORMAT,
            files=checksums(tmp),
            model_reason=model_reason,
        )
        (tmp / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2))
        _fsync_tree(tmp)
        os.rename(tmp, index_dir / version)
        _fsync_dir(index_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    switch_to(index_dir, version)
    prune(index_dir, keep=keep)
    return manifest, embedded


def _fsync_tree(root: Path) -> None:
    """Flush every file below ``root`` and the directories themselves to disk."""
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with path.open("rb") as f:
                os.fsync(f.fileno())
    for directory in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def heading_text(row: IndexRow) -> str:
    """Return a passage's heading field: the document title, and its section if different."""
    return (
        row.title if not row.section or row.section == row.title else f"{row.title}\n{row.section}"
    )


_OFF_TOPIC: dict[str, dict[str, np.ndarray]] = {}  # embedder name → script → query vectors
_OFF_TOPIC_LOCK = threading.Lock()


def off_topic_vectors(embedder: Embedder) -> dict[str, np.ndarray]:
    """Return the off-topic questions (index/off_topic_questions.txt) embedded as queries, by
    script, leaving out scripts the model cannot read; embedded once per model and process."""
    with _OFF_TOPIC_LOCK:
        if embedder.name not in _OFF_TOPIC:
            lines = OFF_TOPIC_QUESTIONS.read_text(encoding="utf-8").splitlines()
            questions = [q for q in (line.strip() for line in lines) if q and q[0] != "#"]
            by_script: dict[str, list[str]] = {}
            for q in questions:
                if dense_weight_for(q, embedder.languages, 1.0):
                    by_script.setdefault(script(q), []).append(q)
            _OFF_TOPIC[embedder.name] = {
                name: embedder.embed(texts, query=True) for name, texts in by_script.items()
            }
        return _OFF_TOPIC[embedder.name]


def _vectors(
    store: Store,
    embedder: Embedder,
    rows: Sequence[IndexRow],
    progress: Callable[[int], None] | None,
    batch_size: int,
) -> tuple[np.ndarray, int]:
    hashes = [r.content_hash for r in rows]
    cached = store.get_embeddings(embedder.name, hashes)
    missing: dict[str, str] = {}
    for r in rows:
        if r.content_hash not in cached and r.content_hash not in missing:
            missing[r.content_hash] = embedding_text(r.title, r.section, r.text)
    todo = list(missing.items())
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        vectors = embedder.embed([text for _, text in batch])
        fresh = {h: v for (h, _), v in zip(batch, vectors, strict=True)}
        store.put_embeddings(embedder.name, fresh)
        cached.update(fresh)
        if progress:
            progress(len(batch))
    matrix = np.zeros((len(rows), embedder.dim), dtype=np.float32)
    for i, h in enumerate(hashes):
        matrix[i] = cached[h]
    return matrix, len(todo)


def build_pages(rows: Sequence[IndexRow]) -> list[Page]:
    """Return the pages (retrieval units) of the snapshot's rows, near-duplicates grouped."""
    page_rows = [
        PageRow(
            doc_id=r.doc_id,
            title=r.title,
            url=passage_url(r.url, r.doc_id, r.anchor, r.section, r.title),
            doc_url=passage_url(r.url, r.doc_id, None, r.title, r.title),
            section=r.section,
            anchor=r.anchor,
            text=r.text,
        )
        for r in rows
    ]
    return duplicate_groups(split_pages(page_rows), page_rows)


def _write_passages(
    path: Path, rows: Sequence[IndexRow], pages: Sequence[Page], chrome: Sequence[bool]
) -> None:
    """Write a snapshot's passages, pages and documents; ``chrome`` marks the passages made
    only of the lines a site repeats on its pages (see index/boilerplate.py): never retrieved."""
    page_of = np.zeros(len(rows), dtype=np.int64)
    for number, page in enumerate(pages):
        page_of[page.start : page.end] = number
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "CREATE TABLE passages (row INTEGER PRIMARY KEY, chunk_id INTEGER, doc_id TEXT,"
            " doc_version INTEGER, title TEXT, url TEXT, section TEXT, text TEXT, kind TEXT,"
            " lang TEXT, meta TEXT, page INTEGER, anchor TEXT, chrome INTEGER)"
        )
        conn.executemany(
            "INSERT INTO passages VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    i,
                    r.chunk_id,
                    r.doc_id,
                    r.doc_version,
                    r.title,
                    passage_url(r.url, r.doc_id, r.anchor, r.section, r.title),
                    r.section,
                    r.text,
                    r.kind,
                    r.lang,
                    r.meta,
                    int(page_of[i]),
                    r.anchor,
                    int(chrome[i]),
                )
                for i, r in enumerate(rows)
            ],
        )
        # Snapshot.document reads one document's passages in order: an index, not a scan.
        conn.execute("CREATE INDEX passages_doc ON passages(doc_id, row)")
        conn.execute(
            "CREATE TABLE documents (id TEXT PRIMARY KEY, source TEXT, kind TEXT, title TEXT,"
            " url TEXT, lang TEXT, meta TEXT, version INTEGER, updated_at TEXT)"
        )
        conn.executemany(
            "INSERT OR IGNORE INTO documents VALUES (?,?,?,?,?,?,?,?,?)",
            [(r.doc_id, r.source, r.kind, r.title, r.url, r.lang, r.meta, r.doc_version,
              r.updated_at) for r in rows],
        )  # fmt: skip
        conn.execute(
            "CREATE TABLE pages (page INTEGER PRIMARY KEY, start INTEGER, end INTEGER,"
            " doc_id TEXT, url TEXT, title TEXT, headings TEXT, steps INTEGER, grp INTEGER,"
            " section_page INTEGER)"
        )
        conn.executemany(
            "INSERT INTO pages VALUES (?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    n,
                    p.start,
                    p.end,
                    p.doc_id,
                    p.url,
                    p.title,
                    json.dumps(p.headings, ensure_ascii=False),
                    int(p.steps),
                    p.group,
                    int(p.section_page),
                )
                for n, p in enumerate(pages)
            ],  # fmt: skip
        )
    conn.close()


def _next_version(index_dir: Path) -> str:
    numbers = [int(p.name[1:]) for p in index_dir.glob("v*") if p.name[1:].isdigit()]
    return f"v{max(numbers, default=0) + 1:06d}"


def prune(index_dir: Path, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` snapshots, never the one served; return those deleted."""
    served = current_version(index_dir)
    versions = [m.version for m in list_versions(index_dir)]
    doomed = [v for v in versions[:-keep] if v != served] if keep > 0 else []
    for version in doomed:
        shutil.rmtree(index_dir / version, ignore_errors=True)
    for leftover in index_dir.glob(".build-*"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
    return doomed


class Snapshot:
    """A loaded snapshot: both indexes and the passages they point at."""

    def __init__(self, directory: Path) -> None:
        try:
            self.manifest = Manifest(**json.loads((directory / "manifest.json").read_text()))
        except (OSError, ValueError, TypeError) as e:
            log.error("index snapshot %s has no readable manifest: %s", directory, e)
            raise KbError(f"index snapshot {directory.name} is unreadable", status=503) from e
        verify(directory, self.manifest)
        try:
            self.dense = DenseIndex.load(directory / "dense.faiss")
            self.lexical = FieldedIndex.load(directory / "lexical")
        except (OSError, ValueError, TypeError, RuntimeError) as e:
            log.error("index snapshot %s is unreadable: %s", directory, e)
            raise KbError(f"index snapshot {directory.name} is unreadable", status=503) from e
        if not (self.dense.size == self.lexical.size == self.manifest.passages):
            raise KbError(f"index snapshot {directory.name} is inconsistent", status=503)
        self.directory = directory
        uri = f"file:{quote(str(directory / 'passages.sqlite3'))}?mode=ro&immutable=1"
        self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        rows = self._db.execute(
            "SELECT kind, lang, page, chrome FROM passages ORDER BY row"
        ).fetchall()
        self.kinds = np.array([r[0] for r in rows], dtype=object)
        self.retrievable = np.array([not r[3] for r in rows], dtype=bool)  # chrome never is
        self.langs = np.array([primary_language(r[1]) for r in rows], dtype=object)
        self.row_page = np.array([r[2] for r in rows], dtype=np.int64)
        pages = self._db.execute(
            "SELECT start, url, title, headings, steps, grp FROM pages ORDER BY page"
        ).fetchall()
        self.page_start = np.array([p[0] for p in pages], dtype=np.int64)
        self.page_terms = [frozenset(tokenize(" ".join([p[2], *json.loads(p[3])]))) for p in pages]
        self.page_steps = np.array([bool(p[4]) for p in pages], dtype=bool)
        self.page_group = np.array([p[5] for p in pages], dtype=np.int64)
        members: dict[int, list[str]] = {}
        for number, group in enumerate(self.page_group):
            if number != group:
                members.setdefault(int(group), []).append(pages[number][1])
        # A document read from several addresses (a page and its print copy) lists the others.
        for page, also in self._db.execute(
            "SELECT page, json_extract(meta, ?) FROM passages WHERE json_type(meta, ?) = 'array'"
            " GROUP BY page",
            (f"$.{ALSO_AT}", f"$.{ALSO_AT}"),
        ):
            members.setdefault(int(self.page_group[page]), []).extend(
                at_address(pages[page][1], a) for a in json.loads(also) if isinstance(a, str)
            )
        self.duplicates = {group: tuple(urls) for group, urls in members.items()}
        tables = self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        self.keeps_documents = ("documents",) in tables.fetchall()
        self._collapse = self._shown_rows(self.retrievable)
        self._masks: OrderedDict[Filter, np.ndarray | None] = OrderedDict()

    @property
    def version(self) -> str:
        """The snapshot's version name."""
        return self.manifest.version

    def passages(self, rows: Sequence[int]) -> list[Passage]:
        """Return the passages at ``rows``, in that order."""
        if not rows:
            return []
        marks = ",".join("?" * len(rows))
        with self._lock:
            found = {
                r[0]: Passage(*r[1:])
                for r in self._db.execute(
                    f"SELECT row, chunk_id, doc_id, doc_version, title, url, section, text, kind,"
                    f" lang FROM passages WHERE row IN ({marks})",
                    [int(r) for r in rows],
                )
            }
        return [found[int(r)] for r in rows]

    def document(self, doc_id: str) -> StoredDocument | None:
        """Return document ``doc_id`` as this snapshot was built from it, or None.

        None too when the snapshot predates format 7 and keeps no documents (see
        ``keeps_documents``).
        """
        if not self.keeps_documents:
            return None
        with self._lock:
            return read_document(
                self._db,
                doc_id,
                "SELECT section, anchor, text FROM passages WHERE doc_id = ? ORDER BY row",
            )

    def document_versions(self) -> dict[str, int]:
        """Return the version of every document the snapshot's passages come from, by id."""
        with self._lock:
            return dict(self._db.execute("SELECT DISTINCT doc_id, doc_version FROM passages"))

    def field_values(self, chunk_ids: Sequence[int], field: str) -> dict[int, Any]:
        """Return the metadata ``field`` of the passages with ``chunk_ids`` that have it."""
        if not chunk_ids:
            return {}
        marks = ",".join("?" * len(chunk_ids))
        path = '$."' + field.replace('"', "") + '"'
        with self._lock:
            rows = self._db.execute(
                f"SELECT chunk_id, json_extract(meta, ?) FROM passages"
                f" WHERE chunk_id IN ({marks}) AND json_type(meta, ?) IS NOT NULL",
                [path, *[int(c) for c in chunk_ids], path],
            ).fetchall()
        return {int(c): v for c, v in rows}

    def mask(self, where: Filter | None) -> np.ndarray | None:
        """Return one bool per row: may retrieval return it? None means every row may.

        Masks are kept for the most recent ``MASK_CACHE`` filters.
        """
        if where is None:
            return self._collapse
        with self._lock:
            if where in self._masks:
                self._masks.move_to_end(where)
                return self._masks[where]
        allow = self.retrievable.copy()
        if where.kinds is not None:
            allow &= np.isin(self.kinds, list(where.kinds))
        if where.langs is not None:
            allow &= np.isin(self.langs, [primary_language(x) for x in where.langs])
        for key, value in where.meta:
            allow &= self._meta_rows(key, value)
        for key, value in where.context:
            allow &= self._meta_rows(key, value) | ~self._meta_rows(key, None)
        mask = self._shown_rows(allow)
        with self._lock:
            self._masks[where] = mask
            while len(self._masks) > MASK_CACHE:
                self._masks.popitem(last=False)
        return mask

    def _shown_rows(self, allow: np.ndarray) -> np.ndarray | None:
        """Return ``allow`` without the rows of duplicate pages whose group's page is allowed.

        One page stands for each group of near-duplicates; when a filter leaves it out, the
        duplicates that pass stay (ranking then shows the best of them).
        """
        if not self.duplicates or not len(allow):
            return None if allow.all() else allow
        page_allowed = np.logical_or.reduceat(allow, self.page_start)
        leads = self.page_group == np.arange(len(self.page_group))
        keep = leads | ~page_allowed[self.page_group]
        shown = allow & keep[self.row_page]
        return None if shown.all() else shown

    def _meta_rows(self, key: str, value: str | None) -> np.ndarray:
        """Rows whose field ``key`` is or holds ``value``; with None, rows that have the field."""
        path = '$."' + key.replace('"', "") + '"'
        if value is None:
            sql = "SELECT row FROM passages WHERE json_type(meta, ?) IS NOT NULL"
            args: tuple[str, ...] = (path,)
        else:
            sql = (
                "SELECT row FROM passages WHERE json_extract(meta, ?) = ? OR EXISTS"
                " (SELECT 1 FROM json_each(passages.meta, ?) WHERE json_each.value = ?)"
            )
            args = (path, value, path, value)
        with self._lock:
            rows = [r[0] for r in self._db.execute(sql, args)]
        found = np.zeros(len(self.kinds), dtype=bool)
        found[rows] = True
        return found


def load_current(index_dir: Path) -> Snapshot:
    """Load the snapshot being served; raise :class:`NotReady` if there is none."""
    version = current_version(index_dir)
    if version is None:
        raise NotReady("the knowledge base has no index yet: run `kb ingest` first")
    return Snapshot(index_dir / version)
