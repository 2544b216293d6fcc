"""Answer units embedded when a snapshot is built: found by text, cached, answers unchanged."""

from pathlib import Path

import numpy as np

from index.build import build_snapshot
from index.units import KEYS, VECTORS, UnitVectors, row_units, write_units
from kb.config import load_settings
from kb.generate import ExtractiveGenerator, unit_text
from kb.usecases.bootstrap import build
from tests.embedders import CountingEmbedder


def page(title: str, *sections: tuple[str, str]) -> str:
    body = "".join(f"<h2>{h}</h2><p>{t}</p>" for h, t in sections)
    head = f"<head><title>{title}</title></head>"
    return f"<html>{head}<body><main><h1>{title}</h1>{body}</main></body></html>"


RESET = page(
    "Reset your password",
    (
        "Reset your password",
        "Open Settings. Choose Reset password. A link arrives by"
        " e-mail within a minute. The link works for one hour.",
    ),
    ("If no e-mail arrives", "Look in the spam folder. Ask support to resend it."),
)
REFUND = page(
    "Refunds",
    (
        "Asking for a refund",
        "Refunds go back to the card you paid with. They take"
        " five to ten working days. Annual plans are refunded for the months left.",
    ),
)
EDITED = page("Refunds",
              ("Asking for a refund", "Refunds go back to the card you paid with. They take"
               " three working days."))  # fmt: skip


def site(folder: Path, refund: str = REFUND) -> str:
    folder.mkdir(exist_ok=True)
    (folder / "reset.html").write_text(RESET)
    (folder / "refund.html").write_text(refund)
    return str(folder)


def test_an_answer_from_a_snapshot_with_units_embeds_no_sentence_and_says_the_same(
    kb, embedder, tmp_path
):
    kb.ingestion.ingest([site(tmp_path / "site")])
    searcher = kb.retrieval.searcher()
    assert searcher.units is not None and len(searcher.units) >= 6
    for question in ["how long does a refund take", "the reset e-mail never came"]:
        passages = [h.passage for h in kb.retrieval.search(question, k=3, searcher=searcher)]
        counting = CountingEmbedder(embedder)
        built = ExtractiveGenerator(counting).reading(searcher.units).generate(question, passages)
        assert counting.texts == [question]  # the question only: every unit was in the snapshot
        assert built == ExtractiveGenerator(embedder).generate(question, passages)
        assert any(w in built for w in ("working days", "spam", "resend")) and "[1]" in built


def test_units_are_found_by_their_text_and_a_changed_text_is_embedded(embedder, tmp_path):
    texts = [unit_text("Refunds", "They take five to ten working days."),
             unit_text("Refunds", "Annual plans are refunded for the months left.")]  # fmt: skip
    write_units(tmp_path, texts, embedder.embed(texts))
    units = UnitVectors.load(tmp_path)
    assert units is not None and (tmp_path / KEYS).is_file() and (tmp_path / VECTORS).is_file()
    found = units.find([texts[1], unit_text("Refunds", "They take six working days."), texts[0]])
    assert list(found) == [texts[1], texts[0]]
    for text, vector in found.items():
        assert vector.dtype == np.float32
        assert float(vector @ embedder.embed([text])[0]) > 0.999  # float16 on disk
    assert UnitVectors.load(tmp_path / "nothing-here") is None


def test_a_rebuild_embeds_only_the_units_of_what_changed_and_the_cache_keeps_only_the_latest(
    embedder, tmp_path
):
    settings = load_settings({"home": tmp_path / "home", "answer_unit_vectors": False},
                             environ={})  # fmt: skip
    kb = build(settings, embedder=embedder)
    kb.ingestion.ingest([site(tmp_path / "site")])
    model = embedder.name + "#answer-units"
    with kb.stores.open() as store:
        first = CountingEmbedder(embedder)
        build_snapshot(store, embedder.name, lambda: embedder, tmp_path / "index",
                       unit_embedder=lambda: first)  # fmt: skip
        before = row_units(store.index_rows())
        assert sorted(first.texts) == sorted(before)
    kb.ingestion.ingest([site(tmp_path / "site", EDITED)])
    with kb.stores.open() as store:
        again = CountingEmbedder(embedder)
        build_snapshot(store, embedder.name, lambda: embedder, tmp_path / "index",
                       unit_embedder=lambda: again)  # fmt: skip
        after = row_units(store.index_rows())
        assert again.texts and sorted(again.texts) == sorted(set(after) - set(before))
        assert all("three working days" in t for t in again.texts)
        kept = store.conn.execute(
            "SELECT COUNT(*) FROM embeddings WHERE model = ?", (model,)
        ).fetchone()[0]
        assert kept == len(after)  # the refund's old sentences are gone from the cache


def test_a_knowledge_base_can_build_without_units_and_answers_the_same(embedder, tmp_path):
    on = build(load_settings({"home": tmp_path / "on"}, environ={}), embedder=embedder)
    off = build(load_settings({"home": tmp_path / "off", "answer_unit_vectors": False},
                              environ={}), embedder=embedder)  # fmt: skip
    for kb in (on, off):
        kb.ingestion.ingest([site(tmp_path / "site")])
    assert off.retrieval.searcher().units is None
    served = Path(off.settings.snapshots_dir) / off.retrieval.searcher().version
    assert not (served / KEYS).exists()
    for question in ["how long does a refund take", "I forgot my password"]:
        assert on.answering.answer(question).text == off.answering.answer(question).text
