"""make bench-ingest: is ingestion embedding-bound?

Serves a copy of Debian's LibreOffice help on 127.0.0.1 and measures, on the same pages:
  1. crawl + extract + chunk + store, without embedding: pages/s and chunks/s;
  2. the embedding model's raw encode rate on exactly those chunks: chunks/s;
  3. end-to-end ingestion (crawl … embed … snapshot): chunks/s, and its ratio to (2).

BENCH_PAGES=N limits the crawl to N pages (0 = all ~2,560). Both sides count unique passages
(the pipeline embeds each distinct text once), and the raw rate is one encode call over all of
them, which sorts by length: the model's best case, not a strawman.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from index.embedding import load_embedder
from ingest.crawl import CrawlLimits
from ingest.pipeline import IngestOptions, ingest_sources
from kb.config import load_settings
from kb.service import KnowledgeBase
from kb.store import Store, embedding_text
from tests.sites import serve_folder, write_sitemap

HELP = Path("/usr/share/libreoffice/help")


def main() -> None:
    if not (HELP / "en-US").is_dir():
        sys.exit("bench-ingest: libreoffice-help-en-us is not installed (make system-deps)")
    limit = int(os.environ.get("BENCH_PAGES", "600")) or None
    embedder = load_embedder("all-MiniLM-L6-v2")
    embedder.embed(["warm up"])
    work = Path(tempfile.mkdtemp(prefix="kb-bench-"))
    try:
        root = work / "help"
        shutil.copytree(HELP, root)
        with serve_folder(root) as base:
            write_sitemap(root, base)
            options = IngestOptions(limits=CrawlLimits(max_pages=limit or 100_000))
            start = f"{base}/sitemap.xml"
            print(f"corpus: LibreOffice help served on 127.0.0.1; cores: {os.cpu_count()}")

            store = Store(work / "read-only.sqlite3")
            t = time.perf_counter()
            report = ingest_sources(store, [start], options=options)
            read_s = time.perf_counter() - t
            rows = store.index_rows()
            print(
                f"crawl+extract+chunk+store: {report.fetched} pages, {len(rows)} chunks in "
                f"{read_s:.1f}s = {report.fetched / read_s:.1f} pages/s, "
                f"{len(rows) / read_s:.1f} chunks/s"
            )

            texts = sorted({embedding_text(r.title, r.section, r.text) for r in rows})
            t = time.perf_counter()
            embedder.embed(texts)
            encode_s = time.perf_counter() - t
            raw = len(texts) / encode_s
            print(
                f"raw encode: {len(texts)} unique chunks in one call in {encode_s:.1f}s = "
                f"{raw:.1f} chunks/s"
            )

            kb = KnowledgeBase(
                load_settings({"home": work / "home"}, environ={}), embedder=embedder
            )
            t = time.perf_counter()
            same_limits = replace(kb.ingest_options(), limits=options.limits)
            full = kb.ingest([start], options=same_limits)
            total_s = time.perf_counter() - t
            end_to_end = full.chunks_embedded / total_s
            print(
                f"end-to-end ingest: {full.fetched} pages, {full.chunks_embedded} chunks embedded "
                f"in {total_s:.1f}s = {end_to_end:.1f} chunks/s"
            )
            print(f"ratio end-to-end / raw encode: {end_to_end / raw:.2f} (target >= 0.85)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
