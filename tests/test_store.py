"""The store, on both engines: each test runs on a SQLite file and on a real PostgreSQL."""

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.exc import IntegrityError

from kb.database import HEAD
from kb.journal import Journal
from kb.migrations import MIGRATIONS
from kb.models import Chunk, Document, Section
from kb.store import Store


def doc(text: str = "Body", title: str = "Title", doc_id: str = "d1") -> Document:
    return Document(doc_id, title, (Section(title, text, None, 1),), source="src")


def chunks(d: Document) -> list[Chunk]:
    return [Chunk(d.id, 0, d.title, None, d.sections[0].text)]


def test_upsert_reports_added_unchanged_updated_and_keeps_versions(store_target):
    store = Store(store_target)
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


def test_documents_are_found_by_id_url_and_site_path_alike_in_both_engines(store_target):
    from dataclasses import replace

    store = Store(store_target)
    for doc_id, url in (("a", "https://h.example/help/a_b.html"), ("b", "https://h.example/help/"
                        "axb.html"), ("c", "https://h.example/docs/help/a_b.html")):  # fmt: skip
        made = replace(doc(doc_id=doc_id), url=url)
        store.upsert_document(made, chunks(made))
    assert store.has_document("a") and not store.has_document("z")
    assert store.document_id_at("https://h.example/help/axb.html") == "b"
    assert store.document_id_under("help/a_b.html") == "a"  # "_" is no wildcard; shortest URL
    assert store.document_id_under("/help/axb.html") == "b"
    assert store.document_id_under("help/a%b.html") is None


def test_remove_deletes_chunks_too(store_target):
    store = Store(store_target)
    store.upsert_document(doc(), chunks(doc()))
    assert store.remove_documents(["d1", "missing"]) == 1
    assert store.counts() == {"documents": 0, "chunks": 0}


def test_embeddings_are_cached_by_model_and_hash(store_target):
    store = Store(store_target)
    v = np.arange(4, dtype=np.float32)
    store.put_embeddings("m", {"h1": v})
    got = store.get_embeddings("m", ["h1", "h2"])
    assert list(got) == ["h1"] and np.array_equal(got["h1"], v)
    assert store.get_embeddings("other", ["h1"]) == {}


def test_store_survives_reopen_and_migrations_run_once(store_target):
    Store(store_target).upsert_document(doc(), chunks(doc()))
    again = Store(store_target)
    assert again.conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(HEAD,)]
    assert again.counts()["documents"] == 1


def test_a_store_made_before_alembic_is_brought_up_to_date_with_its_data(tmp_path: Path):
    path = tmp_path / "kb.sqlite3"
    legacy = sqlite3.connect(path)
    for script in MIGRATIONS[:3]:  # a store of an older kb: documents, pages, feedback
        legacy.executescript(script)
    legacy.execute("PRAGMA user_version = 3")
    legacy.execute(
        "INSERT INTO documents (id, source, title, content_hash, created_at, updated_at)"
        " VALUES ('old', 'src', 'Old', 'h', '2025-01-01', '2025-01-01')"
    )
    legacy.commit()
    legacy.close()
    store = Store(path)
    assert store.conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(HEAD,)]
    assert store.document_ids("src") == {"old"}  # migration 7 gave it its source row
    assert Journal(path).add_api_key(
        {
            "name": "bot",
            "key_id": "k",
            "key_hash": "x",
            "answers_per_minute": 1,
            "searches_per_minute": 1,
        }
    )


def test_a_failed_write_changes_nothing(store_target):
    store = Store(store_target)
    store.upsert_document(doc(), chunks(doc()))
    bad = doc("Other")
    duplicate_ordinals = [Chunk("d1", 0, "T", None, "a"), Chunk("d1", 0, "T", None, "b")]
    with pytest.raises(IntegrityError):
        store.upsert_document(bad, duplicate_ordinals)
    stored = store.get_document("d1")
    assert stored is not None and stored.sections[0].text == "Body" and stored.version == 1


def test_forgetting_other_sources_drops_their_documents_and_crawl_state(store_target):
    from dataclasses import replace

    from kb.store import PageState

    store = Store(store_target)
    kept, old = doc(doc_id="kept"), replace(doc(doc_id="old"), source="http://127.0.0.1:1/")
    for d in (kept, old):
        store.upsert_document(d, chunks(d))
    store.save_pages("src", [PageState("http://a/kept", "kept")], complete=True)
    store.save_pages("http://127.0.0.1:1/", [PageState("http://b/old", "old")], complete=True)
    assert store.forget_sources_except("src") == 1
    assert store.document_ids() == {"kept"}
    assert store.pages("http://127.0.0.1:1/") == {} and set(store.pages("src")) == {"http://a/kept"}


def test_the_journal_keeps_feedback_queries_candidates_jobs_and_keys(store_target):
    journal = Journal(store_target)
    first = journal.add_feedback({"target": "answer", "rating": 1, "query": "q", "citations": []})
    assert journal.add_feedback({"target": "result", "rating": -1, "query": "r"}) == first + 1
    assert [f.rating for f in journal.feedback()] == [-1, 1]
    journal.log_query({"channel": "api", "query": "q", "refused": True, "confidence": 0.25})
    assert [(q.refused, q.confidence) for q in journal.queries()] == [(True, 0.25)]
    candidate = {"key": "k", "question": "Q?", "answer": "A.", "size": 3, "tickets": ["t"],
                 "coverage": 0.5}  # fmt: skip
    journal.save_candidates([candidate])
    journal.save_candidates([candidate])  # the same cluster again: still one
    assert [c.question for c in journal.candidates("pending")] == ["Q?"]
    job = journal.add_job("ingest", ["demo"], 1)
    journal.update_job(job, status="done", progress=3)
    assert journal.get_job(job).status == "done" and journal.job_ids() == [job]
    key = {"name": "bot", "key_id": "k1", "key_hash": "x", "answers_per_minute": 1,
           "searches_per_minute": 2}  # fmt: skip
    assert journal.add_api_key(key) and not journal.add_api_key({**key, "key_id": "k2"})
    assert journal.revoke_api_key("bot") and journal.add_api_key({**key, "key_id": "k3"})
    assert [k["key_id"] for k in journal.api_keys()] == ["k3", "k1"]


def test_the_journal_keeps_one_rating_per_conversation_and_client(store_target):
    journal = Journal(store_target)
    journal.log_query({"channel": "page", "query": "How do I reset my password?",
                       "refused": False, "confidence": 0.9, "top_doc": "reset-password",
                       "conversation_id": "c1"})  # fmt: skip
    journal.log_query({"channel": "page", "query": "and on the web?", "refused": False,
                       "confidence": 0.8, "conversation_id": "c1"})  # fmt: skip
    first = journal.first_question("c1")
    assert (first.query, first.top_doc) == ("How do I reset my password?", "reset-password")
    assert journal.first_question("nobody") is None
    rating = {"conversation_id": "c1", "channel": "page", "rating": 2, "comment": "slow",
              "question": first.query, "top_doc": first.top_doc}  # fmt: skip
    stored, replaced = journal.add_rating(rating)
    assert not replaced and (stored.rating, stored.client, stored.comment) == (2, "", "slow")
    again, replaced = journal.add_rating({**rating, "rating": 5, "comment": None})
    assert replaced and again.id == stored.id and (again.rating, again.comment) == (5, None)
    keyed, replaced = journal.add_rating({**rating, "client": "k1", "channel": "api"})
    assert not replaced and keyed.id != stored.id  # another client's conversation "c1"
    assert [(r.client, r.rating) for r in journal.ratings()] == [("", 5), ("k1", 2)]
    assert journal.ratings("2999-01-01") == []
    with pytest.raises(IntegrityError):  # the table holds the scale, whatever the caller
        journal.add_rating({**rating, "conversation_id": "c2", "rating": 6})
    with pytest.raises(IntegrityError):
        journal.add_rating({**rating, "conversation_id": "c2", "channel": "sms"})


def test_a_store_at_revision_0002_is_upgraded_with_its_data(store_target):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    import kb.database

    config = Config()
    config.set_main_option("script_location", str(Path(kb.database.__file__).parent / "alembic"))
    made = create_engine(kb.database.database_url(store_target))
    with made.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")  # the store of the kb before ratings
        conn.exec_driver_sql(
            "INSERT INTO queries (created_at, channel, query, refused, confidence, top_doc,"
            " conversation_id) VALUES ('2026-11-20T10:00:00+00:00', 'api', 'Refunds?', 0, 0.9,"
            " 'refunds', 'old')"
        )
    made.dispose()
    journal = Journal(store_target)  # opening it migrates
    assert journal.conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(HEAD,)]
    assert journal.first_question("old").query == "Refunds?"  # the log it had is kept
    stored, _ = journal.add_rating({"conversation_id": "old", "channel": "api", "rating": 4,
                                    "question": "Refunds?", "top_doc": "refunds"})  # fmt: skip
    assert journal.ratings() == [stored]
    with made.begin() as conn:  # and the migration goes back down cleanly
        config.attributes["connection"] = conn
        command.downgrade(config, "0002")
        tables = {
            "sqlite": "SELECT name FROM sqlite_master WHERE name = 'ratings'",
            "postgresql": "SELECT tablename FROM pg_tables WHERE tablename = 'ratings'",
        }
        assert conn.exec_driver_sql(tables[made.dialect.name]).fetchall() == []
    made.dispose()


def test_reads_through_the_driver_raise_sqlalchemy_errors_and_a_damaged_store_is_a_clear_error(
    tmp_path: Path,
):
    from sqlalchemy.exc import DBAPIError

    from kb.errors import KbError

    store = Store(tmp_path / "kb.sqlite3")
    with pytest.raises(DBAPIError):
        store.conn.execute("SELECT * FROM no_such_table")
    assert store.conn.execute("SELECT COUNT(*) FROM documents").fetchone() == (0,)
    damaged = tmp_path / "damaged.sqlite3"
    damaged.write_bytes(b"not a database, " * 256)
    with pytest.raises(KbError, match="cannot open the knowledge base's store"):
        Store.reader(damaged)
