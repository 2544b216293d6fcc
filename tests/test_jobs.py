"""Ingestion from the admin API as a background job: one at a time, status that persists."""

import shutil
import threading
import time
from http.server import SimpleHTTPRequestHandler

import pytest

from kb.config import load_settings
from kb.usecases.bootstrap import build
from kb.usecases.locking import Busy, ingest_lock, locked
from tests.conftest import DEMO
from tests.sites import serve
from web import create_app

KEY = "job-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def wait_for(client, job_id, statuses, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/admin/jobs/{job_id}", headers=AUTH).json["job"]
        if job["status"] in statuses:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job['status']}")


def test_an_ingest_job_runs_in_the_background_one_at_a_time(tmp_path, embedder):
    site = tmp_path / "site"
    shutil.copytree(DEMO, site)
    release = threading.Event()

    class Gated(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(site), **kwargs)

        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            release.wait(60)
            super().do_GET()

    home = tmp_path / "home"
    app = create_app({"home": home, "admin_key": KEY, "rate_limit": 0}, embedder)
    client = app.test_client()
    with serve(Gated) as base:
        r = client.post("/admin/ingest", headers=AUTH, json={"sources": [f"{base}/index.html"]})
        assert r.status_code == 202
        job = r.json["job"]
        assert job["status"] in ("queued", "running") and job["sources"] == [f"{base}/index.html"]
        wait_for(client, job["id"], {"running"})
        # One at a time: a second job, and the CLI's ingest, are refused while it runs.
        again = client.post("/admin/ingest", headers=AUTH, json={"sources": [str(DEMO)]})
        assert again.status_code == 409 and "another ingest is running" in again.json["error"]
        kb = build(load_settings({"home": home}), embedder=embedder)
        try:
            kb.ingestion.ingest([str(DEMO)])
            raise AssertionError("a second ingest ran")
        except Busy:
            pass
        release.set()
        done = wait_for(client, job["id"], {"done", "failed"})
    assert done["status"] == "done", done["error"]
    assert done["progress"] >= 30 and "40 added" in done["report"]["summary"]
    assert client.get("/admin/jobs", headers=AUTH).json["jobs"][0]["id"] == job["id"]
    top = client.get("/v1/search?q=reset+password").json["hits"][0]
    assert top["doc_id"].endswith("/reset-password")


def test_a_failed_job_says_why_and_bad_requests_are_400(tmp_path, embedder):
    app = create_app({"home": tmp_path / "home", "admin_key": KEY}, embedder)
    client = app.test_client()
    r = client.post("/admin/ingest", headers=AUTH, json={"sources": [str(tmp_path / "nope")]})
    failed = wait_for(client, r.json["job"]["id"], {"done", "failed"})
    assert failed["status"] == "failed" and failed["error"]
    assert client.post("/admin/ingest", headers=AUTH, json={"sources": []}).status_code == 400
    assert client.get("/admin/jobs/999", headers=AUTH).status_code == 404


def test_a_job_whose_process_died_is_reported_interrupted(tmp_path):
    kb = build(load_settings({"home": tmp_path / "home"}))
    store = kb.stores.journal()
    job_id = store.add_job("ingest", ["x"], pid=2**22 + 12345)  # no such process
    store.update_job(job_id, status="running")
    store.close()
    found = kb.jobs.get(job_id)
    assert found.status == "failed" and "interrupted" in found.error


def test_a_job_another_host_runs_is_not_judged_by_this_host_s_processes(tmp_path):
    kb = build(load_settings({"home": tmp_path / "home"}))
    with kb.stores.journal() as journal:
        job_id = journal.add_job("ingest", ["x"], pid=2**22 + 12345, host="another-replica")
        journal.update_job(job_id, status="running")
    found = kb.jobs.get(job_id)
    assert found.status == "running" and found.host == "another-replica"


def test_the_lock_is_released_after_an_ingest(tmp_path):
    with ingest_lock(tmp_path):
        pass
    with ingest_lock(tmp_path):  # would raise Busy if the first had leaked
        pass


def test_with_postgresql_the_lock_is_the_database_s_so_every_host_sees_it(
    tmp_path, postgresql_server
):
    url = postgresql_server.database()
    elsewhere = tmp_path / "another-host"  # a replica with a data directory of its own
    assert not locked(tmp_path, url)
    with ingest_lock(tmp_path, url):
        assert locked(elsewhere, url)
        with pytest.raises(Busy), ingest_lock(elsewhere, url):
            pass
    assert not locked(elsewhere, url)
    with ingest_lock(elsewhere, url):  # released: the next ingest may start
        pass
