"""Domain adaptation of the embedding model: the pairs a knowledge base has, the held-out
split, and ``kb tune`` on the demo with the real MiniLM (trained on CPU), promoting only an
improvement: a model trained on shuffled pairs is refused."""

import json
import random
import shutil

import pytest
from click.testing import CliRunner

from index.tuning import records, tuned_base
from index.versions import current_manifest
from kb.cli import cli
from kb.config import load_settings
from kb.errors import ConfigError, NotFound
from kb.store import IndexRow
from kb.tuning import Figures, Pair, better, figures, held_out, pairs_from_rows, split
from kb.usecases.bootstrap import build
from kb.usecases.gate import Outcome, Scores, judge
from tests.conftest import DEMO
from tests.test_cli import run_kb

BASE = "all-MiniLM-L6-v2"


def row(doc, title, section, text, kind="article", anchor=None):
    return IndexRow(0, doc, 1, kind, "en", title, None, section, anchor, text, text)


TEXT = "Hold the button for five seconds until the light blinks blue twice."


def test_titles_headings_and_tickets_become_pairs_without_their_own_words():
    rows = [
        row("a", "Pairing the hub", "Pairing the hub", TEXT),
        row("a", "Pairing the hub", "Troubleshooting", "If it never blinks, unplug it " + TEXT),
        row("b", "Dimmers", "Troubleshooting", "A dimmer set low makes bulbs flicker; " + TEXT),
        row("b", "Dimmers", "Short", "Too short."),
        row("t", "Refund", "Question", "Can I get my money back?", "ticket", "question"),
        row(
            "t",
            "Refund",
            "Resolution",
            "Refunds go to the card within five days.",
            "ticket",
            "resolution",
        ),  # fmt: skip
    ]
    pairs = pairs_from_rows(rows)
    got = {(p.question, p.doc_id, p.kind) for p in pairs}
    assert got == {
        ("Pairing the hub", "a", "title"),
        ("Pairing the hub: Troubleshooting", "a", "heading"),  # shared: its page names it
        ("Dimmers", "b", "title"),
        ("Dimmers: Troubleshooting", "b", "heading"),
        ("Can I get my money back?", "t", "ticket"),
    }
    for p in pairs:
        assert p.question not in p.passage or p.kind == "ticket"  # no heading in its passage
    ticket = next(p for p in pairs if p.kind == "ticket")
    assert ticket.passage == "Refunds go to the card within five days."


def test_a_question_that_names_two_passages_is_dropped():
    rows = [row("a", "Reset", "Reset", TEXT), row("b", "Reset", "Reset", "Other words " + TEXT)]
    assert pairs_from_rows(rows) == []


def test_the_held_out_slice_is_a_fifth_of_the_documents_and_stable():
    docs = [f"doc-{i}" for i in range(2000)]
    share = sum(held_out(d) for d in docs) / len(docs)
    assert 0.17 < share < 0.23
    pairs = [Pair(f"q{i}", "p", docs[i // 3], "heading") for i in range(600)]
    train, held = split(pairs)
    assert {p.doc_id for p in train}.isdisjoint({p.doc_id for p in held})
    assert split(list(reversed(pairs)))[1] == list(reversed(held))


def test_a_tuned_model_may_lose_no_regression_question():
    right = Outcome(1, "q", 1, True, "")
    wrong = Outcome(1, "q", None, False, "none of its pages in the top 5")
    before = Scores("v1", 20, 1.0, 1.0, (right,))
    after = Scores("v2", 20, 0.95, 0.95, (wrong,))
    assert judge(before, after, margin=0.05).passed  # an ingest's snapshot may
    verdict = judge(before, after, margin=0.0)  # a tuned model's may not
    assert not verdict.passed and verdict.broken == (wrong,)


def test_figures_and_what_counts_as_better():
    ranked = [[3, 1, 2], [0, 1, 2], [2, 1, 0]]
    f = figures([r + list(range(4, 14)) for r in ranked], [3, 1, 9], corpus=14)
    assert (f.hit_at_1, round(f.hit_at_5, 3), round(f.mrr_at_10, 3)) == (1 / 3, 0.667, 0.537)
    before = Figures(50, 200, 0.50, 0.40, 0.70)
    assert better(before, Figures(50, 200, 0.55, 0.45, 0.70), 0.01)[0]
    assert not better(before, Figures(50, 200, 0.505, 0.42, 0.72), 0.01)[0]  # too little
    ok, why = better(before, Figures(50, 200, 0.60, 0.50, 0.68), 0.01)
    assert not ok and "hit@5 fell" in why  # better on average, but some questions lost


def test_questions_rated_helpful_pair_with_the_passage_the_answer_cited(tmp_path, demo_home):
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    kb = build(load_settings({"home": home}))
    cited = {"doc_id": "reset-password", "url": "http://x/reset-password.html#reset-link-rules"}
    with kb.stores.journal() as journal:
        for rating, query in ((1, "my reset link stopped working"), (-1, "wrong answer here")):
            journal.add_feedback({"target": "answer", "rating": rating, "query": query,
                                  "citations": [cited]})  # fmt: skip
        journal.add_feedback({"target": "result", "rating": 1, "query": "wifi bulb offline",
                              "doc_id": "bulb-not-responding"})  # fmt: skip
    helpful = {p.question: p for p in kb.tuning.pairs() if p.kind == "helpful"}
    assert set(helpful) == {"my reset link stopped working", "wifi bulb offline"}
    assert helpful["my reset link stopped working"].passage.startswith("- A reset link expires")
    assert helpful["wifi bulb offline"].doc_id == "bulb-not-responding"


# --- kb tune on the demo, with the real model ------------------------------------------------


REGRESSIONS = [("How do I reset my password?", "reset-password"),
               ("my bulb does not respond", "bulb-not-responding"),
               ("how to cancel my subscription", "cancel-subscription")]  # fmt: skip


@pytest.fixture(scope="module")
def tuned_home(tmp_path_factory, demo_home):
    """A copy of the demo, tuned once by `kb tune` (the real MiniLM, trained on CPU)."""
    home = tmp_path_factory.mktemp("tuned") / "home"
    shutil.copytree(demo_home, home)
    result = CliRunner().invoke(cli, ["--home", str(home), "tune", "--min-regressions", "0"])
    return home, result


def test_kb_tune_prints_held_out_figures_and_promotes_an_improvement(tuned_home):
    home, result = tuned_home
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("held-out pairs (") and f" {BASE} MRR@10 " in lines[0]
    assert f"{BASE}-tuned-1 MRR@10 " in lines[1]
    assert "promoted" in lines[-1] and "not promoted" not in lines[-1]
    assert "Pairs: " in result.stderr and "Embedding " in result.stderr  # stages, with costs
    before, after = (float(line.split("MRR@10 ")[1].split(",")[0]) for line in lines[:2])
    assert after >= before + 0.01
    manifest = current_manifest(home / "index")
    assert manifest is not None and manifest.model == f"{BASE}-tuned-1"
    (record,) = records(home / "index")
    assert record["status"] == "promoted" and record["report"]["after"]["mrr_at_10"] == after


def test_the_tuned_model_serves_queries_through_its_onnx_export_on_any_replica(
    tuned_home, shared_model_cache
):
    home, _ = tuned_home
    replica = build(load_settings({"home": home}))  # another process or host: nothing cached
    assert replica.models.name == f"{BASE}-tuned-1"
    assert replica.models.languages(replica.models.name) == frozenset({"en"})
    assert type(replica.models.query_embedder).__name__ == "OnnxEmbedder"
    assert list(shared_model_cache.glob(f"{BASE.lower()}-tuned-1-*.onnx"))
    hits = replica.retrieval.search("How do I reset my password?", k=3)
    assert hits and hits[0].passage.doc_id == "reset-password"


def test_an_ingest_keeps_the_tuned_model_and_rollback_serves_the_base_again(tuned_home, tmp_path):
    source, home = tmp_path / "demo", tmp_path / "home"
    shutil.copytree(DEMO, source)
    shutil.copytree(tuned_home[0], home)
    page = source / "reset-password.html"
    page.write_text(page.read_text().replace("</p>", " Codes expire after an hour.</p>", 1))
    kb = build(load_settings({"home": home}))
    report = kb.ingestion.ingest([str(source)])
    assert report.embed_model == f"{BASE}-tuned-1" and 1 <= report.chunks_embedded <= 2
    assert "tuned on this knowledge base" in report.embed_model_reason

    result = CliRunner().invoke(cli, ["--home", str(home), "model", "rollback"])
    assert result.exit_code == 0, result.output
    assert f"Rolled back {BASE}-tuned-1: {BASE} serves now" in result.stdout
    assert current_manifest(home / "index").model == BASE
    listed = CliRunner().invoke(cli, ["--home", str(home), "model", "list"])
    assert f"served: {BASE}" in listed.stdout and "rolled back" in listed.stdout
    again = build(load_settings({"home": home})).ingestion.ingest([str(source)])
    assert again.embed_model == BASE  # a rolled-back model is not chosen again
    with pytest.raises(NotFound, match="not a tuned one"):
        build(load_settings({"home": home})).tuning.rollback()


def test_a_model_trained_on_shuffled_pairs_is_refused_and_nothing_changes(tmp_path, demo_home):
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    kb = build(load_settings({"home": home}))
    served = current_manifest(home / "index")

    def shuffled(pairs: list[Pair]) -> list[Pair]:
        passages = [p.passage for p in pairs]
        random.Random(1).shuffle(passages)
        return [Pair(p.question, q, p.doc_id, p.kind) for p, q in zip(pairs, passages, strict=True)]

    report = kb.tuning.tune(prepare=shuffled)
    assert not report.promoted and report.reason.startswith("held-out")
    assert report.after.mrr_at_10 < report.before.mrr_at_10 + 0.01
    assert current_manifest(home / "index") == served  # still served, nothing rebuilt
    folder = home / "index" / "models" / report.model
    assert not list(folder.glob("*.safetensors"))  # a refused model keeps its record only
    assert json.loads((folder / "tuning.json").read_text())["status"] == "refused"
    assert build(load_settings({"home": home})).models.name == BASE


def test_a_tuned_model_that_loses_a_regression_question_is_refused(tmp_path, demo_home):
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    kb = build(load_settings({"home": home}))
    for question, page in REGRESSIONS:
        kb.regressions.add(question, [page])
    served = current_manifest(home / "index")
    result = run_kb("tune", "--json", "--min-regressions", "3", home=home, timeout=900)
    assert result.returncode == 3, result.stderr  # not promoted
    report = json.loads(result.stdout)
    # Better on the held-out pairs (as in the test above), but the tuned model's answer to one
    # regression question cites another page: the gate allows no loss at all.
    assert report["after"]["mrr_at_10"] >= report["before"]["mrr_at_10"] + 0.01
    assert not report["promoted"] and report["reason"].startswith("regression questions: ")
    broken = [o["question"] for o in report["gate"]["broken"]]
    assert broken == ["my bulb does not respond"]
    assert report["gate"]["before"]["right_citation"] == 1.0
    assert current_manifest(home / "index") == served
    assert not (home / "index" / report["index_version"]).exists()  # its snapshot is not kept
    with kb.stores.open() as store:
        hashes = [r.content_hash for r in store.index_rows()]
        assert not store.get_embeddings(report["model"], hashes)


def test_too_few_pairs_and_untunable_models_are_one_line_errors(tmp_path, embedder):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "one.md").write_text("# One page\n\nIt has too little to learn from.")
    home = tmp_path / "home"
    build(load_settings({"home": home}), embedder=embedder).ingestion.ingest(
        [str(tmp_path / "docs")]
    )
    result = run_kb("tune", home=home)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("kb: error: too few pairs to tune")
    assert len(result.stderr.strip().splitlines()) == 1
    with pytest.raises(ConfigError, match="given its embedder"):
        build(load_settings({"home": home}), embedder=embedder).tuning.tune()
    assert tuned_base(f"{BASE}-tuned-12") == BASE and tuned_base(BASE) is None
    nothing = run_kb("model", "rollback", home=home)
    assert nothing.returncode == 1 and "nothing to undo" in nothing.stderr


def test_the_multilingual_model_is_refused_in_one_line(tmp_path, shared_model_cache):
    (tmp_path / "docs").mkdir()
    page = "# 重置密码\n\n打开设置，点击重置密码，邮件会在一分钟内到达。"
    (tmp_path / "docs" / "one.md").write_text(page)
    settings = {"home": tmp_path / "home", "model_cache": shared_model_cache,
                "embed_model": "multilingual-e5-small"}  # fmt: skip
    build(load_settings(settings)).ingestion.ingest([str(tmp_path / "docs")])
    result = run_kb("tune", home=tmp_path / "home",
                    env={"KB_MODEL_CACHE": str(shared_model_cache),
                         "KB_EMBED_MODEL": "multilingual-e5-small"})  # fmt: skip
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("kb: error: multilingual-e5-small cannot be tuned")
