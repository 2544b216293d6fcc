"""Index versions: the snapshots kept on disk, and serving an older one again."""

from __future__ import annotations

import re

from index.snapshot import Snapshot
from index.versions import Drift, Manifest, current_version, drift, list_versions, switch_to
from kb.config import Settings
from kb.errors import NotFound
from kb.usecases.retrieval import Retrieval
from kb.usecases.stores import Stores


class IndexVersions:
    """Lists the snapshots under ``index_dir`` and rolls back to one."""

    def __init__(self, settings: Settings, stores: Stores, retrieval: Retrieval) -> None:
        self.settings = settings
        self.stores = stores
        self.retrieval = retrieval

    def list(self) -> tuple[list[Manifest], str | None]:
        """Return every snapshot, oldest first, and the name of the one served."""
        index_dir = self.settings.snapshots_dir
        return list_versions(index_dir), current_version(index_dir)

    def promote(self, version: str) -> Drift:
        """Serve ``version``, a snapshot the evaluation gate held back, as an editor decided.

        As :meth:`rollback`; the gate's verdict on it is marked promoted.
        """
        changed = self.rollback(version)
        with self.stores.regressions() as regressions:
            if regressions.gate(version) is not None:
                regressions.set_gate_status(version, "promoted")
        return changed

    def rollback(self, version: str) -> Drift:
        """Serve snapshot ``version`` from now on, once it has loaded and checked out whole.

        Returns how its documents differ from the store's: those it still cites that were
        removed or changed since (kb's article pages serve them as the snapshot has them).
        Raises :class:`NotFound` for no such snapshot, :class:`kb.errors.KbError` (503) for a
        damaged one.
        """
        if not re.fullmatch(r"v[0-9]{1,12}", version):  # a name, never a path or a novel
            raise NotFound(f"no index snapshot {version[:40]!r}")
        directory = self.settings.snapshots_dir / version
        snapshot = None
        if (directory / "manifest.json").is_file():
            snapshot = Snapshot(directory)  # raises, naming the damage, if it cannot be served
        switch_to(self.settings.snapshots_dir, version)
        self.retrieval.invalidate()
        if snapshot is None:
            return Drift()
        store = self.stores.read_only()
        if store is None:
            return drift(snapshot.document_versions(), {})
        with store:
            return drift(snapshot.document_versions(), store.versions())
