"""A loaded index snapshot: both indexes, the passages they point at, and the filters over them."""

from __future__ import annotations

import json
import logging
import sqlite3
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from index.dense import DenseIndex
from index.lexical import FieldedIndex
from index.units import UnitVectors
from index.versions import Manifest, current_version, verify
from kb.errors import KbError, NotReady
from kb.links import ALSO_AT, at_address
from kb.models import Filter, Passage
from kb.store import StoredDocument, read_document

log = logging.getLogger("kb")
MASK_CACHE = 64  # filters whose row masks a snapshot keeps


def primary_language(tag: str | None) -> str:
    """Return the primary subtag of a language tag, lower-case: ``en-US`` → ``en``."""
    return (tag or "").replace("_", "-").split("-")[0].strip().lower()


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
            self.units = UnitVectors.load(directory)  # None when built without them
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
        # One string per kind and language, not one per passage: at a million passages, 100 MB.
        self.kinds = np.array([sys.intern(r[0]) for r in rows], dtype=object)
        self.retrievable = np.array([not r[3] for r in rows], dtype=bool)  # chrome never is
        self.langs = np.array([sys.intern(primary_language(r[1])) for r in rows], dtype=object)
        self.row_page = np.array([r[2] for r in rows], dtype=np.int64)
        pages = self._db.execute(
            "SELECT start, url, steps, grp FROM pages ORDER BY page"
        ).fetchall()
        self.page_start = np.array([p[0] for p in pages], dtype=np.int64)
        self.page_steps = np.array([bool(p[2]) for p in pages], dtype=bool)
        self.page_group = np.array([p[3] for p in pages], dtype=np.int64)
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

    def updated_times(self, doc_ids: Iterable[str]) -> dict[str, str] | None:
        """Return when each of ``doc_ids`` changed (ISO 8601, UTC), as this snapshot was built
        from it; None when the snapshot predates format 7 and keeps no documents."""
        if not self.keeps_documents:
            return None
        ids = list(dict.fromkeys(doc_ids))
        if not ids:
            return {}
        with self._lock:
            return dict(self._db.execute(
                f"SELECT id, updated_at FROM documents WHERE id IN ({','.join('?' * len(ids))})",
                ids,
            ).fetchall())  # fmt: skip

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
