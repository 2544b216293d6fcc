import math
from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from index.boilerplate import boilerplate_lines, only_boilerplate
from index.build import build_snapshot
from index.dense import DenseIndex
from index.fusion import rrf, top_rows
from index.lexical import LexicalIndex
from index.search import Searcher
from index.snapshot import load_current
from index.versions import current_version, list_versions
from ingest.pipeline import IngestOptions, ingest_sources
from kb.store import Store
from kb.text import tokenize

CORPUS = [
    "How to reset your password from the app",
    "Refunds are paid back to the original card within ten days",
    "Track your order with the tracking number in the shipping email",
    "Pair a bulb with the hub by turning it on and off three times",
    "Change the e-mail address of your account in the settings",
    "Two-factor authentication protects the account with a code",
    "Cancel the subscription before the renewal date to avoid a charge",
    "Return an item within thirty days for a full refund",
]
QUERIES = ["reset password", "refund card", "order tracking number", "account settings e-mail"]


def test_bm25_scores_equal_rank_bm25():
    """kb's BM25 (bm25s, sparse matrices) gives rank-bm25's Okapi scores, term for term.

    rank-bm25 keeps the constant (k1 + 1) in the numerator; bm25s drops it, as Lucene does.
    A constant factor changes no ranking, so the scores must agree once it is applied.
    """
    tokens = [tokenize(t) for t in CORPUS]
    ours = LexicalIndex.build(tokens, k1=1.5, b=0.75, method="robertson")
    reference = BM25Okapi(tokens, k1=1.5, b=0.75)
    for q in QUERIES:
        expected = reference.get_scores(tokenize(q))
        np.testing.assert_allclose(ours.scores(tokenize(q)) * 2.5, expected, rtol=1e-5, atol=1e-6)


def test_lucene_bm25_matches_its_formula():
    tokens = [tokenize(t) for t in CORPUS]
    ours = LexicalIndex.build(tokens, k1=1.2, b=0.75)
    n, avgdl = len(tokens), sum(map(len, tokens)) / len(tokens)
    for q in QUERIES:
        expected = []
        for doc in tokens:
            score = 0.0
            for term in tokenize(q):
                df = sum(term in d for d in tokens)
                tf = doc.count(term)
                if tf:
                    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                    score += idf * tf / (tf + 1.2 * (1 - 0.75 + 0.75 * len(doc) / avgdl))
            expected.append(score)
        np.testing.assert_allclose(ours.scores(tokenize(q)), expected, rtol=1e-5)


def test_lexical_unknown_query_terms_score_zero():
    ours = LexicalIndex.build([tokenize(t) for t in CORPUS])
    assert not ours.scores(tokenize("zebra xylophone")).any()
    assert not ours.scores([]).any()


# Help-centre pages written in one Chinese script or the other, and in half-width Latin.
CHINESE_PAGES = [
    "如何修改账户密码：打开设置，选择账户安全，输入旧密码和新密码。",  # Simplified
    "信用卡申請後多久可以收到卡片？一般約七個工作天以掛號寄達。",  # Traditional
    "连接 WiFi：在设置里打开无线网络，选择网络名称并输入密码。",  # Simplified
    "營業時間為週一至週五上午九點到下午三點半，例假日不營業。",  # Traditional
]


@pytest.mark.parametrize(
    ("question", "page"),
    [
        ("帳戶密碼忘記了怎麼辦", 0),  # Traditional question, Simplified page
        ("会用挂号寄达吗", 1),  # Simplified question, Traditional page
        ("营业时间是几点", 3),  # the same, other words
        ("ＷｉＦｉ怎么连接", 2),  # full-width Latin
    ],
)
def test_lexical_matches_across_chinese_scripts_and_widths(question, page):
    index = LexicalIndex.build([tokenize(t) for t in CHINESE_PAGES])
    scores = index.scores(tokenize(question))
    assert top_rows(scores, 1).tolist() == [page]


def test_dense_search_is_exact_and_rescoring_agrees(embedder):
    vectors = embedder.embed(CORPUS)
    index = DenseIndex.build(vectors)
    q = embedder.embed(["I forgot my password"], query=True)[0]
    rows, scores = index.search(q, 3)
    assert rows[0] == 0
    np.testing.assert_allclose(scores, vectors[rows] @ q, rtol=1e-5)
    np.testing.assert_allclose(index.scores(q, rows), scores, rtol=1e-5)


def test_fusion_functions():
    fused = rrf(np.array([3.0, 2.0, 1.0]), np.array([1.0, 2.0, 3.0]))
    assert fused[1] == pytest.approx(2 / 62) and fused[0] == pytest.approx(1 / 61 + 1 / 63)
    assert top_rows(np.array([0.0, 0.5, 0.9, 0.1]), 2).tolist() == [2, 1]
    assert top_rows(np.array([0.0, 0.0]), 5).tolist() == []


def _site(tmp_path: Path, pages: dict[str, str]) -> Path:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    for name, body in pages.items():
        (site / f"{name}.html").write_text(
            f"<html><body><main><h1>{name}</h1><p>{body}</p></main></body></html>"
        )
    return site


def test_snapshot_is_reused_when_nothing_changed_and_embeds_only_changes(tmp_path, embedder):
    store = Store(tmp_path / "kb.sqlite3")
    site = _site(tmp_path, {f"p{i}": text for i, text in enumerate(CORPUS)})
    ingest_sources(store, [str(site)], options=IngestOptions(chunk_words=100))
    index_dir = tmp_path / "index"
    first, embedded = build_snapshot(store, embedder.name, lambda: embedder, index_dir)
    assert embedded == len(CORPUS) and first.version == "v000001"

    def no_model():
        raise AssertionError("an unchanged store must not load the model")

    again, embedded = build_snapshot(store, embedder.name, no_model, index_dir)
    assert (again.version, embedded) == ("v000001", 0)

    _site(tmp_path, {"p0": "How to reset your password from the website"})
    ingest_sources(store, [str(site)], options=IngestOptions(chunk_words=100))
    second, embedded = build_snapshot(store, embedder.name, lambda: embedder, index_dir)
    assert (second.version, embedded) == ("v000002", 1)
    assert current_version(index_dir) == "v000002"
    assert [m.version for m in list_versions(index_dir)] == ["v000001", "v000002"]
    snapshot = load_current(index_dir)
    assert snapshot.manifest.passages == len(CORPUS)
    assert {p.doc_id for p in snapshot.passages(list(range(len(CORPUS))))} == {
        f"p{i}" for i in range(len(CORPUS))
    }


def test_hnsw_reaches_the_recall_it_was_tuned_for_on_real_embeddings(demo_home, embedder):
    """On the demo's real passage vectors: HNSW recall@10 against exact search, on real queries."""
    from kb.store import Store

    store = Store(demo_home / "kb.sqlite3")
    rows = store.index_rows()
    cached = store.get_embeddings(embedder.name, [r.content_hash for r in rows])
    store.close()
    vectors = np.stack([cached[r.content_hash] for r in rows])
    graph = DenseIndex.build(vectors, hnsw_threshold=100, target_recall=0.98)
    exact = DenseIndex.build(vectors)
    assert graph.ef_search > 0 and graph.recall >= 0.98
    questions = [
        "How do I reset my password?", "When will my refund arrive?", "hub offline",
        "pair a new bulb", "cancel my subscription", "ship to Canada", "warranty",
    ]  # fmt: skip
    found = 0
    for q in embedder.embed(questions, query=True):
        found += len(set(graph.search(q, 10)[0]) & set(exact.search(q, 10)[0]))
    assert found / (10 * len(questions)) >= 0.95
    allow = np.zeros(len(vectors), dtype=bool)
    allow[::7] = True
    rows_found, _ = graph.search(embedder.embed(["reset password"])[0], 5, allow)
    assert len(rows_found) == 5 and all(allow[r] for r in rows_found)


def test_chance_level_uses_generic_probes_when_the_corpus_is_tiny(embedder):
    from index.dense import PROBES

    twins = embedder.embed(["Reset your password from the app.", "Reset your password online."])
    probes = embedder.embed(list(PROBES))
    pairwise = DenseIndex.build(twins)
    probed = DenseIndex.build(twins, probes=probes)
    assert pairwise.background > 0.6  # two near-duplicates are not "chance"
    assert probed.background < 0.3 and probed.calibrate(np.array([0.8]))[0] > 0.6


def test_chance_is_how_close_off_topic_questions_come_per_script(tmp_path: Path):
    passages = np.eye(4, dtype=np.float32)
    dense = DenseIndex.build(passages)  # background: random pairs of distinct passages, cos 0
    angles = [0.2, 0.3, 0.4, 0.5]  # best cosines cos(a), against passage 0
    near = [[math.cos(a), math.sin(a), 0, 0] for a in angles] + [[0.5, 0.5, 0.5, 0.5]]
    near = np.array(near, dtype=np.float32)  # the last one 0.5 from every passage
    dense.measure_chance({"other": near, "cjk": near[:4]})  # four are too few to measure
    assert "cjk" not in dense.chance
    # The median: a question the corpus does answer (a = 0.2) or one far off moves it little.
    assert dense.chance["other"] == pytest.approx(math.cos(0.4), abs=1e-5)
    assert dense.above_chance(math.cos(0.4) + 0.25, "other") == pytest.approx(0.25, abs=1e-5)
    assert dense.above_chance(0.9, "cjk") is None
    dense.save(tmp_path / "dense.faiss")
    assert DenseIndex.load(tmp_path / "dense.faiss").chance == dense.chance


def test_boilerplate_lines_are_those_many_documents_repeat():
    pages = [(f"p{i}", f"Topic {i} text\nDownload the  ebook\n- Next") for i in range(20)]
    pages += [("p0", "download the ebook"), ("q", "Only here\n- next")]
    lines = boilerplate_lines(pages, share=0.5, min_documents=3)
    assert lines == {"download the ebook", "- next"}  # spacing and case do not matter
    assert boilerplate_lines(pages[:2], share=0.0, min_documents=3) == frozenset()
    assert only_boilerplate("- Next\n\nDOWNLOAD the ebook", lines)
    assert not only_boilerplate("Topic 1 text\n- Next", lines)
    assert not only_boilerplate("", lines) and not only_boilerplate("- Next", frozenset())


def test_passages_made_only_of_what_every_page_repeats_are_never_retrieved(tmp_path, embedder):
    footer = "</p><h2>Navigation</h2><p>Prev</p><p>Download the ebook</p><p>Next"
    site = _site(tmp_path, {f"p{i}": text + footer for i, text in enumerate(CORPUS * 2)})
    store = Store(tmp_path / "kb.sqlite3")
    ingest_sources(store, [str(site)], options=IngestOptions(chunk_words=100))
    build_snapshot(store, embedder.name, lambda: embedder, tmp_path / "index")
    snapshot = load_current(tmp_path / "index")
    everything = snapshot.passages(list(range(snapshot.manifest.passages)))
    navigation = [r for r, p in enumerate(everything) if p.section == "Navigation"]
    assert len(navigation) == 16 and not snapshot.mask(None)[navigation].any()
    assert snapshot.mask(None).sum() == len(CORPUS)  # one of each pair of equal pages
    searcher = Searcher(snapshot, embedder, candidates=50, dense_weight=0.5)
    hits = searcher.search(searcher.query("download the ebook"), 5)
    assert hits and all(h.passage.section != "Navigation" for h in hits)
    assert snapshot.document("p1") is not None  # the article view still has it


def test_a_searcher_embeds_a_question_asked_again_at_once_only_once(kb, tmp_path):
    from index.search import PREPARED, Searcher

    (tmp_path / "help").mkdir()
    (tmp_path / "help" / "a.md").write_text("# Returns\n\nBulbs go back within 60 days.")
    kb.ingestion.ingest([str(tmp_path / "help")])
    served = kb.retrieval.searcher()
    calls: list[list[str]] = []

    class Counting:
        name, dim, languages = served.embedder.name, served.embedder.dim, None

        def embed(self, texts, query=False):
            calls.append(list(texts))
            return served.embedder.embed(texts, query=query)

    searcher = Searcher(served.snapshot, Counting(), candidates=10, dense_weight=0.5)
    first = searcher.query("send a bulb back")
    assert searcher.query("send a bulb back") is first and len(calls) == 1  # search, answer
    for n in range(PREPARED):
        searcher.query(f"question {n}")
    searcher.query("send a bulb back")  # pushed out by newer ones: embedded again
    assert len(calls) == PREPARED + 2
