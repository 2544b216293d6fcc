"""A connection to kb's SQLite file: read-write (created and migrated) or read-only.

:class:`kb.store.Store` (the content) and :class:`kb.journal.Journal` (what customers and
editors did) are the two aggregates kept in it; each opens its own connection.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote

from kb.errors import KbError
from kb.migrations import migrate


def utcnow() -> str:
    """Return the current UTC time as an ISO 8601 string."""
    return datetime.now(UTC).isoformat(timespec="seconds")


class Database:
    """One connection to kb's SQLite file, read-write (migrated) or read-only."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA foreign_keys = ON")
            migrate(self.conn)
        except sqlite3.DatabaseError as e:
            logging.getLogger("kb").error("cannot open the store %s: %s", path, e)
            raise KbError("cannot open the knowledge base's store", status=500) from None
        self.path = path
        self._lock = threading.RLock()

    @classmethod
    def reader(cls, path: Path) -> Self | None:
        """Open an existing store read-only (no migration, nothing created); None if absent."""
        if not path.is_file():
            return None
        store = cls.__new__(cls)
        try:
            store.conn = sqlite3.connect(
                f"file:{quote(str(path))}?mode=ro", uri=True, check_same_thread=False, timeout=30
            )
            store.conn.execute("SELECT 1 FROM documents LIMIT 1")
        except sqlite3.DatabaseError as e:
            logging.getLogger("kb").error("cannot read the store %s: %s", path, e)
            raise KbError("cannot open the knowledge base's store", status=500) from None
        store.path = path
        store._lock = threading.RLock()
        return store

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run a block in one transaction: all of it is stored, or none of it."""
        with self._lock, self.conn:
            yield self.conn

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            cursor = self.conn.execute(sql, args)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
