"""make load / make soak: kb serve under load on 127.0.0.1, over the LibreOffice help index.

load: throughput and p50/p95/p99 latency of /v1/search and extractive /v1/answer at 1, 4 and
16 concurrent clients (keep-alive connections), each cell bounded in requests and seconds.
soak: a fixed request rate for SOAK_SECONDS (default 600) with a re-ingest half-way; counts
errors and compares the server's memory (RSS of all its processes) at the start and the end.

Traffic goes only to the server this script starts on 127.0.0.1, and stops by itself. The
index is built once into ~/.cache/kb-bench/lo-home (about 5 minutes on 2 cores) and reused.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

from bench import bench_key, revoke_bench_key

HELP = Path("/usr/share/libreoffice/help/en-US")
HOME = Path(os.environ.get("KB_LOAD_HOME", Path.home() / ".cache" / "kb-bench" / "lo-home"))
KB = str(Path(sys.executable).parent / "kb")
CELL_REQUESTS = {"search": 600, "answer": 150}
CELL_SECONDS = 60.0
KEY_NAME = f"bench-load-{os.getpid()}"
AUTH: dict[str, str] = {}  # the bench's backend API key, once start_server has made it


def build_index() -> None:
    if (HOME / "index" / "CURRENT").exists():
        return
    if not HELP.is_dir():
        sys.exit("load: libreoffice-help-en-us is not installed (make system-deps)")
    print(f"building the LibreOffice help index in {HOME} (once; about 5 minutes)", flush=True)
    env = {**os.environ, "KB_HOME": str(HOME), "HF_HUB_OFFLINE": "1"}
    subprocess.run([KB, "ingest", str(HELP)], env=env, check=True)


def queries(n: int = 300) -> list[str]:
    """Realistic questions: section headings of the help itself, sampled reproducibly."""
    snapshot = HOME / "index" / (HOME / "index" / "CURRENT").read_text().strip()
    conn = sqlite3.connect(snapshot / "passages.sqlite3")
    rows = [r[0] for r in conn.execute("SELECT DISTINCT section FROM passages") if len(r[0]) > 8]
    conn.close()
    random.Random(7).shuffle(rows)
    return rows[:n]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "KB_HOME": str(HOME), "HF_HUB_OFFLINE": "1",
           "KB_QUERY_LOG": "false", "KB_LOG_LEVEL": "WARNING",
           "KB_WORKERS": os.environ.get("KB_WORKERS", "2"),
           "KB_THREADS": os.environ.get("KB_THREADS", "8")}  # fmt: skip
    # The server keeps its rate limits: this client, like any backend, sends a key without.
    AUTH.update(bench_key(env, KEY_NAME))
    proc = subprocess.Popen([KB, "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.5)
    stop_server(proc)
    sys.exit("load: the server did not become ready")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)
    revoke_bench_key({**os.environ, "KB_HOME": str(HOME)}, KEY_NAME)


def send(conn: http.client.HTTPConnection, kind: str, q: str) -> http.client.HTTPResponse:
    """Send a /v1/search (``kind`` "search") or extractive /v1/answer for ``q``; return the
    response, its body read."""
    if kind == "search":
        conn.request("GET", "/v1/search?k=10&q=" + urllib.parse.quote(q), headers=AUTH)
    else:
        body = json.dumps({"question": q})
        conn.request("POST", "/v1/answer", body, {"Content-Type": "application/json", **AUTH})
    response = conn.getresponse()
    response.read()
    return response


def request(conn: http.client.HTTPConnection, kind: str, q: str) -> int:
    return send(conn, kind, q).status


def cell(port: int, kind: str, clients: int, qs: list[str]) -> dict[str, float]:
    """Send up to CELL_REQUESTS[kind] requests from ``clients`` threads; return the figures."""
    total = CELL_REQUESTS[kind]
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(total))
    deadline = time.monotonic() + CELL_SECONDS

    def worker() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < deadline:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            started = time.perf_counter()
            try:
                ok = request(conn, kind, qs[i % len(qs)]) == 200
            except OSError:
                ok = False
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                errors += not ok
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {"requests": len(latencies), "errors": errors, "rps": len(latencies) / wall,
            "p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99)}  # fmt: skip


def pss_mib(pid: int) -> float:
    """Proportional memory of a server and all its workers, in MiB: a page its workers share
    (the mapped snapshot, the model's weights) counts once in the sum, not once per worker."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    total_kib = 0
    for p in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kib += int(line.split()[1])
    return total_kib / 1024


def rss_mib(proc: subprocess.Popen[bytes]) -> float:
    """Resident memory of the server and all its workers."""
    pids = [proc.pid]
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
    return total / 2**20


def load() -> None:
    build_index()
    qs = queries()
    port = free_port()
    proc = start_server(port)
    try:
        for kind in ("search", "answer"):  # warm both paths in every worker
            warm = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            for q in qs[:20]:
                request(warm, kind, q)
        print(f"kb serve: {os.environ.get('KB_WORKERS', '2')} workers × "
              f"{os.environ.get('KB_THREADS', '8')} threads, LibreOffice help index, "
              f"{os.cpu_count()} cores, loopback")  # fmt: skip
        print(f"{'endpoint':<14}{'clients':>8}{'requests':>10}{'errors':>8}{'req/s':>9}"
              f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")  # fmt: skip
        for kind in ("search", "answer"):
            for clients in (1, 4, 16):
                r = cell(port, kind, clients, qs)
                print(f"{'/v1/' + kind:<14}{clients:>8}{r['requests']:>10.0f}{r['errors']:>8.0f}"
                      f"{r['rps']:>9.1f}{r['p50']:>9.1f}{r['p95']:>9.1f}{r['p99']:>9.1f}",
                      flush=True)  # fmt: skip
    finally:
        stop_server(proc)


def soak() -> None:
    build_index()
    qs = queries()
    seconds = float(os.environ.get("SOAK_SECONDS", "600"))
    rate = float(os.environ.get("SOAK_RATE", "20"))  # requests a second, 1 in 5 an answer
    port = free_port()
    proc = start_server(port)
    errors = sent = 0
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for q in qs[:50]:  # warm up before the first memory reading
            request(conn, "search", q)
            request(conn, "answer", q)
        start_rss = rss_mib(proc)
        print(f"soak: {rate:.0f} req/s for {seconds:.0f}s, re-ingest at {seconds / 2:.0f}s; "
              f"server RSS at start {start_rss:.0f} MiB", flush=True)  # fmt: skip
        reingest: subprocess.Popen[bytes] | None = None
        started = time.monotonic()
        while (now := time.monotonic() - started) < seconds:
            if reingest is None and now >= seconds / 2:
                env = {**os.environ, "KB_HOME": str(HOME), "HF_HUB_OFFLINE": "1"}
                reingest = subprocess.Popen([KB, "ingest", str(HELP)], env=env,
                                            stdout=subprocess.DEVNULL)  # fmt: skip
            kind = "answer" if sent % 5 == 4 else "search"
            try:
                errors += request(conn, kind, qs[sent % len(qs)]) != 200
            except OSError:
                errors += 1
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            sent += 1
            time.sleep(max(0.0, sent / rate - (time.monotonic() - started)))
        if reingest is not None:
            reingest.wait(timeout=900)
        end_rss = rss_mib(proc)
        growth = (end_rss - start_rss) / start_rss * 100
        status = reingest.returncode if reingest else "-"
        print(f"soak: {sent} requests, {errors} errors; re-ingest exit {status}; "
              f"RSS {start_rss:.0f} → {end_rss:.0f} MiB ({growth:+.1f}%)")  # fmt: skip
        if errors or growth > 10:
            sys.exit(1)
    finally:
        stop_server(proc)


if __name__ == "__main__":
    soak() if sys.argv[1:] == ["soak"] else load()
