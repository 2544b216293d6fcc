"""Ingestion as a background job: one at a time, with progress and a status that survives.

One ingest runs at a time, whoever starts it (the CLI, or a job from the admin API: see
:mod:`kb.usecases.locking`). A job's status lives in the store's ``jobs`` table,
so every worker sees it; a job whose process died is reported as interrupted.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

from kb.config import Settings
from kb.errors import KbError, NotFound
from kb.journal import Job
from kb.usecases.ingestion import Ingestion
from kb.usecases.locking import ingest_lock
from kb.usecases.stores import Stores


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Jobs:
    """Runs ingests on a background thread and reports on them from the store."""

    def __init__(self, settings: Settings, stores: Stores, ingestion: Ingestion) -> None:
        self.settings = settings
        self.stores = stores
        self.ingestion = ingestion

    def start_ingest(self, sources: Sequence[str]) -> Job:
        """Queue an ingest of ``sources`` on a background thread; return the new job."""
        if not sources or not all(isinstance(s, str) and s.strip() for s in sources):
            raise KbError("sources must be a non-empty list of URLs or paths")
        hold = ExitStack()  # taken here, so a second request is refused at once; the job lets go
        hold.enter_context(ingest_lock(self.settings.home, self.settings.database_url))
        try:
            with self.stores.journal() as journal:
                job_id = journal.add_job("ingest", list(sources), os.getpid(), socket.gethostname())
            threading.Thread(target=self._run, args=(job_id, list(sources), hold), daemon=True,
                             name=f"kb-job-{job_id}").start()  # fmt: skip
        except BaseException:
            hold.close()
            raise
        return self.get(job_id)

    def _run(self, job_id: int, sources: list[str], hold: ExitStack) -> None:
        with hold:
            self._ingest(job_id, sources)

    def _ingest(self, job_id: int, sources: list[str]) -> None:
        last, read = 0.0, 0

        def update(**fields: Any) -> None:
            with self.stores.journal() as journal:
                journal.update_job(job_id, **fields)

        def progress(documents: int) -> None:
            nonlocal last, read
            read = documents
            now = time.monotonic()
            if now - last >= 1.0:  # at most one write a second
                last = now
                update(progress=documents)

        update(status="running")
        try:
            report = self.ingestion.ingest(sources, on_document=progress, lock_held=True)
        except KbError as e:
            update(status="failed", error=e.message)
        except Exception as e:  # noqa: BLE001  (a job must always end with a status)
            update(status="failed", error=f"unexpected {type(e).__name__}: {e}")
        else:
            report_json = json.dumps({"summary": report.summary(), **report.to_dict()})
            update(status="done", progress=read, report=report_json)

    def get(self, job_id: int) -> Job:
        """Return a job's status; a running job whose process is gone is marked interrupted."""
        with self.stores.journal() as journal:
            found = journal.get_job(job_id)
            if found is None:
                raise NotFound(f"no job {job_id}")
            here = found.host in ("", socket.gethostname())  # another host's pid means nothing here
            if found.status in ("queued", "running") and here and not _alive(found.pid):
                journal.update_job(job_id, status="failed", error="interrupted: its process ended")
                found = journal.get_job(job_id)
            assert found is not None
            return found

    def recent(self, limit: int = 20) -> list[Job]:
        """The latest jobs, newest first."""
        with self.stores.journal() as journal:
            ids = journal.job_ids(limit)
        return [self.get(i) for i in ids]
