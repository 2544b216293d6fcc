"""The ways into one knowledge base's store (its SQLite file, or PostgreSQL): the content
(:class:`Store`) and the journal (:class:`Journal`), per task or shared by serving."""

from __future__ import annotations

import threading
from pathlib import Path

from kb.journal import Journal
from kb.regressions import Regressions
from kb.store import Store


class Stores:
    """Opens the store at ``target``: a SQLite path, or a database URL (``postgresql://…``).

    :meth:`open`, :meth:`read_only` and :meth:`journal` give a connection for one task (use
    them with ``with``); :meth:`writer` and :meth:`reader` give journal connections kept open
    for the small reads and writes every request makes (query log, feedback, API keys).
    """

    def __init__(self, target: str | Path) -> None:
        self.target = target
        self._writer: Journal | None = None
        self._reader: Journal | None = None
        self._lock = threading.Lock()

    def open(self) -> Store:
        """A read-write connection, the store created and migrated if need be."""
        return Store(self.target)

    def read_only(self) -> Store | None:
        """A read-only connection to the store, or None when there is none yet."""
        return Store.reader(self.target)

    def journal(self) -> Journal:
        """A read-write connection to the journal, the file created and migrated if need be."""
        return Journal(self.target)

    def regressions(self) -> Regressions:
        """A read-write connection to the regression questions and the gate's verdicts."""
        return Regressions(self.target)

    def writer(self) -> Journal:
        """A connection kept open for the small writes serving makes (query log, feedback).

        Opening the store for each request would check migrations and connect every time;
        the store's lock makes the one connection safe across request threads.
        """
        with self._lock:
            if self._writer is None:
                self._writer = Journal(self.target)
            return self._writer

    def reader(self) -> Journal:
        """A read-only connection kept open for the small reads every request makes (API keys).

        It has a lock of its own, so these reads never wait for the writer's lock; in WAL mode
        each read sees every write committed before it (a revoked key is refused at once).
        """
        with self._lock:
            if self._reader is None:
                if self._writer is None:  # the writer creates and migrates the file first
                    self._writer = Journal(self.target)
                self._reader = Journal.reader(self.target)
            assert self._reader is not None
            return self._reader
