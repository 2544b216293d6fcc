import sqlite3
from pathlib import Path

import numpy as np
import pytest

from kb.migrations import MIGRATIONS
from kb.models import Chunk, Document, Section
from kb.store import Store


def doc(text: str = "Body", title: str = "Title", doc_id: str = "d1") -> Document:
    return Document(doc_id, title, (Section(title, text, None, 1),), source="src")


def chunks(d: Document) -> list[Chunk]:
    return [Chunk(d.id, 0, d.title, None, d.sections[0].text)]


def test_upsert_reports_added_unchanged_updated_and_keeps_versions(tmp_path: Path):
    store = Store(tmp_path / "kb.sqlite3")
    assert store.upsert_document(doc(), chunks(doc())) == "added"
    assert store.upsert_document(doc(), chunks(doc())) == "unchanged"
    changed = doc("New body")
    assert store.upsert_document(changed, chunks(changed)) == "updated"
    stored = store.get_document("d1")
    assert stored is not None and stored.version == 2
    assert stored.sections[0].text == "New body"
    versions = store.conn.execute(
        "SELECT version FROM document_versions WHERE doc_id='d1' ORDER BY version"
    ).fetchall()
    assert versions == [(1,), (2,)]
    assert store.counts() == {"documents": 1, "chunks": 1}


def test_remove_deletes_chunks_too(tmp_path: Path):
    store = Store(tmp_path / "kb.sqlite3")
    store.upsert_document(doc(), chunks(doc()))
    assert store.remove_documents(["d1", "missing"]) == 1
    assert store.counts() == {"documents": 0, "chunks": 0}


def test_embeddings_are_cached_by_model_and_hash(tmp_path: Path):
    store = Store(tmp_path / "kb.sqlite3")
    v = np.arange(4, dtype=np.float32)
    store.put_embeddings("m", {"h1": v})
    got = store.get_embeddings("m", ["h1", "h2"])
    assert list(got) == ["h1"] and np.array_equal(got["h1"], v)
    assert store.get_embeddings("other", ["h1"]) == {}


def test_store_survives_reopen_and_migrations_run_once(tmp_path: Path):
    path = tmp_path / "kb.sqlite3"
    Store(path).upsert_document(doc(), chunks(doc()))
    again = Store(path)
    assert again.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert again.counts()["documents"] == 1


def test_a_failed_write_changes_nothing(tmp_path: Path):
    store = Store(tmp_path / "kb.sqlite3")
    store.upsert_document(doc(), chunks(doc()))
    bad = doc("Other")
    duplicate_ordinals = [Chunk("d1", 0, "T", None, "a"), Chunk("d1", 0, "T", None, "b")]
    with pytest.raises(sqlite3.IntegrityError):
        store.upsert_document(bad, duplicate_ordinals)
    stored = store.get_document("d1")
    assert stored is not None and stored.sections[0].text == "Body" and stored.version == 1


def test_forgetting_other_sources_drops_their_documents_and_crawl_state(tmp_path: Path):
    from dataclasses import replace

    from kb.store import PageState

    store = Store(tmp_path / "kb.sqlite3")
    kept, old = doc(doc_id="kept"), replace(doc(doc_id="old"), source="http://127.0.0.1:1/")
    for d in (kept, old):
        store.upsert_document(d, chunks(d))
    store.save_pages("src", [PageState("http://a/kept", "kept")], complete=True)
    store.save_pages("http://127.0.0.1:1/", [PageState("http://b/old", "old")], complete=True)
    assert store.forget_sources_except("src") == 1
    assert store.document_ids() == {"kept"}
    assert store.pages("http://127.0.0.1:1/") == {} and set(store.pages("src")) == {"http://a/kept"}
