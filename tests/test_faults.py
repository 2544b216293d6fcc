"""Faults: a damaged snapshot, kill -9 in the middle of an ingest, a full disk.

Each runs the real thing: the CLI in a subprocess, a real HTTP server, real files.
"""

import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest

from kb.config import load_settings
from kb.usecases.bootstrap import Services, build
from tests.conftest import DEMO
from tests.sites import serve

KB = str(Path(sys.executable).parent / "kb")


def run_kb(home: Path, *args: str, limit_bytes: int | None = None, timeout: float = 300):
    """Run the kb CLI on ``home``; with ``limit_bytes``, no file may grow beyond that."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    env = {**os.environ, "KB_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([KB, *args], env=env, capture_output=True, text=True, timeout=timeout,
                          preexec_fn=limit if limit_bytes else None)  # fmt: skip


@pytest.fixture
def home(tmp_path, demo_home) -> Path:
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    return home


def integrity(home: Path) -> str:
    conn = sqlite3.connect(home / "kb.sqlite3")
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def snapshot_dirs(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "index").iterdir() if p.is_dir())


def second_snapshot(home: Path, embedder, tmp_path: Path) -> Services:
    """Serve v000001 in this process, then build v000002 from one more article."""
    kb = build(load_settings({"home": home, "reload_interval": 0}), embedder=embedder)
    assert kb.retrieval.searcher().snapshot.version == "v000001"
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "new.md").write_text("# Night mode\n\nNight mode dims every light after 22:00.")
    build(load_settings({"home": home}), embedder=embedder).ingestion.ingest([str(extra)])
    return kb


def test_a_damaged_snapshot_is_refused_and_the_previous_one_keeps_serving(
    home, embedder, tmp_path, caplog
):
    kb = second_snapshot(home, embedder, tmp_path)
    dense = home / "index" / "v000002" / "dense.faiss"
    dense.write_bytes(dense.read_bytes()[: dense.stat().st_size // 2])  # truncated
    assert kb.retrieval.searcher().snapshot.version == "v000001"  # still serving the good one
    assert "v000002 is damaged: dense.faiss does not match its checksum" in caplog.text
    assert kb.retrieval.search("reset password", 1)[0].passage.doc_id == "reset-password"
    # Asking for it by hand gets the same clear refusal, and changes nothing.
    (home / "index" / "CURRENT").write_text("v000001\n")
    r = run_kb(home, "index", "rollback", "v000002")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.strip() == (
        "kb: error: index snapshot v000002 is damaged: dense.faiss does not match its checksum"
    )
    assert (home / "index" / "CURRENT").read_text().strip() == "v000001"


def test_a_missing_file_is_named(home, embedder, tmp_path):
    second_snapshot(home, embedder, tmp_path)
    (home / "index" / "v000002" / "passages.sqlite3").unlink()
    r = run_kb(home, "index", "rollback", "v000002")
    assert "v000002 is damaged: passages.sqlite3 is missing" in r.stderr


def test_kill_9_during_an_ingest_loses_nothing_and_the_next_run_completes(home, tmp_path):
    site = tmp_path / "site"
    shutil.copytree(DEMO, site)
    (site / "reset-password.html").write_text(
        (site / "reset-password.html").read_text().replace("couple of minutes", "few minutes")
    )
    served = threading.Semaphore(0)

    class Slow(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(site), **kwargs)

        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            time.sleep(0.3)
            super().do_GET()
            served.release()

    before = (home / "index" / "CURRENT").read_text()
    with serve(Slow) as base:
        env = {**os.environ, "KB_HOME": str(home), "HF_HUB_OFFLINE": "1"}
        proc = subprocess.Popen([KB, "ingest", f"{base}/index.html", "--delay", "0"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        for _ in range(8):  # well into the crawl, writing pages as it goes
            assert served.acquire(timeout=60)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        assert integrity(home) == "ok"
        assert (home / "index" / "CURRENT").read_text() == before  # still serving v000001
        assert not [p for p in (home / "index").iterdir() if p.name.startswith(".")]
        kb = build(load_settings({"home": home}))
        assert kb.retrieval.search("reset password", 1)[0].passage.doc_id == "reset-password"
        again = run_kb(home, "ingest", f"{base}/index.html", "--delay", "0")
    assert again.returncode == 0, again.stderr
    assert integrity(home) == "ok"
    doc = build(load_settings({"home": home})).documents.document("reset-password")
    assert doc is not None


def test_a_full_disk_during_an_ingest_is_a_clear_error_and_leaves_no_half_snapshot(tmp_path):
    home = tmp_path / "fresh"
    r = run_kb(home, "ingest", str(DEMO), limit_bytes=400_000)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kb: error: out of disk space"), r.stderr
    assert "Traceback" not in r.stderr and "unexpected" not in r.stderr
    index = home / "index"
    assert not index.exists() or not [p for p in index.iterdir() if p.name != "CURRENT"]
    assert integrity(home) == "ok"
    done = run_kb(home, "ingest", str(DEMO))
    assert done.returncode == 0, done.stderr
    assert snapshot_dirs(home) == ["v000001"]
