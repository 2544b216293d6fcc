"""Where a /search and an /answer spend their time on a real help centre, stage by stage.

The LibreOffice help (about 17,800 passages, built once into ~/.cache/kb-bench/lo-home, as
``make load`` does) is served on 127.0.0.1 with ``KB_SERVER_TIMING`` on; one client sends
BENCH_STAGE_SEARCHES /search requests (default 300) and BENCH_STAGE_ANSWERS extractive
/answer requests (default 100), the help's own section headings as questions, and reads each
response's ``Server-Timing`` header (:mod:`kb.timing`). It prints one table, p50 and p95 per
stage in ms, then the issue's budget as ratios from the same run:

* the server's time per /search over the sum of its three irreducible stages (query embedding,
  dense search, lexical search);
* extractive /answer p95 over /search p95 (over HTTP, as a client sees them);
* the real help centre's /search over a synthetic one of the same size (``make bench``'s kind:
  copies of these passages with a few words changed, perturbed vectors), asked the same
  questions in the same run.

"other" is the server's time no stage accounts for (Flask, routing, headers); "client" is the
round trip a client measures. Traffic goes to 127.0.0.1 only, a fixed number of requests, and
the server is stopped at the end.
"""

from __future__ import annotations

import http.client
import os
import re
import sqlite3
import time

from bench.load import HOME, build_index, free_port, queries, send, start_server, stop_server
from kb.timing import STAGES

SEARCHES = int(os.environ.get("BENCH_STAGE_SEARCHES", "300"))
ANSWERS = int(os.environ.get("BENCH_STAGE_ANSWERS", "100"))
IRREDUCIBLE = ("embed", "dense", "lexical")
_STAGE = re.compile(r"(\w+);dur=([0-9.]+)")


def percentile(values: list[float], p: float) -> float:
    """Return the ``p`` quantile (0..1) of ``values`` by the nearest-rank method."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else 0.0


def timed(conn: http.client.HTTPConnection, kind: str, q: str) -> dict[str, float]:
    """Send one request; return its stages (ms) with ``total`` (server) and ``client``."""
    started = time.perf_counter()
    response = send(conn, kind, q)
    client = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise RuntimeError(f"{kind} {q!r}: HTTP {response.status}")
    stages = {m[1]: float(m[2]) for m in _STAGE.finditer(response.headers["Server-Timing"])}
    stages["client"] = client
    stages["other"] = stages["total"] - sum(v for k, v in stages.items()
                                            if k not in ("total", "client"))  # fmt: skip
    return stages


def run(kind: str, n: int, port: int, qs: list[str]) -> list[dict[str, float]]:
    """Send ``n`` requests of ``kind`` from one keep-alive client, after ten to warm up."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for q in qs[:10]:
        timed(conn, kind, q)
    out = [timed(conn, kind, qs[i % len(qs)]) for i in range(n)]
    conn.close()
    return out


def table(results: dict[str, list[dict[str, float]]]) -> None:
    """Print p50 and p95 per stage for each kind of request, side by side."""
    kinds = list(results)
    rows = [*STAGES, "other", "total", "client"]
    print(f"{'stage':<10}" + "".join(f" | {k + ' p50':>11} {k + ' p95':>11}" for k in kinds))
    for stage in rows:
        cells = []
        for kind in kinds:
            values = [r.get(stage, 0.0) for r in results[kind]]
            if not any(values):
                cells.append(f" | {'':>11} {'':>11}")
                continue
            cells.append(f" | {percentile(values, 0.5):11.2f} {percentile(values, 0.95):11.2f}")
        print(f"{stage:<10}" + "".join(cells))


def main() -> None:
    build_index()
    qs = queries()
    os.environ["KB_SERVER_TIMING"] = "true"
    port = int(os.environ.get("BENCH_PORT", "0")) or free_port()
    server = start_server(port)
    try:
        results = {"search": run("search", SEARCHES, port, qs),
                   "answer": run("answer", ANSWERS, port, qs)}  # fmt: skip
    finally:
        stop_server(server)
    passages = "LibreOffice help"
    print(f"\nStages of /search and extractive /answer on the {passages}, one client over HTTP on"
          f" 127.0.0.1, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; ms")  # fmt: skip
    table(results)
    search = results["search"]
    floor = [sum(r.get(s, 0.0) for s in IRREDUCIBLE) for r in search]
    totals = [r["total"] for r in search]
    budget = percentile(totals, 0.5) / percentile(floor, 0.5)
    answer_ratio = percentile([r["client"] for r in results["answer"]], 0.95) / percentile(
        [r["client"] for r in search], 0.95
    )
    print(f"/search server time over embed+dense+lexical (p50): {budget:.2f}x (goal ≤ 1.3x)")
    print(f"/answer p95 over /search p95 (client): {answer_ratio:.2f}x (goal ≤ 3x)")
    synthetic = same_size_synthetic(qs)
    clients = [r["client"] for r in search]
    print(f"real over synthetic at {synthetic[0]:,} passages, /search p50"
          f" {percentile(clients, 0.5) / synthetic[1]:.2f}x, p95"
          f" {percentile(clients, 0.95) / synthetic[2]:.2f}x (goal ≤ 1.2x)")  # fmt: skip


def same_size_synthetic(qs: list[str]) -> tuple[int, float, float]:
    """Serve a synthetic knowledge base as large as the real one and time /search with ``qs``
    (see :mod:`bench.search`); return its size, p50 and p95 in ms."""
    from bench.search import MODEL, Corpus, base_passages, embed_ms, run_size, served_query_embedder

    with sqlite3.connect(HOME / "kb.sqlite3") as conn:
        n = int(conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])
    passages, vectors = base_passages()
    corpus = Corpus("en synth", MODEL, passages, vectors, qs,
                    embed_ms(served_query_embedder(MODEL), qs))  # fmt: skip
    row = run_size(n, corpus)
    return n, row.p50, row.p95


if __name__ == "__main__":
    main()
