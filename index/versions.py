"""Versioned index snapshots on disk: each built next to the last, served by switching one
file atomically, rolled back the same way.

Layout under ``index_dir``::

    v000001/ manifest.json dense.faiss lexical/ passages.sqlite3
    v000002/ ...
    CURRENT        the name of the snapshot being served

What a snapshot holds is built by :mod:`index.build` and read by :mod:`index.snapshot`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from kb.errors import KbError, NotFound

log = logging.getLogger("kb")
CURRENT = "CURRENT"


@dataclass(frozen=True)
class Manifest:
    """What a snapshot holds and how it was built."""

    version: str
    created_at: str
    model: str
    dim: int
    passages: int
    documents: int
    fingerprint: str
    format: int = 1
    files: dict[str, str] = field(default_factory=dict)  # relative path → blake2b of its bytes
    model_reason: str = ""  # why this model: "chosen: 83% of passages are zh", "set by …"


@dataclass(frozen=True)
class Drift:
    """How a snapshot's documents differ from the store's: ids, sorted."""

    removed: tuple[str, ...] = ()  # in the snapshot, no longer in the store
    changed: tuple[str, ...] = ()  # in both, at another version in the store

    def __bool__(self) -> bool:
        return bool(self.removed or self.changed)

    def summary(self, version: str) -> str:
        """One line for an operator: what the snapshot serves that the store no longer has."""
        parts = []
        for ids, what in ((self.removed, "removed"), (self.changed, "changed")):
            if ids:
                shown = ", ".join(ids[:5]) + (", …" if len(ids) > 5 else "")
                noun = "document" if len(ids) == 1 else "documents"
                parts.append(f"{len(ids)} {noun} {what} since ({shown})")
        return (
            f"{version} serves {' and '.join(parts)}: their pages show {version}'s text"
            " until an ingest changes the store"
        )


def drift(served: dict[str, int], stored: dict[str, int]) -> Drift:
    """Compare a snapshot's document versions with the store's (both by document id)."""
    return Drift(
        removed=tuple(sorted(set(served) - set(stored))),
        changed=tuple(sorted(d for d, v in served.items() if d in stored and stored[d] != v)),
    )


def current_version(index_dir: Path) -> str | None:
    """Return the name of the snapshot being served, or None."""
    try:
        return (index_dir / CURRENT).read_text().strip() or None
    except FileNotFoundError:
        return None


def current_manifest(index_dir: Path) -> Manifest | None:
    """Return the manifest of the snapshot being served, or None (no snapshot, or unreadable)."""
    version = current_version(index_dir)
    if version is None or not re.fullmatch(r"v[0-9]+", version):
        return None
    try:
        return Manifest(**json.loads((index_dir / version / "manifest.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def list_versions(index_dir: Path) -> list[Manifest]:
    """Return the manifests of every complete snapshot, oldest first."""
    manifests = []
    for path in sorted(index_dir.glob("v*/manifest.json")):
        try:
            manifests.append(Manifest(**json.loads(path.read_text())))
        except (ValueError, TypeError):
            continue
    return manifests


def file_digest(path: Path) -> str:
    """The blake2b digest of a file's bytes, read in blocks."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def checksums(directory: Path) -> dict[str, str]:
    """The digest of every file of a snapshot being built (the manifest aside)."""
    return {
        str(p.relative_to(directory)): file_digest(p)
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }


def verify(directory: Path, manifest: Manifest) -> None:
    """Raise :class:`KbError` naming the first file that is missing or not as written."""
    for name, digest in manifest.files.items():
        path = directory / name
        if not path.is_file():
            raise KbError(
                f"index snapshot {directory.name} is damaged: {name} is missing", status=503
            )
        if file_digest(path) != digest:
            raise KbError(
                f"index snapshot {directory.name} is damaged: {name} does not match its checksum",
                status=503,
            )


def switch_to(index_dir: Path, version: str) -> None:
    """Make ``version`` the snapshot being served, atomically."""
    if not (index_dir / version / "manifest.json").is_file():
        raise NotFound(f"no index snapshot {version!r}")
    fd, tmp = tempfile.mkstemp(dir=index_dir, prefix=".current-")
    with os.fdopen(fd, "w") as f:
        f.write(version + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, index_dir / CURRENT)
    fsync_dir(index_dir)


def fsync_tree(root: Path) -> None:
    """Flush every file below ``root`` and the directories themselves to disk."""
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with path.open("rb") as f:
                os.fsync(f.fileno())
    for directory in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        fsync_dir(directory)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def next_version(index_dir: Path) -> str:
    numbers = [int(p.name[1:]) for p in index_dir.glob("v*") if p.name[1:].isdigit()]
    return f"v{max(numbers, default=0) + 1:06d}"


def prune(index_dir: Path, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` snapshots, never the one served; return those deleted."""
    served = current_version(index_dir)
    versions = [m.version for m in list_versions(index_dir)]
    doomed = [v for v in versions[:-keep] if v != served] if keep > 0 else []
    for version in doomed:
        shutil.rmtree(index_dir / version, ignore_errors=True)
    for leftover in index_dir.glob(".build-*"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
    return doomed
