"""make bench-peer: kb beside the stack a developer would assemble from the same parts.

The peer is LangChain's ``EnsembleRetriever`` over rank-bm25 (``BM25Retriever``) and FAISS
(``FAISS`` vector store, all-MiniLM-L6-v2 through ``HuggingFaceEmbeddings``), weights 0.5/0.5,
the usual recipe for hybrid search in LangChain's documentation. Both search the same
passages, the LibreOffice help kb serves in ``make load`` (about 17,800; the peer's FAISS is
given kb's cached embeddings of them, so nothing is embedded twice), with the same questions
(the help's section headings), ten results each:

* kb: ``kb serve`` on 127.0.0.1, /v1/search over HTTP, one keep-alive client; memory is the
  resident size of the server and its workers;
* the peer: ``ensemble.invoke(question)`` in this process, no HTTP; memory is what this
  process grew by when it built the peer.

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

import numpy as np

from bench.load import (
    AUTH,
    HOME,
    build_index,
    free_port,
    queries,
    rss_mib,
    start_server,
    stop_server,
)
from bench.stages import percentile
from index.embedding import model_path
from kb.store import Store, embedding_text

MODEL = "all-MiniLM-L6-v2"
N = int(os.environ.get("BENCH_PEER_QUERIES", "200"))


def rss_self_mib() -> float:
    """This process's resident memory now, in MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def build_peer() -> tuple[object, int, float]:
    """Return the LangChain ensemble over the help's passages, their count and the MiB it took."""
    from langchain_classic.retrievers import EnsembleRetriever
    from langchain_community.retrievers import BM25Retriever
    from langchain_community.vectorstores import FAISS
    from langchain_huggingface import HuggingFaceEmbeddings

    before = rss_self_mib()
    with Store(HOME / "kb.sqlite3") as store:
        rows = store.index_rows()
        cached = store.get_embeddings(MODEL, [r.content_hash for r in rows])
    rows = [r for r in rows if r.content_hash in cached]
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
    return ensemble, len(rows), rss_self_mib() - before


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


def time_kb(port: int, qs: list[str]) -> list[float]:
    """Return kb's /v1/search round trips in ms from one keep-alive client, after a warm-up."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def one(q: str) -> float:
        started = time.perf_counter()
        conn.request("GET", "/v1/search?k=10&q=" + urllib.parse.quote(q), headers=AUTH)
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


def main() -> None:
    build_index()
    qs = queries(N)
    port = free_port()
    server = start_server(port)
    try:
        kb_ms = time_kb(port, qs)
        kb_mib = rss_mib(server)
    finally:
        stop_server(server)
    started = time.perf_counter()
    ensemble, passages, peer_mib = build_peer()
    built = time.perf_counter() - started
    peer_ms = time_peer(ensemble, qs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nkb and the LangChain ensemble (BM25Retriever + FAISS, MiniLM) on {passages}"
          f" passages of the LibreOffice help, {len(qs)} questions, top 10, {os.cpu_count()}"
          f" cores, {time.strftime('%Y-%m-%d')}; the peer built in {built:.0f} s (vectors"
          " given)")  # fmt: skip
    print(f"{'':<28}{'p50 ms':>10}{'p95 ms':>10}{'memory MiB':>12}")
    rows = (
        ("kb /v1/search over HTTP", percentile(kb_ms, 0.5), percentile(kb_ms, 0.95), kb_mib),
        ("peer in-process", percentile(peer_ms, 0.5), percentile(peer_ms, 0.95), peer_mib),
    )
    for label, p50, p95, mib in rows:
        print(f"{label:<28}{p50:>10.1f}{p95:>10.1f}{mib:>12.0f}")
    (_, k50, k95, kmib), (_, q50, q95, qmib) = rows
    print(
        f"{'peer / kb':<28}{q50 / k50:>9.1f}x{q95 / k95:>9.1f}x{qmib / kmib:>11.2f}x"
        f"   (goal: kb's p95 at least 30x lower; this process peaked at {peak:.0f} MiB)"
    )


if __name__ == "__main__":
    main()
