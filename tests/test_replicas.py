"""Replicas on two hosts: one PostgreSQL store, one shared snapshot folder, one Redis.

Each replica here is a knowledge base with a data directory of its own (its host's disk), as
two machines behind a load balancer would have.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from kb.config import load_settings
from kb.usecases.bootstrap import build
from tests.conftest import DEMO
from tests.servers import free_port
from web import create_app


def replica(tmp_path: Path, name: str, database: str, shared: Path, redis_url: str = ""):
    settings = {"home": tmp_path / name, "database_url": database, "index_dir": shared,
                "redis_url": redis_url, "query_log": True, "rate_limit": 0,
                "rate_limit_answer": 0}  # fmt: skip
    return load_settings(settings, environ={})


def test_what_one_replica_ingests_the_other_serves_and_both_see_one_journal(
    tmp_path, postgresql_server, embedder
):
    database, shared = postgresql_server.database(), tmp_path / "shared-index"
    one = build(replica(tmp_path, "one", database, shared), embedder=embedder)
    two = build(replica(tmp_path, "two", database, shared), embedder=embedder)
    one.ingestion.ingest([str(DEMO)])
    hits = two.retrieval.search("How do I reset my password?", k=3)
    assert hits and hits[0].passage.doc_id == "reset-password"
    assert two.retrieval.searcher().version == one.retrieval.searcher().version
    assert two.documents.status()["documents"] == one.documents.status()["documents"] > 0
    assert not (tmp_path / "two" / "kb.sqlite3").exists()  # nothing kept on the host's disk

    web_one = create_app(replica(tmp_path, "one", database, shared), embedder).test_client()
    web_two = create_app(replica(tmp_path, "two", database, shared), embedder).test_client()
    asked = web_one.post("/v1/answer", json={"question": "How do I bake bread?"})
    assert asked.status_code == 200 and asked.json["refused"]
    rated = web_two.post("/v1/feedback", json={"rating": "down", "query": "bread please"})
    assert rated.status_code == 201
    for kb in (one, two):  # each replica's editors see what customers did on either
        with kb.stores.journal() as journal:
            assert [q.query for q in journal.queries()] == ["How do I bake bread?"]
            assert [f.query for f in journal.feedback()] == ["bread please"]


# --- two `kb serve` processes, as two hosts behind a load balancer ---------------------------

ADMIN = "replica-admin-key"


class Replica:
    """``kb serve`` with a data directory of its own, sharing the store, snapshots and Redis."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        kb = Path(sys.executable).parent / "kb"
        self.process = subprocess.Popen(
            [str(kb), "serve", "--port", str(self.port)], env={**env, "KB_HOME": str(home)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while self.call("GET", "/healthz")[0] != 200:
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop(signal.SIGKILL)  # never left running when it did not come up
                raise AssertionError(f"kb serve on {self.base} did not come up")
            time.sleep(0.2)

    def call(self, method: str, path: str, body: dict | None = None, client: str | None = None,
             admin: bool = False) -> tuple[int, dict]:  # fmt: skip
        """Send a request as ``client`` (its address, through the proxy kb trusts)."""
        headers = {"Content-Type": "application/json",
                   "X-Forwarded-For": client or f"10.1.{random.randrange(256)}."
                                                f"{random.randrange(256)}"}  # fmt: skip
        if admin:
            headers["Authorization"] = f"Bearer {ADMIN}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")
        except OSError:
            return 0, {}

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)


def test_two_kb_serve_replicas_share_ingests_journal_and_limits_and_survive_a_kill(
    tmp_path, postgresql_server, redis_url
):
    env = {**os.environ, "KB_DATABASE_URL": postgresql_server.database(),
           "KB_INDEX_DIR": str(tmp_path / "shared-index"), "KB_REDIS_URL": redis_url,
           "KB_ADMIN_KEY": ADMIN, "KB_BEHIND_PROXY": "1", "KB_QUERY_LOG": "1",
           "KB_RATE_LIMIT": "4", "KB_RATE_LIMIT_ANSWER": "100", "KB_RELOAD_INTERVAL": "0.3",
           "KB_WORKERS": "1", "KB_THREADS": "4"}  # fmt: skip
    one = Replica(tmp_path / "one", env)
    try:
        two = Replica(tmp_path / "two", env)
    except BaseException:
        one.stop()
        raise
    try:
        # An ingest started through one replica's admin API, followed through the other's.
        status, started = one.call("POST", "/admin/ingest", {"sources": [str(DEMO)]}, admin=True)
        assert status == 202
        job = f"/admin/jobs/{started['job']['id']}"
        deadline = time.monotonic() + 240
        while (found := two.call("GET", job, admin=True)[1]["job"])["status"] != "done":
            assert found["status"] in ("queued", "running") and time.monotonic() < deadline
            time.sleep(0.5)
        for replica in (one, two):  # both serve it, within the reload interval
            while (r := replica.call("GET", "/v1/search?q=reset+password"))[0] != 200:
                assert time.monotonic() < deadline
                time.sleep(0.2)
            assert r[1]["hits"][0]["doc_id"] == "reset-password"

        # What customers do on either replica, the other's editors see.
        assert one.call("POST", "/v1/answer", {"question": "How do I bake bread?"})[0] == 200
        assert two.call("POST", "/v1/feedback", {"rating": "down", "query": "bread?"})[0] == 201
        for replica in (one, two):
            kpis = replica.call("GET", "/admin/kpis", admin=True)[1]
            assert kpis["questions"] == 1, kpis
            feedback = replica.call("GET", "/admin/feedback", admin=True)[1]["feedback"]
            assert [f["query"] for f in feedback] == ["bread?"]

        # One client's limit counts across both replicas.
        statuses = [r.call("GET", "/v1/search?q=bulb", client="10.9.9.9")[0]
                    for r in (one, two, one, two, one, two)]  # fmt: skip
        assert statuses == [200] * 4 + [429] * 2

        # Killing one replica mid-traffic loses no stored feedback; the other keeps answering.
        sent: list[int] = []
        answered: list[int] = []
        for n in range(40):
            if n == 15:
                one.stop(signal.SIGKILL)
            for replica in (one, two):
                status, _ = replica.call("POST", "/v1/feedback", {"rating": "up", "query": f"q{n}"})
                if status == 201:
                    sent.append(n)
                if replica is two:
                    answered.append(status)
        assert set(answered) == {201}
        stored = two.call("GET", "/admin/feedback?limit=1000", admin=True)[1]["feedback"]
        assert sorted(f["query"] for f in stored if f["query"] != "bread?") == sorted(
            f"q{n}" for n in sent
        )
    finally:
        one.stop()
        two.stop()
