"""make bench: index build, memory, query embedding and /search latency over HTTP.

English: 10k and 100k chunks embedded with all-MiniLM-L6-v2, queried with section headings.
Chinese: 10k and 18,600 chunks (the size of the Chinese help centre the issue sets goals for)
embedded with multilingual-e5-small (int8 ONNX, as ``auto`` serves a Chinese help centre),
queried with the 157 labelled Chinese questions of bench/helpcentres/{kicad-zh,debian-edu-zh}.
Both print in one table; each Chinese row ends with its ratios to the English 10k row.

Chunks are synthetic but grounded: copies of real help-centre passages with a few words
changed, and vectors that are those passages' real embeddings, perturbed and re-normalised, so
neighbourhoods look like real ones. The English passages are LibreOffice help's (~17,800); the
Chinese ones are the ~1,600 of the two Chinese help centres bench-ingest crawls (KiCad and
Debian Edu, from Debian packages), embedded once with e5 (about a minute here; embedding more
real passages with e5 would take too long on 2 cores), so each recurs ~12 times at 18,600.

"embed" is a query embedded in-process, one per call (the ONNX export the server uses), over
the row's own queries. "RSS/worker" is the largest resident size among the server's processes
(``kb serve`` runs a worker per core; each maps the same snapshot). BENCH_SIZES and
BENCH_ZH_SIZES (comma lists) choose the sizes; BENCH_1M=1 adds an English 1M run. Traffic
goes to 127.0.0.1 only (port BENCH_PORT, default 18000), a fixed number of requests, and the
server is stopped at the end. Real passages and their vectors are cached in ~/.cache/kb-bench,
so a second run embeds nothing.
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench import bench_key
from bench.ingest import CHINESE, TARGET_PASSAGES, rates
from index.build import build_snapshot
from index.choice import MULTILINGUAL_MODEL
from index.embedding import Embedder, load_embedder
from ingest.pipeline import IngestOptions, ingest_sources
from kb.config import load_settings
from kb.store import IndexRow, Store, embedding_text, utcnow
from kb.text import content_hash
from kb.usecases.bootstrap import build
from tests.sites import serve_folder, write_sitemap

HELP = Path("/usr/share/libreoffice/help")
CACHE = Path(os.environ.get("KB_BENCH_CACHE", Path.home() / ".cache" / "kb-bench"))
MODEL = "all-MiniLM-L6-v2"
MODELS = CACHE / "models"
ZH_QUESTIONS = [Path(__file__).parent / "helpcentres" / n / "questions.jsonl"
                for n in ("kicad-zh", "debian-edu-zh")]  # fmt: skip


def crawled_rows(folder: Path) -> list[IndexRow]:
    """Serve a copy of ``folder`` on 127.0.0.1, crawl it through a sitemap, return its chunks."""
    work = Path(tempfile.mkdtemp(prefix="kb-bench-src-"))
    try:
        shutil.copytree(folder, work / "help")
        store = Store(work / "kb.sqlite3")
        try:
            with serve_folder(work / "help") as base:
                write_sitemap(work / "help", base)
                ingest_sources(store, [f"{base}/sitemap.xml"], options=IngestOptions())
            return store.index_rows()
        finally:
            store.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def base_passages() -> tuple[list[dict[str, str]], np.ndarray]:
    """Real passages and their real embeddings (cached outside the repo after the first run)."""
    texts_path, vectors_path = CACHE / "passages.json", CACHE / "vectors.npy"
    if texts_path.exists() and vectors_path.exists():
        return json.loads(texts_path.read_text()), np.load(vectors_path)
    if not (HELP / "en-US").is_dir():
        sys.exit("bench: libreoffice-help-en-us is not installed (make system-deps)")
    CACHE.mkdir(parents=True, exist_ok=True)
    rows = crawled_rows(HELP)
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


def chinese_passages() -> tuple[list[dict[str, str]], np.ndarray]:
    """The Chinese help centres' passages and their e5 embeddings (cached after the first run)."""
    texts_path, vectors_path = CACHE / "zh-passages.json", CACHE / "zh-vectors-e5.npy"
    if texts_path.exists() and vectors_path.exists():
        return json.loads(texts_path.read_text()), np.load(vectors_path)
    missing = [package for package, folder in CHINESE.values() if not folder.is_dir()]
    if missing:
        sys.exit(f"bench: {' '.join(missing)} not installed (make system-deps)")
    CACHE.mkdir(parents=True, exist_ok=True)
    rows = [row for _, folder in CHINESE.values() for row in crawled_rows(folder)]
    passages = [{"title": r.title, "section": r.section, "text": r.text, "lang": r.lang or ""}
                for r in rows]  # fmt: skip
    print(f"embedding {len(passages)} Chinese help-centre passages with e5 once (cached in "
          f"{CACHE}) …", flush=True)  # fmt: skip
    t = time.perf_counter()
    vectors = load_embedder(MULTILINGUAL_MODEL, 32, MODELS).embed(
        [embedding_text(p["title"], p["section"], p["text"]) for p in passages]
    )
    print(f"  {time.perf_counter() - t:.0f}s", flush=True)
    texts_path.write_text(json.dumps(passages, ensure_ascii=False))
    np.save(vectors_path, vectors)
    return passages, vectors


def chinese_questions() -> list[str]:
    """The labelled Chinese questions of the two Chinese help-centre sets."""
    return [json.loads(line)["question"] for path in ZH_QUESTIONS
            for line in path.read_text("utf-8").splitlines() if line.strip()]  # fmt: skip


def fill_store(
    store: Store, n: int, passages: list[dict[str, str]], vectors: np.ndarray, model: str
) -> None:
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
        lang = p.get("lang", "en")
        docs.append((doc_id, "bench", "article", p["title"], None, lang, "{}", digest, 1, now, now))
        chunks.append((doc_id, 0, p["section"], None, text, digest))
        embeddings.append((model, digest, vector.tobytes()))
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


def rss_each_kb(pid: int) -> list[int]:
    """Resident memory of a process and of each of its children, in KiB."""
    out = []
    pids = [pid] + [int(p) for p in subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]  # fmt: skip
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out.append(int(line.split()[1]))
    return out


def rss_kb(pid: int) -> int:
    """Resident memory of a process and its children, in KiB (shared pages counted in each)."""
    return sum(rss_each_kb(pid))


AUTH: dict[str, str] = {}  # the bench's backend API key (a fresh home per size: made each time)


def get(url: str) -> float:
    t = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(url, headers=AUTH), timeout=30) as response:
        response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")
    return (time.perf_counter() - t) * 1000


@dataclass(frozen=True)
class Corpus:
    """What the rows of one model are built from, and its queries' in-process embedding time."""

    label: str
    model: str
    passages: list[dict[str, str]]
    vectors: np.ndarray
    queries: list[str]
    embed_ms: tuple[float, float]  # p50, p95 of one query embedded in-process


@dataclass(frozen=True)
class Row:
    """The figures a row's ratios are taken from."""

    embed_p50: float
    p50: float
    p95: float


@dataclass(frozen=True)
class Served:
    """A synthetic knowledge base being served: where, and what its build took."""

    home: Path
    port: int
    server: subprocess.Popen[bytes]
    build_s: float
    kind: str  # exact, or HNSW with its efSearch and recall
    ready_s: float


@contextmanager
def served_synthetic(n: int, corpus: Corpus) -> Iterator[Served]:
    """Build an n-chunk knowledge base of ``corpus`` in a fresh home and serve it with
    ``kb serve`` on 127.0.0.1 (port BENCH_PORT) until the block ends; then stop the server
    and remove the home. The bench's key (no limits) is in :data:`AUTH`."""
    home = Path(tempfile.mkdtemp(prefix=f"kb-bench-{n}-"))
    server = None
    try:
        store = Store(home / "kb.sqlite3")
        fill_store(store, n, corpus.passages, corpus.vectors, corpus.model)
        t = time.perf_counter()
        manifest, _ = build_snapshot(
            store, corpus.model, lambda: load_embedder(corpus.model, 32, MODELS), home / "index"
        )
        build_s = time.perf_counter() - t
        store.close()
        dense = json.loads((home / "index" / manifest.version / "dense.json").read_text())
        kind = (
            f"HNSW efSearch={dense['ef_search']} recall@10={dense['recall']:.3f}"
            if dense["ef_search"]
            else "exact"
        )
        port = int(os.environ.get("BENCH_PORT", "18000"))
        env = {**os.environ, "KB_HOME": str(home), "KB_LOG_LEVEL": "WARNING",
               "KB_MODEL_CACHE": str(MODELS)}  # fmt: skip
        AUTH.update(bench_key(env, "bench-search"))  # limits stay on; this client has none
        build(load_settings({"home": home, "model_cache": MODELS})).models.ensure_onnx_export()
        started = time.perf_counter()
        server = subprocess.Popen(
            [sys.executable, "-c", "from kb.cli import main; main()", "serve", "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        while True:
            try:
                get(f"http://127.0.0.1:{port}/search?k=10&q=warm")
                break
            except OSError:
                if time.perf_counter() - started > 120:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.05)
        yield Served(home, port, server, build_s, kind, time.perf_counter() - started)
    finally:
        if server:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


def run_size(n: int, corpus: Corpus, baseline: Row | None = None) -> Row:
    """Build an n-chunk knowledge base of ``corpus``, serve it, time /search; print one row."""
    with served_synthetic(n, corpus) as served:
        base = f"http://127.0.0.1:{served.port}/search?k=10&q="
        urls = [base + urllib.parse.quote(q) for q in corpus.queries]
        for url in urls[:20]:
            get(url)
        one = sorted(get(url) for url in (urls * 2)[:300])
        p50, p95 = one[len(one) // 2], one[int(len(one) * 0.95)]
        done: list[float] = []
        t = time.perf_counter()
        threads = [threading.Thread(target=lambda i=i: done.extend(get(u) for u in urls[i::4]))
                   for i in range(4)]  # fmt: skip
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        throughput = len(done) / (time.perf_counter() - t)
        worker_mib = max(rss_each_kb(served.server.pid)) / 1024  # the workers map one snapshot
        row = Row(corpus.embed_ms[0], p50, p95)
        versus = ""
        if baseline:
            versus = (
                f" | vs en 10k: embed p50 {row.embed_p50 / baseline.embed_p50:.2f}x, "
                f"/search p50 {p50 / baseline.p50:.2f}x p95 {p95 / baseline.p95:.2f}x"
            )
        print(
            f"{corpus.label:9} {n:>9,} chunks | build {served.build_s:6.1f}s ({served.kind}) | "
            f"ready {served.ready_s:4.1f}s | RSS/worker {worker_mib:5.0f} MiB | "
            f"embed p50 {corpus.embed_ms[0]:4.1f} ms p95 {corpus.embed_ms[1]:4.1f} ms | "
            f"1 client p50 {p50:5.1f} ms p95 {p95:5.1f} ms "
            f"| 4 clients {throughput:5.0f} req/s (p50 {statistics.median(done):.1f} ms){versus}",
            flush=True,
        )
        return row


def sizes(variable: str, default: str) -> list[int]:
    """Return the sizes an environment variable lists (``10000,100000``)."""
    return [int(x) for x in os.environ.get(variable, default).split(",") if x.strip()]


def served_query_embedder(model: str) -> Embedder:
    """Return the query embedder ``kb serve`` uses for ``model`` (its ONNX export)."""
    if model == MULTILINGUAL_MODEL:
        return load_embedder(model, 32, MODELS)
    home = Path(tempfile.mkdtemp(prefix="kb-bench-q-"))
    try:
        settings = {"home": home, "model_cache": MODELS, "embed_model": model}
        kb = build(load_settings(settings, environ={}))
        kb.models.ensure_onnx_export()
        return kb.models.query_embedder
    finally:
        shutil.rmtree(home, ignore_errors=True)


def embed_ms(embedder: Embedder, queries: list[str]) -> tuple[float, float]:
    """Return p50 and p95 of one query embedded in-process, in ms."""
    _, p50, p95 = rates(embedder, [], queries)
    return p50, p95


def main() -> None:
    english_sizes = sizes("BENCH_SIZES", "10000,100000")
    english_sizes += [1_000_000] if os.environ.get("BENCH_1M") else []
    chinese_sizes = sizes("BENCH_ZH_SIZES", f"10000,{TARGET_PASSAGES}")
    passages, vectors = base_passages()
    zh_passages, zh_vectors = chinese_passages()
    en_queries = [p["section"] or p["title"] for p in random.Random(1).sample(passages, 200)]
    zh_queries = chinese_questions()
    minilm = served_query_embedder(MODEL)
    e5 = served_query_embedder(MULTILINGUAL_MODEL)
    english = Corpus("en MiniLM", MODEL, passages, vectors, en_queries,
                     embed_ms(minilm, en_queries))  # fmt: skip
    chinese = Corpus("zh e5", MULTILINGUAL_MODEL, zh_passages, zh_vectors, zh_queries,
                     embed_ms(e5, zh_queries))  # fmt: skip
    e5_english = embed_ms(e5, en_queries)
    print(
        f"/search over HTTP on 127.0.0.1, {os.cpu_count()} cores; queries embedded via ONNX "
        f"Runtime: {MODEL} (fp32 export) for en, {MULTILINGUAL_MODEL} (int8) for zh"
    )
    print(
        f"queries: en {len(en_queries)} LibreOffice headings, zh {len(zh_queries)} Chinese "
        f"questions; e5 on the en headings: embed p50 {e5_english[0]:.1f} ms "
        f"p95 {e5_english[1]:.1f} ms ({e5_english[0] / english.embed_ms[0]:.2f}x MiniLM's p50)"
    )
    baseline = None
    for n in english_sizes:
        row = run_size(n, english)
        baseline = baseline or (row if n == 10_000 else None)
    for n in chinese_sizes:
        run_size(n, chinese, baseline)


if __name__ == "__main__":
    main()
