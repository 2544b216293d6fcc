"""make bench-peer: kb beside the stack a developer would assemble from the same parts.

The peer is LangChain's ``EnsembleRetriever`` over rank-bm25 (``BM25Retriever``) and FAISS
(``FAISS`` vector store, all-MiniLM-L6-v2 through ``HuggingFaceEmbeddings``), weights 0.5/0.5,
the usual recipe for hybrid search in LangChain's documentation. Both search the same
passages, the LibreOffice help kb serves in ``make load`` (about 17,800; the peer's FAISS is
given kb's cached embeddings of them, so nothing is embedded twice), with the same questions
(the help's section headings), ten results each:

* kb: ``kb serve`` on 127.0.0.1, /v1/search over HTTP, one keep-alive client; memory is the
  proportional size (PSS) of the server and its workers, so what they share counts once;
* the peer: ``ensemble.invoke(question)`` in this process, no HTTP; memory is what this
  process grew by when it built the peer.

Then the same at BENCH_PEER_SIZE passages (default 100,000; 0 skips it): a synthetic knowledge
base of ``make bench``'s kind (copies of the help's passages with a few words changed, their
vectors perturbed), served by ``kb serve`` and read back for the peer, the same questions.

It prints p50, p95 and memory side by side and the peer's figures over kb's. Traffic goes to
127.0.0.1 only, a fixed number of requests (BENCH_PEER_QUERIES, default 200), and the server is
stopped at the end. Needs the ``peer`` extra (``pip install -e '.[peer]'``, as the make target
does); nothing of it is used by kb itself.
"""

from __future__ import annotations

import http.client
import os
import resource
import time
import urllib.parse
from pathlib import Path

import numpy as np

from bench.load import (
    AUTH,
    HOME,
    build_index,
    free_port,
    pss_mib,
    queries,
    start_server,
    stop_server,
)
from bench.search import AUTH as SEARCH_AUTH
from bench.search import Corpus, base_passages, served_synthetic
from bench.stages import percentile
from index.embedding import model_path
from kb.store import IndexRow, Store, embedding_text

MODEL = "all-MiniLM-L6-v2"
N = int(os.environ.get("BENCH_PEER_QUERIES", "200"))
SIZE = int(os.environ.get("BENCH_PEER_SIZE", "100000"))  # the synthetic run's passages; 0: none


def rss_self_mib() -> float:
    """This process's resident memory now, in MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def read_passages(home: Path) -> tuple[list[IndexRow], dict[str, np.ndarray]]:
    """Return the passages of the knowledge base in ``home`` and their cached vectors."""
    with Store(home / "kb.sqlite3") as store:
        rows = store.index_rows()
        cached = store.get_embeddings(MODEL, [r.content_hash for r in rows])
    return [r for r in rows if r.content_hash in cached], cached


def build_peer(rows: list[IndexRow], cached: dict[str, np.ndarray]) -> tuple[object, float]:
    """Return the LangChain ensemble over ``rows`` (their vectors given) and the MiB it took."""
    from langchain_classic.retrievers import EnsembleRetriever
    from langchain_community.retrievers import BM25Retriever
    from langchain_community.vectorstores import FAISS
    from langchain_huggingface import HuggingFaceEmbeddings

    before = rss_self_mib()
    texts = [embedding_text(r.title, r.section, r.text) for r in rows]
    metadatas = [{"doc_id": r.doc_id, "url": r.url or ""} for r in rows]
    vectors = [np.asarray(cached[r.content_hash], dtype=np.float32).tolist() for r in rows]
    embeddings = HuggingFaceEmbeddings(
        model_name=str(model_path(MODEL)),
        model_kwargs={"device": "cpu"},
        encode_kwargs={"normalize_embeddings": True},
    )
    pairs = list(zip(texts, vectors, strict=True))
    store = FAISS.from_embeddings(pairs, embeddings, metadatas=metadatas)
    dense = store.as_retriever(search_kwargs={"k": 10})
    lexical = BM25Retriever.from_texts(texts, metadatas=metadatas, k=10)
    ensemble = EnsembleRetriever(retrievers=[lexical, dense], weights=[0.5, 0.5])
    return ensemble, rss_self_mib() - before


def time_peer(ensemble: object, qs: list[str]) -> list[float]:
    """Return the peer's time per question in ms, after five to warm up."""
    invoke = ensemble.invoke  # type: ignore[attr-defined]
    for q in qs[:5]:
        invoke(q)
    out = []
    for q in qs:
        started = time.perf_counter()
        invoke(q)
        out.append((time.perf_counter() - started) * 1000)
    return out


def time_kb(port: int, qs: list[str], headers: dict[str, str]) -> list[float]:
    """Return kb's /v1/search round trips in ms from one keep-alive client, after a warm-up."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def one(q: str) -> float:
        started = time.perf_counter()
        conn.request("GET", "/v1/search?k=10&q=" + urllib.parse.quote(q), headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"/v1/search {q!r}: HTTP {response.status}")
        return (time.perf_counter() - started) * 1000

    for q in qs[:20]:
        one(q)
    out = [one(q) for q in qs]
    conn.close()
    return out


def side_by_side(
    what: str, qs: list[str], kb_ms: list[float], kb_mib: float,
    rows: list[IndexRow], cached: dict[str, np.ndarray],
) -> None:  # fmt: skip
    """Build the peer over ``rows``, time it on ``qs``, and print it beside kb's figures."""
    started = time.perf_counter()
    ensemble, peer_mib = build_peer(rows, cached)
    built = time.perf_counter() - started
    peer_ms = time_peer(ensemble, qs)
    del ensemble
    print(f"\nkb and the LangChain ensemble (BM25Retriever + FAISS, MiniLM) on {len(rows):,}"
          f" {what}, {len(qs)} questions, top 10, {os.cpu_count()} cores,"
          f" {time.strftime('%Y-%m-%d')}; the peer built in {built:.0f} s"
          " (vectors given)")  # fmt: skip
    print(f"{'':<28}{'p50 ms':>10}{'p95 ms':>10}{'memory MiB':>12}")
    table = (
        ("kb /v1/search over HTTP", percentile(kb_ms, 0.5), percentile(kb_ms, 0.95), kb_mib),
        ("peer in-process", percentile(peer_ms, 0.5), percentile(peer_ms, 0.95), peer_mib),
    )
    for label, p50, p95, mib in table:
        print(f"{label:<28}{p50:>10.1f}{p95:>10.1f}{mib:>12.0f}")
    (_, k50, k95, kmib), (_, q50, q95, qmib) = table
    print(f"{'peer / kb':<28}{q50 / k50:>9.1f}x{q95 / k95:>9.1f}x{qmib / kmib:>11.2f}x"
          "   (goal: kb's p95 at least 30x lower)", flush=True)  # fmt: skip


def main() -> None:
    build_index()
    qs = queries(N)
    port = free_port()
    server = start_server(port)
    try:
        kb_ms = time_kb(port, qs, AUTH)
        kb_mib = pss_mib(server.pid)
    finally:
        stop_server(server)
    rows, cached = read_passages(HOME)
    side_by_side("passages of the LibreOffice help", qs, kb_ms, kb_mib, rows, cached)
    del rows, cached
    if SIZE:
        passages, vectors = base_passages()
        corpus = Corpus(f"en {SIZE}", MODEL, passages, vectors, qs, (0.0, 0.0))
        with served_synthetic(SIZE, corpus) as served:
            kb_ms = time_kb(served.port, qs, SEARCH_AUTH)
            kb_mib = pss_mib(served.server.pid)
            rows, cached = read_passages(served.home)
        side_by_side("synthetic passages (make bench's kind)", qs, kb_ms, kb_mib, rows, cached)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"this process peaked at {peak:.0f} MiB")


if __name__ == "__main__":
    main()
