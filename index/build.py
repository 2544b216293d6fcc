"""Building an index snapshot from the store: embed what the cache lacks, write both indexes
and the passages, pages and documents they point at, then publish it (:mod:`index.versions`).

``passages.sqlite3`` holds the passages the indexes point at, the pages they make, and (from
format 7) the documents they came from as they were when the snapshot was built: kb's article
view serves a document from the snapshot that cited it, so a rollback restores the text its
links point at instead of linking to documents and sections the store no longer has.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from urllib.parse import quote

import numpy as np

from index.boilerplate import boilerplate_lines, only_boilerplate
from index.dense import MIN_PASSAGES_FOR_PAIRS, OFF_TOPIC_QUESTIONS, PROBES, DenseIndex
from index.fusion import dense_weight_for
from index.lexical import FieldedIndex
from index.pages import Page, PageRow, duplicate_groups, split_pages
from index.units import embed_units, row_units, write_units
from index.versions import (
    Manifest,
    checksums,
    current_version,
    fsync_dir,
    fsync_tree,
    list_versions,
    next_version,
    prune,
    switch_to,
)
from kb.embedder import Embedder
from kb.links import article_path, opens_at_sections
from kb.store import IndexRow, Store, embedding_text, utcnow
from kb.text import TOKENIZER, content_hash, script, slugify, tokenize

log = logging.getLogger("kb")
FORMAT = 12  # bump when the layout changes: a snapshot of another format is rebuilt
FIELD_WEIGHTS = {"heading": 0.5, "body": 0.5}


def passage_url(doc_url: str | None, doc_id: str, anchor: str | None, section: str, title: str):
    """Return the link to a passage's section: its anchor, or a text fragment for its heading.

    Documents with no public URL, or one a browser downloads (a Word file), link to kb's own
    article page, which gives every section an anchor (its slug) when the source had none.
    Anchors keep ``=`` so a PDF's ``page=N`` reaches the viewer as its open parameter.
    """
    if doc_url and not opens_at_sections(doc_url):
        doc_url = None  # a Word file: its sections are in kb's copy
    base = (doc_url or article_path(doc_id)).split("#", 1)[0]
    if not doc_url and not anchor and section and section != title:
        anchor = slugify(section)
    if anchor:
        return f"{base}#{quote(anchor, safe='-_.~=')}"
    if section and section != title:
        return f"{base}#:~:text={quote(section, safe='')}"
    return base


def fingerprint(model: str, rows: Sequence[IndexRow], units: bool = False) -> str:
    """Return a hash that changes whenever anything a snapshot holds would change: ``units``
    says whether it holds its answer units' vectors."""
    return content_hash(
        str(FORMAT),
        TOKENIZER,
        model,
        "answer units" if units else "",
        *(f"{r.doc_id}\x1e{r.doc_version}\x1e{r.content_hash}" for r in rows),
    )


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
    serve: bool = True,
    unit_embedder: Callable[[], Embedder] | None = None,
    unit_kinds: frozenset[str] | None = None,
) -> tuple[Manifest, int]:
    """Build a snapshot from the store unless the newest one is identical.

    The embedding model is loaded when a snapshot is built (to embed what the cache lacks);
    its name and ``model_reason`` go into the manifest, so queries are embedded alike. With
    ``serve`` the new snapshot is served at once (and old ones pruned); without, the caller
    decides (:func:`index.versions.switch_to`). Returns the new snapshot's manifest, or the
    served one's when nothing changed, and how many passages had to be embedded.

    With ``unit_embedder`` (the model that serves questions) the snapshot also holds the
    vectors of the answer units of its passages of ``unit_kinds`` (all when None), so an
    extractive answer embeds none (see index/units.py); they are embedded after the passages,
    reported to ``progress`` too, and cached in the store like them.
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    rows = store.index_rows()
    digest = fingerprint(model, rows, units=unit_embedder is not None)
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
        if unit_embedder is not None:
            answered = [r for r, c in zip(rows, chrome, strict=True)
                        if not c and (unit_kinds is None or r.kind in unit_kinds)]  # fmt: skip
            units = row_units(answered)
            write_units(tmp, units, embed_units(store, unit_embedder(), units, batch_size,
                                                progress))  # fmt: skip
        version = next_version(index_dir)
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
        fsync_tree(tmp)
        os.rename(tmp, index_dir / version)
        fsync_dir(index_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if serve:
        switch_to(index_dir, version)
        prune(index_dir, keep=keep)
    return manifest, embedded


def heading_text(row: IndexRow) -> str:
    """Return a passage's heading field: the document title, and its section if different."""
    return (
        row.title if not row.section or row.section == row.title else f"{row.title}\n{row.section}"
    )


# embedder → script → query vectors; by the embedder itself, as two knowledge bases in one
# process may each have a tuned model of the same name
_OFF_TOPIC: weakref.WeakKeyDictionary[Embedder, dict[str, np.ndarray]] = weakref.WeakKeyDictionary()
_OFF_TOPIC_LOCK = threading.Lock()


def off_topic_vectors(embedder: Embedder) -> dict[str, np.ndarray]:
    """Return the off-topic questions (index/off_topic_questions.txt) embedded as queries, by
    script, leaving out scripts the model cannot read; embedded once per model and process."""
    with _OFF_TOPIC_LOCK:
        if embedder not in _OFF_TOPIC:
            lines = OFF_TOPIC_QUESTIONS.read_text(encoding="utf-8").splitlines()
            questions = [q for q in (line.strip() for line in lines) if q and q[0] != "#"]
            by_script: dict[str, list[str]] = {}
            for q in questions:
                if dense_weight_for(q, embedder.languages, 1.0):
                    by_script.setdefault(script(q), []).append(q)
            _OFF_TOPIC[embedder] = {
                name: embedder.embed(texts, query=True) for name, texts in by_script.items()
            }
        return _OFF_TOPIC[embedder]


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
