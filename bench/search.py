"""make bench: index build, memory and /search latency over HTTP at 10k and 100k chunks.

Chunks are synthetic but grounded: copies of real LibreOffice help passages with a few words
changed, and vectors that are those passages' real embeddings, perturbed and re-normalised, so
neighbourhoods look like real ones. BENCH_1M=1 adds the 1M run. Traffic goes to 127.0.0.1 only,
a fixed number of requests, and the server is stopped at the end.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

from bench import bench_key
from index.embedding import load_embedder
from index.snapshot import build_snapshot
from ingest.pipeline import IngestOptions, ingest_sources
from kb.config import load_settings
from kb.service import KnowledgeBase
from kb.store import Store, embedding_text, utcnow
from kb.text import content_hash
from tests.sites import serve_folder, write_sitemap

HELP = Path("/usr/share/libreoffice/help")
CACHE = Path(os.environ.get("KB_BENCH_CACHE", Path.home() / ".cache" / "kb-bench"))
MODEL = "all-MiniLM-L6-v2"


def base_passages() -> tuple[list[dict[str, str]], np.ndarray]:
    """Real passages and their real embeddings (cached outside the repo after the first run)."""
    texts_path, vectors_path = CACHE / "passages.json", CACHE / "vectors.npy"
    if texts_path.exists() and vectors_path.exists():
        return json.loads(texts_path.read_text()), np.load(vectors_path)
    if not (HELP / "en-US").is_dir():
        sys.exit("bench: libreoffice-help-en-us is not installed (make system-deps)")
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="kb-bench-src-"))
    try:
        shutil.copytree(HELP, work / "help")
        store = Store(work / "kb.sqlite3")
        with serve_folder(work / "help") as base:
            write_sitemap(work / "help", base)
            ingest_sources(store, [f"{base}/sitemap.xml"], options=IngestOptions())
        rows = store.index_rows()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    passages = [{"title": r.title, "section": r.section, "text": r.text} for r in rows]
    print(f"embedding {len(passages)} real passages once (cached in {CACHE}) …", flush=True)
    t = time.perf_counter()
    vectors = load_embedder(MODEL).embed(
        [embedding_text(p["title"], p["section"], p["text"]) for p in passages]
    )
    print(f"  {time.perf_counter() - t:.0f}s", flush=True)
    texts_path.write_text(json.dumps(passages))
    np.save(vectors_path, vectors)
    return passages, vectors


def fill_store(store: Store, n: int, passages: list[dict[str, str]], vectors: np.ndarray) -> None:
    """Write n synthetic one-chunk documents and their vectors straight into the store."""
    rng = np.random.default_rng(n)
    words = [w for p in passages[:2000] for w in p["text"].split() if w.isalpha()]
    now = utcnow()
    docs, chunks, embeddings = [], [], []
    for i in range(n):
        p = passages[i % len(passages)]
        extra = " ".join(random.Random(i).choices(words, k=3))
        text = f"{p['text']} {extra}"
        digest = content_hash(embedding_text(p["title"], p["section"], text))
        vector = vectors[i % len(vectors)] + rng.normal(0, 0.02, vectors.shape[1])
        vector = (vector / np.linalg.norm(vector)).astype(np.float32)
        doc_id = f"doc{i:07d}"
        docs.append((doc_id, "bench", "article", p["title"], None, "en", "{}", digest, 1, now, now))
        chunks.append((doc_id, 0, p["section"], None, text, digest))
        embeddings.append((MODEL, digest, vector.tobytes()))
    with store.transaction() as c:
        c.executemany(
            "INSERT INTO documents (id, source, kind, title, url, lang, meta, content_hash,"
            " version, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            docs,
        )
        c.executemany(
            "INSERT INTO chunks (doc_id, ordinal, section, anchor, text, content_hash)"
            " VALUES (?,?,?,?,?,?)",
            chunks,
        )
        c.executemany("INSERT OR REPLACE INTO embeddings VALUES (?,?,?)", embeddings)


def rss_kb(pid: int) -> int:
    """Resident memory of a process and its children, in KiB."""
    total = 0
    pids = [pid] + [int(p) for p in subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]  # fmt: skip
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


AUTH: dict[str, str] = {}  # the bench's backend API key (a fresh home per size: made each time)


def get(url: str) -> float:
    t = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(url, headers=AUTH), timeout=30) as response:
        response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")
    return (time.perf_counter() - t) * 1000


def run_size(n: int, passages: list[dict[str, str]], vectors: np.ndarray) -> None:
    home = Path(tempfile.mkdtemp(prefix=f"kb-bench-{n}-"))
    server = None
    try:
        store = Store(home / "kb.sqlite3")
        fill_store(store, n, passages, vectors)
        t = time.perf_counter()
        manifest, _ = build_snapshot(store, MODEL, lambda: load_embedder(MODEL), home / "index")
        build_s = time.perf_counter() - t
        store.close()
        dense = json.loads((home / "index" / manifest.version / "dense.json").read_text())
        kind = (
            f"HNSW efSearch={dense['ef_search']} recall@10={dense['recall']:.3f}"
            if dense["ef_search"]
            else "exact"
        )
        port = 18000 + n % 1000
        models = CACHE / "models"
        env = {**os.environ, "KB_HOME": str(home), "KB_LOG_LEVEL": "WARNING",
               "KB_MODEL_CACHE": str(models)}  # fmt: skip
        AUTH.update(bench_key(env, "bench-search"))  # limits stay on; this client has none
        KnowledgeBase(load_settings({"home": home, "model_cache": models})).ensure_onnx_export()
        started = time.perf_counter()
        server = subprocess.Popen(
            [sys.executable, "-c", "from kb.cli import main; main()", "serve", "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}/search?k=10&q="
        while True:
            try:
                get(base + "warm")
                break
            except OSError:
                if time.perf_counter() - started > 120:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.05)
        ready_s = time.perf_counter() - started
        queries = [p["section"] or p["title"] for p in random.Random(1).sample(passages, 200)]
        urls = [base + urllib.parse.quote(q) for q in queries]
        for url in urls[:20]:
            get(url)
        one = sorted(get(url) for url in urls + urls[:100])
        p50, p95 = one[len(one) // 2], one[int(len(one) * 0.95)]
        done = []
        t = time.perf_counter()
        threads = [threading.Thread(target=lambda i=i: done.extend(get(u) for u in urls[i::4]))
                   for i in range(4)]  # fmt: skip
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        throughput = len(done) / (time.perf_counter() - t)
        print(
            f"{n:>9,} chunks | build {build_s:6.1f}s ({kind}) | ready {ready_s:4.1f}s | "
            f"RSS {rss_kb(server.pid) / 1024:6.0f} MiB | "
            f"1 client p50 {p50:5.1f} ms p95 {p95:5.1f} ms "
            f"| 4 clients {throughput:5.0f} req/s (p50 {statistics.median(done):.1f} ms)",
            flush=True,
        )
    finally:
        if server:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    passages, vectors = base_passages()
    sizes = [10_000, 100_000] + ([1_000_000] if os.environ.get("BENCH_1M") else [])
    print(
        f"/search over HTTP on 127.0.0.1, {os.cpu_count()} cores, {MODEL} queries via ONNX Runtime"
    )
    for n in sizes:
        run_size(n, passages, vectors)


if __name__ == "__main__":
    main()
