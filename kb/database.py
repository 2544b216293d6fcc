"""kb's store: a SQLite file under ``KB_HOME`` (the default) or PostgreSQL (``KB_DATABASE_URL``).

:class:`kb.store.Store` (the content) and :class:`kb.journal.Journal` (what customers and
editors did) are the two aggregates kept in it. SQLAlchemy gives the engines (a connection
pool and a dialect each) and Alembic the migrations (``kb/alembic/``): one schema and one set
of migrations for both engines, run when a store is first opened by a process. kb's queries are
plain SQL written once in what both engines speak (``ON CONFLICT``, ``RETURNING``), with ``?``
placeholders turned into the driver's.

Why SQLAlchemy Core and Alembic rather than psycopg with numbered SQL files: the same DDL does
not create an auto-numbered key on both engines (SQLite's ``INTEGER PRIMARY KEY`` is a plain
integer in PostgreSQL), so numbered SQL would be two sets of files; Alembic's operations are
rendered for each dialect, and its batch mode covers SQLite's limited ALTER TABLE.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from kb.errors import KbError

log = logging.getLogger("kb")
HEAD = "0005"  # the newest revision in kb/alembic/versions
LEGACY_LATEST = 7  # the last of the SQLite-only migrations (kb/migrations.py)
_MIGRATION_LOCK = 0x6B62_0001  # PostgreSQL advisory lock key held while migrating ("kb")
_engines: dict[tuple[str, bool], Engine] = {}
_engines_lock = threading.Lock()


def utcnow() -> str:
    """Return the current UTC time as an ISO 8601 string."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def database_url(target: str | Path) -> str:
    """Return the SQLAlchemy URL of ``target``: a path is a SQLite file, a string a URL.

    ``postgresql://…`` is served by psycopg 3 (``postgresql+psycopg://``).
    """
    if isinstance(target, Path):
        return f"sqlite:///{target}"
    if target.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + target.split("://", 1)[1]
    return target


def is_postgresql(url: str) -> bool:
    """Whether ``url`` names a PostgreSQL database."""
    return database_url(url).startswith("postgresql")


@cache
def _placeholders(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (and a literal ``%`` doubled)."""
    return re.sub(r"\?", "%s", sql.replace("%", "%%"))


class Result:
    """The rows of one statement, read whole (the connection went back to the pool)."""

    def __init__(self, rows: list[Any], rowcount: int, names: list[str]) -> None:
        self.rows = rows
        self.rowcount = rowcount
        self.names = names

    def fetchone(self) -> Any:
        """The first row, or None."""
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[Any]:
        """Every row."""
        return self.rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self.rows)


class Session:
    """Statements on one connection: ``execute(sql, args)`` and ``executemany(sql, rows)``."""

    def __init__(self, conn: Connection, postgresql: bool) -> None:
        self.conn = conn
        self.postgresql = postgresql

    def _sql(self, sql: str) -> str:
        return _placeholders(sql) if self.postgresql else sql

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Result:
        """Run one statement with positional ``?`` parameters; return its rows."""
        cursor = self.conn.exec_driver_sql(self._sql(sql), tuple(args))
        if cursor.returns_rows:
            return Result(list(cursor.fetchall()), cursor.rowcount, list(cursor.keys()))
        return Result([], cursor.rowcount, [])

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Result:
        """Run one statement once per row of parameters."""
        rows = [tuple(r) for r in rows]
        if not rows:
            return Result([], 0, [])
        cursor = self.conn.exec_driver_sql(self._sql(sql), rows)  # type: ignore[arg-type]
        return Result([], cursor.rowcount, [])


class _Reads:
    """``execute`` for reads outside a transaction: a pooled connection per statement.

    The statement goes to the driver's own cursor on a connection from the engine's pool, as
    ``exec_driver_sql`` would send it, without SQLAlchemy's result machinery: about a tenth of
    a millisecond a read, and every request with an API key reads its key. Errors are raised
    as SQLAlchemy's (``DBAPIError`` and its kinds), as through a ``Connection``.
    """

    def __init__(self, database: Database) -> None:
        self.database = database

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Result:
        db = self.database
        statement = _placeholders(sql) if db.postgresql else sql
        conn = db.engine.raw_connection()
        try:
            cursor = conn.cursor()
            try:
                cursor.execute(statement, tuple(args))
                if cursor.description is None:
                    return Result([], cursor.rowcount, [])
                names = [d[0] for d in cursor.description]
                return Result(list(cursor.fetchall()), cursor.rowcount, names)
            finally:
                cursor.close()
        except db.engine.dialect.loaded_dbapi.Error as e:
            raise DBAPIError.instance(
                statement, tuple(args), e, db.engine.dialect.loaded_dbapi.Error
            ) from e
        finally:
            conn.close()  # back to the pool, rolled back


class Database:
    """kb's store at ``target`` (a SQLite path or a database URL), created and migrated."""

    def __init__(self, target: str | Path) -> None:
        self.url = database_url(target)
        self.engine = engine(self.url)
        self.postgresql = self.engine.dialect.name == "postgresql"
        self.path = target if isinstance(target, Path) else None
        self.conn = _Reads(self)
        self._lock = threading.RLock()

    @classmethod
    def reader(cls, target: str | Path) -> Self | None:
        """Open an existing SQLite store read-only (no migration, nothing created; None if the
        file is absent), or a database server's store as it is (its schema made if need be:
        the database exists already, and every replica reads through it)."""
        if isinstance(target, Path) and not target.is_file():
            return None
        store = cls.__new__(cls)
        store.url = database_url(target)
        store.engine = engine(store.url, read_only=not is_postgresql(store.url))
        store.postgresql = store.engine.dialect.name == "postgresql"
        store.path = target if isinstance(target, Path) else None
        store.conn = _Reads(store)
        store._lock = threading.RLock()
        try:
            store.conn.execute("SELECT 1 FROM documents LIMIT 1")
        except DBAPIError as e:
            log.error("cannot read the store %s: %s", _safe(store.url), e.orig)
            raise KbError("cannot open the knowledge base's store", status=500) from None
        return store

    def close(self) -> None:
        """Nothing to close: connections go back to the process's pool after each use."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Run a block in one transaction: all of it is stored, or none of it."""
        with self._lock, self.engine.begin() as conn:
            yield Session(conn, self.postgresql)

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        result = self.conn.execute(sql, args)
        return [dict(zip(result.names, r, strict=True)) for r in result.rows]


def _safe(url: str) -> str:
    """``url`` without its password, for logs."""
    return sa.make_url(url).render_as_string(hide_password=True)


def engine(url: str, read_only: bool = False) -> Engine:
    """Return this process's engine for ``url`` (made, and the store migrated, once)."""
    key = (url, read_only)
    with _engines_lock:
        found = _engines.get(key)
        if found is None:
            found = _engines[key] = _make_engine(url, read_only)
    return found


def _make_engine(url: str, read_only: bool) -> Engine:
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if read_only:
            url = f"sqlite:///file:{quote(str(path))}?mode=ro&uri=true"
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
        made = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(made, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            if not read_only:
                dbapi_conn.execute("PRAGMA journal_mode = WAL")
            dbapi_conn.execute("PRAGMA foreign_keys = ON")

    else:
        made = sa.create_engine(url, pool_size=5, max_overflow=10, pool_pre_ping=True)
    if not read_only:
        try:
            migrate(made)
        except DBAPIError as e:
            log.error("cannot open the store %s: %s", _safe(url), e.orig)
            raise KbError("cannot open the knowledge base's store", status=500) from None
    return made


def migrate(target: Engine) -> str:
    """Bring the store up to :data:`HEAD` with Alembic; return the revision it is at.

    A SQLite file made before Alembic (``PRAGMA user_version`` 1 to 7) is first brought to the
    last of its own migrations, then marked as the baseline revision it equals. Two processes
    opening a new store at once take turns (SQLite's write lock, a PostgreSQL advisory lock).
    """
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    from kb.migrations import legacy_migrate

    with target.begin() as conn:
        if target.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
        current = MigrationContext.configure(conn).get_current_revision()
        if current == HEAD:
            return HEAD
        config = Config()
        config.set_main_option("script_location", str(Path(__file__).parent / "alembic"))
        config.attributes["connection"] = conn
        if current is None and target.dialect.name == "sqlite":
            legacy = conn.exec_driver_sql("PRAGMA user_version").scalar() or 0
            if legacy:
                legacy_migrate(conn, legacy)
                command.stamp(config, "0001")
        command.upgrade(config, "head")
    return HEAD


def _dispose_after_fork() -> None:
    """A forked child must not use its parent's pooled connections: it opens its own."""
    for made in _engines.values():
        made.dispose(close=False)


os.register_at_fork(after_in_child=_dispose_after_fork)
