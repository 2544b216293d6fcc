"""Versioned snapshots: hot swap under load, rollback, retention, crash safety."""

import json
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from index import build as snapshot_build
from index import versions
from kb.config import load_settings
from kb.usecases.bootstrap import build
from web import create_app


def write_site(folder: Path, version: int) -> None:
    folder.mkdir(exist_ok=True)
    for i in range(12):
        (folder / f"page{i}.html").write_text(
            f"<html><body><main><h1>Topic {i} password reset v{version}</h1>"
            f"<p>How to reset a password, step {i}, edition {version}.</p></main></body></html>"
        )


def test_search_keeps_answering_while_a_reingest_swaps_the_snapshot(tmp_path, embedder):
    site = tmp_path / "site"
    write_site(site, 1)
    settings = load_settings({"home": tmp_path / "home", "reload_interval": 0.0, "rate_limit": 0})
    build(settings, embedder=embedder).ingestion.ingest([str(site)])
    server = make_server("127.0.0.1", 0, create_app(settings), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/search?q=reset+password&k=5"
    stop = threading.Event()
    outcomes: list[tuple[int, int, str]] = []

    def hammer() -> None:
        while not stop.is_set():
            try:
                with urllib.request.urlopen(url, timeout=30) as response:
                    body = json.loads(response.read())
                    outcomes.append((response.status, len(body["hits"]), body["index_version"]))
            except Exception as e:  # any failure is what this test looks for
                outcomes.append((0, 0, repr(e)))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        write_site(site, 2)
        build(settings, embedder=embedder).ingestion.ingest([str(site)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(v == "v000002" for *_, v in outcomes):
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join()
        server.shutdown()
    assert outcomes
    assert [o for o in outcomes if o[0] != 200 or o[1] == 0] == []
    assert {v for *_, v in outcomes} == {"v000001", "v000002"}


def test_rollback_and_retention(tmp_path, embedder):
    site = tmp_path / "site"
    settings = load_settings({"home": tmp_path / "home", "index_keep": 2})
    kb = build(settings, embedder=embedder)
    for version in (1, 2, 3):
        write_site(site, version)
        kb.ingestion.ingest([str(site)])
    manifests, current = kb.versions.list()
    assert [m.version for m in manifests] == ["v000002", "v000003"] and current == "v000003"
    kb.versions.rollback("v000002")
    assert kb.retrieval.searcher().snapshot.version == "v000002"
    assert "edition 2" in kb.retrieval.search("reset password", k=1)[0].passage.text


def test_a_crash_mid_build_leaves_the_previous_snapshot_serving(tmp_path, embedder, monkeypatch):
    site = tmp_path / "site"
    write_site(site, 1)
    settings = load_settings({"home": tmp_path / "home"})
    build(settings, embedder=embedder).ingestion.ingest([str(site)])
    write_site(site, 2)

    def crash(*args, **kwargs):
        raise OSError("disk on fire")

    monkeypatch.setattr(snapshot_build.FieldedIndex, "build", crash)
    with pytest.raises(OSError):
        build(settings, embedder=embedder).ingestion.ingest([str(site)])
    index_dir = settings.snapshots_dir
    assert versions.current_version(index_dir) == "v000001"
    assert not list(index_dir.glob(".build-*"))
    served = build(settings, embedder=embedder)
    assert "edition 1" in served.retrieval.search("reset password", k=1)[0].passage.text


def test_a_broken_new_snapshot_is_refused_and_the_old_one_keeps_serving(tmp_path, embedder):
    site = tmp_path / "site"
    write_site(site, 1)
    settings = load_settings({"home": tmp_path / "home", "reload_interval": 0.0, "rate_limit": 0})
    kb = build(settings, embedder=embedder)
    kb.ingestion.ingest([str(site)])
    assert kb.retrieval.search("reset password", k=1)
    broken = settings.snapshots_dir / "v000009"
    broken.mkdir()
    (broken / "manifest.json").write_text('{"version": "v000009"}')
    versions.switch_to(settings.snapshots_dir, "v000009")
    hits = kb.retrieval.search("reset password", k=1)
    assert hits and kb.retrieval.searcher().snapshot.version == "v000001"


def test_rollback_sticks_until_the_content_changes(tmp_path, embedder):
    site = tmp_path / "site"
    settings = load_settings({"home": tmp_path / "home"})
    kb = build(settings, embedder=embedder)
    for version in (1, 2):
        write_site(site, version)
        kb.ingestion.ingest([str(site)])
    kb.versions.rollback("v000001")
    kb.ingestion.ingest([str(site)])  # nothing changed: the rollback stands
    assert kb.versions.list()[1] == "v000001"
    write_site(site, 3)
    kb.ingestion.ingest([str(site)])
    assert kb.versions.list()[1] == "v000003"


def test_the_served_index_is_memory_mapped_so_workers_share_it(demo_home, embedder):
    """Each gunicorn worker maps the same files: the page cache holds one copy for all."""
    searcher = build(load_settings({"home": demo_home}), embedder=embedder).retrieval.searcher()
    directory = searcher.snapshot.directory
    maps = Path("/proc/self/maps").read_text()
    assert str(directory / "dense.faiss") in maps
    assert str(directory / "lexical") in maps  # bm25s loads its sparse matrices with mmap
