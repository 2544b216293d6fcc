"""One ingest at a time per knowledge base: a lock file held with ``flock``, or, when the store
is in PostgreSQL, an advisory lock there.

Either lock is released when its holder dies (the kernel's; the database session's). The file
lock is seen by every process on the host (CLI, web workers, jobs); the advisory lock by every
host sharing the database, so two replicas never ingest at once.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kb.database import engine, is_postgresql
from kb.errors import KbError

LOCK_FILE = "ingest.lock"
ADVISORY_KEY = 0x6B62_0002  # PostgreSQL advisory lock key of the ingest lock ("kb", 2)
BUSY = "another ingest is running on this knowledge base; try again when it ends"


class Busy(KbError):
    """Another ingest holds the lock."""

    status = 409


@contextmanager
def ingest_lock(home: Path, database_url: str = "") -> Iterator[None]:
    """Hold the knowledge base's ingest lock, or raise :class:`Busy` at once.

    With a PostgreSQL ``database_url`` the lock is an advisory lock in that database, held on a
    connection of its own for as long as the block runs; otherwise a lock file in ``home``.
    """
    if is_postgresql(database_url):
        with engine(database_url).connect() as conn:
            got = conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({ADVISORY_KEY})").scalar()
            conn.commit()  # the lock is the session's: no transaction is left open meanwhile
            if not got:
                raise Busy(BUSY)
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({ADVISORY_KEY})")
                conn.commit()
        return
    home.mkdir(parents=True, exist_ok=True)
    with open(home / LOCK_FILE, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(BUSY) from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def locked(home: Path, database_url: str = "") -> bool:
    """Whether some process (on any host, with PostgreSQL) holds the ingest lock now."""
    if is_postgresql(database_url):
        with engine(database_url).connect() as conn:
            held = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                f" AND classid = 0 AND objid = {ADVISORY_KEY} AND objsubid = 1"
            ).scalar()
        return bool(held)
    path = home / LOCK_FILE
    if not path.exists():
        return False
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False
