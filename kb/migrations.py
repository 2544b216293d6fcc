"""The SQLite-only migrations kb ran before Alembic; ``PRAGMA user_version`` records the last run.

A store made before Alembic is brought up to the last of these, which the Alembic baseline
(``kb/alembic/versions/0001_baseline.py``) equals, and is marked as that revision; every
change since is an Alembic migration, for SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from typing import Any

MIGRATIONS: list[str] = [
    # 1: documents, their versions, chunks, embeddings cached by content hash, ingest runs.
    """
    CREATE TABLE documents (
        id TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'article',
        title TEXT NOT NULL,
        url TEXT,
        lang TEXT,
        meta TEXT NOT NULL DEFAULT '{}',
        content_hash TEXT NOT NULL,
        version INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX documents_source ON documents(source);
    CREATE TABLE document_versions (
        doc_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        content_hash TEXT NOT NULL,
        title TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (doc_id, version)
    );
    CREATE TABLE chunks (
        id INTEGER PRIMARY KEY,
        doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        ordinal INTEGER NOT NULL,
        section TEXT NOT NULL,
        anchor TEXT,
        text TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        UNIQUE (doc_id, ordinal)
    );
    CREATE TABLE embeddings (
        model TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (model, content_hash)
    );
    CREATE TABLE ingest_runs (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        sources TEXT NOT NULL,
        report TEXT
    );
    """,
    # 2: what the crawler knows of each page, for conditional GETs and unchanged-page links.
    """
    CREATE TABLE pages (
        url TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        doc_id TEXT,
        etag TEXT,
        last_modified TEXT,
        lastmod TEXT,
        links TEXT NOT NULL DEFAULT '[]',
        fetched_at TEXT NOT NULL
    );
    CREATE INDEX pages_source ON pages(source);
    """,
    # 3: what customers said of answers and results ("Was this helpful?").
    """
    CREATE TABLE feedback (
        id INTEGER PRIMARY KEY,
        created_at TEXT NOT NULL,
        target TEXT NOT NULL CHECK (target IN ('answer', 'result')),
        rating INTEGER NOT NULL CHECK (rating IN (-1, 1)),
        comment TEXT,
        query TEXT NOT NULL,
        answer TEXT,
        citations TEXT NOT NULL DEFAULT '[]',
        doc_id TEXT,
        index_version TEXT,
        request_id TEXT
    );
    CREATE INDEX feedback_created ON feedback(created_at);
    """,
    # 4: what customers asked and how kb did (for content gaps and KPIs), and the FAQ
    # candidates mined from tickets with the editors' decisions on them.
    """
    CREATE TABLE queries (
        id INTEGER PRIMARY KEY,
        created_at TEXT NOT NULL,
        channel TEXT NOT NULL,
        query TEXT NOT NULL,
        refused INTEGER NOT NULL,
        confidence REAL NOT NULL,
        top_doc TEXT,
        index_version TEXT,
        conversation_id TEXT
    );
    CREATE INDEX queries_created ON queries(created_at);
    CREATE TABLE faq_candidates (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        question TEXT NOT NULL,
        answer TEXT NOT NULL,
        size INTEGER NOT NULL,
        tickets TEXT NOT NULL,
        lang TEXT,
        queue TEXT,
        coverage REAL NOT NULL,
        article TEXT,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'accepted', 'rejected')),
        decided_at TEXT,
        doc_id TEXT
    );
    """,
    # 5: background jobs (ingestion started from the admin API) and how they went.
    """
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        sources TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'queued'
            CHECK (status IN ('queued', 'running', 'done', 'failed')),
        progress INTEGER,
        report TEXT,
        error TEXT,
        pid INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    """,
    # 6: backend API keys (a chatbot's server), each with its own rate limits. Only a salted
    # scrypt hash of a key is kept; key_id, the key's public part, finds the row. A revoked
    # key stays (who had access, and when); its name may be given to a new key.
    """
    CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        key_id TEXT NOT NULL UNIQUE,
        key_hash TEXT NOT NULL,
        answers_per_minute INTEGER NOT NULL CHECK (answers_per_minute >= 0),
        searches_per_minute INTEGER NOT NULL CHECK (searches_per_minute >= 0),
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );
    CREATE UNIQUE INDEX api_keys_live_name ON api_keys(name) WHERE revoked_at IS NULL;
    """,
    # 7: document identity across sources. A document may be reached by several sources (one
    # page, two overlapping crawls): each holds it until none does; documents.source stays the
    # one shown. Crawl state is per source (two crawls of one page keep their own), and a
    # folder's state is its files' ids by path. text_key (kb.text.text_key) tells copies of a
    # stored article without reading it back; NULL until the document is stored again.
    """
    CREATE TABLE document_sources (
        doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        source TEXT NOT NULL,
        PRIMARY KEY (doc_id, source)
    );
    CREATE INDEX document_sources_source ON document_sources(source);
    INSERT INTO document_sources SELECT id, source FROM documents;
    ALTER TABLE documents ADD COLUMN text_key TEXT;
    CREATE TABLE pages_by_source (
        url TEXT NOT NULL,
        source TEXT NOT NULL,
        doc_id TEXT,
        etag TEXT,
        last_modified TEXT,
        lastmod TEXT,
        links TEXT NOT NULL DEFAULT '[]',
        fetched_at TEXT NOT NULL,
        PRIMARY KEY (source, url)
    );
    INSERT INTO pages_by_source SELECT * FROM pages;
    DROP TABLE pages;
    ALTER TABLE pages_by_source RENAME TO pages;
    """,
]


def legacy_migrate(conn: Any, current: int) -> int:
    """Run, on ``conn`` (a SQLAlchemy connection to a SQLite file in a transaction), the
    migrations after ``current``; return the version reached."""
    for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
        for statement in script.split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)
        conn.exec_driver_sql(f"PRAGMA user_version = {number}")
    return len(MIGRATIONS)
