"""One ingest at a time per data directory: a lock file held with ``flock``.

The lock is the kernel's, so it is released when its holder dies, and every process on the
host (CLI, web workers, jobs) sees it.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kb.errors import KbError

LOCK_FILE = "ingest.lock"


class Busy(KbError):
    """Another ingest holds the lock."""

    status = 409


@contextmanager
def ingest_lock(home: Path) -> Iterator[None]:
    """Hold the data directory's ingest lock, or raise :class:`Busy` at once."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / LOCK_FILE, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy("another ingest is running on this data directory; try again when it "
                       "ends") from None  # fmt: skip
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def locked(home: Path) -> bool:
    """Whether some process holds the ingest lock now."""
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
