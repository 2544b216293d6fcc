"""Metrics against hand-computed values, the fusion rules, and kb eval end to end."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from index.fusion import absolute_convex, dense_weight_for
from index.lexical import FieldedIndex, LexicalIndex
from kb.cli import cli
from kb.errors import SourceError
from kb.retrieval_metrics import mrr, ndcg, recall, score_run
from kb.text import tokenize
from kb.usecases.evaluate import load_beir

FIXTURES = Path(__file__).parent / "fixtures"


def test_metrics_match_hand_computed_values():
    rel = {"a": 1.0, "c": 2.0}
    ranked = ["b", "a", "c"]
    ideal = 2 / math.log2(2) + 1 / math.log2(3)
    assert ndcg(ranked, rel, 10) == pytest.approx((1 / math.log2(3) + 2 / math.log2(4)) / ideal)
    assert recall(ranked, rel, 1) == 0.0 and recall(ranked, rel, 2) == 0.5
    assert mrr(ranked, rel, 10) == 0.5 and mrr(["x"], rel, 10) == 0.0
    assert score_run({"q": ["a"]}, {"q": {"a": 1.0}, "unjudged-run": {"a": 1.0}})["ndcg@10"] == 1.0


def test_fielded_bm25_is_absolute_and_bounded():
    heads = [tokenize(t) for t in ["Reset your password", "Refund policy", "Shipping times"]]
    bodies = [tokenize(t) for t in ["Open settings", "Money back in ten days", "Two days"]]
    index = FieldedIndex.build({"heading": heads, "body": bodies}, {"heading": 0.5, "body": 0.5})
    strong = index.scores(tokenize("reset password"))
    assert strong.argmax() == 0 and 0 < strong.max() < 1
    weak = index.scores(tokenize("reset password zebra"))  # a term no passage can match
    assert weak.max() == pytest.approx(strong.max())  # unknown terms add nothing to the ceiling
    partial = index.scores(tokenize("reset refund"))
    assert partial.max() < strong.max()  # half the query's idf mass matched: a weaker match
    single = LexicalIndex.build(heads)
    assert single.ceiling(tokenize("password")) == pytest.approx(math.log(1 + 2.5 / 1.5))


def test_fusion_and_the_language_rule():
    np.testing.assert_allclose(
        absolute_convex(np.array([0.5, 0.9]), np.array([0.8, 0.0]), 0.8), [0.56, 0.72]
    )
    english = frozenset({"en"})
    assert dense_weight_for("reset my password", english, 0.8) == 0.8
    assert dense_weight_for("如何重設密碼", english, 0.8) == 0.0
    assert dense_weight_for("如何重設密碼", frozenset({"multilingual"}), 0.8) == 0.8


def write_beir(folder, corpus, queries, qrels):
    folder.mkdir()
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(c) for c in corpus))
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries))
    (folder / "qrels.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, d in qrels)
    )


def test_kb_eval_prints_every_method_and_hybrid_is_not_worse(tmp_path, embedder):
    corpus = [
        {
            "id": "pw",
            "title": "How do I reset my password?",
            "text": "Use the Forgot password link.",
        },
        {"id": "rf", "title": "When will I get my refund?", "text": "Refunds take ten days."},
        {"id": "sh", "title": "How long does shipping take?", "text": "Orders arrive in two days."},
        {"id": "zh", "title": "如何申請信用卡", "text": "請到分行或網路申請信用卡。"},
    ]
    queries = [
        {"id": "q1", "text": "forgot my login password"},
        {"id": "q2", "text": "money back after return"},
        {"id": "q3", "text": "delivery time"},
        {"id": "q4", "text": "信用卡申請"},
    ]
    write_beir(
        tmp_path / "tiny", corpus, queries, [("q1", "pw"), ("q2", "rf"), ("q3", "sh"), ("q4", "zh")]
    )
    result = CliRunner().invoke(
        cli, ["--home", str(tmp_path / "h"), "eval", str(tmp_path / "tiny"), "--json", "--rrf"]
    )
    assert result.exit_code == 0, result.output
    methods = json.loads(result.stdout)["methods"]
    assert set(methods) == {"lexical", "dense", "rrf", "hybrid"}
    assert set(methods["hybrid"]) == {
        "ndcg@10",
        "recall@1",
        "recall@5",
        "recall@10",
        "recall@100",
        "mrr@10",
    }
    best_single = max(methods["lexical"]["ndcg@10"], methods["dense"]["ndcg@10"])
    assert methods["hybrid"]["ndcg@10"] >= best_single
    assert methods["hybrid"]["recall@1"] == 1.0


def test_load_beir_errors_are_clear(tmp_path):
    with pytest.raises(SourceError, match="missing corpus.jsonl, queries.jsonl, qrels.tsv"):
        load_beir(tmp_path)


def test_kb_eval_answers_reports_citations_and_refusals(tmp_path, embedder):
    corpus = [
        {
            "id": "pw",
            "title": "How do I reset my password?",
            "text": "Use the Forgot password link on the sign-in page.",
        },
        {
            "id": "rf",
            "title": "When will I get my refund?",
            "text": "Refunds reach your card within ten business days.",
        },
    ]
    queries = [
        {"id": "q1", "text": "I forgot my password"},
        {"id": "q2", "text": "how long do refunds take"},
    ]
    write_beir(tmp_path / "tiny", corpus, queries, [("q1", "pw"), ("q2", "rf")])
    oos = tmp_path / "oos.txt"
    oos.write_text("What is the boiling point of mercury?\nWho won the 2018 world cup?\n")
    args = ["--home", str(tmp_path / "h"), "eval", str(tmp_path / "tiny"), "--answers",
            "--out-of-scope", str(oos), "--json"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["answers"]
    assert report["answered_relevant"] == 1.0 and report["citation_precision"] == 1.0
    assert report["refusal_rate_in_scope"] == 0.0 and report["refusal_rate_out_of_scope"] == 1.0
    bad = CliRunner().invoke(cli, ["eval", str(tmp_path / "tiny"), "--out-of-scope", str(oos)])
    assert bad.exit_code != 0 and "--out-of-scope goes with --answers" in bad.output


def test_kb_eval_answers_on_a_help_centre_set(tmp_path, embedder):
    """The demo help centre served on 127.0.0.1, crawled, and asked its labelled questions."""
    details = tmp_path / "details.jsonl"
    args = ["--home", str(tmp_path / "h"), "eval", str(FIXTURES / "demo-set"), "--answers",
            "--json", "--keep", str(tmp_path / "kept"), "--details", str(details)]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["questions"], report["off_topic"], report["documents"]) == (20, 20, 40)
    assert report["hit_at_5"] >= 0.9 and report["answered_right"] >= 0.8
    assert report["off_topic_refused"] >= 0.9 and report["unresolved_labels"] == []
    assert 0.0 <= report["ece"] <= 0.25
    assert sum(b["count"] for b in report["reliability"]) == report["wrong_answers"] + round(
        report["answered_right"] * 20
    )
    outcomes = [json.loads(line) for line in details.read_text().splitlines()]
    assert len(outcomes) == 40 and all("cited" in o and "results" in o for o in outcomes)

    again = ["--home", str(tmp_path / "h"), "eval", str(FIXTURES / "demo-set"), "--answers",
             "--keep", str(tmp_path / "kept")]  # fmt: skip
    text = CliRunner().invoke(cli, again).output
    assert "expected calibration error" in text and "confidence    answers" in text


def test_kb_eval_answers_rejects_a_malformed_help_centre_set(tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "eval.toml").write_text('source = "site"\n')
    (folder / "questions.jsonl").write_text('{"id": "q1", "question": "hi"}\n')
    result = CliRunner().invoke(cli, ["eval", str(folder), "--answers"])
    assert isinstance(result.exception, SourceError)
    assert str(result.exception) == "questions.jsonl:1: expected {id, question, pages: [...]}"


def test_a_section_label_accepts_the_sections_nested_in_it(tmp_path):
    from kb.usecases.helpcentre_eval import Labels

    (tmp_path / "manual.html").write_text(
        "<html><body><main><h1>Manual</h1><p>Intro.</p>"
        "<h2 id='wiring'>Wiring</h2><p>Wires.</p><h3 id='ground'>Ground</h3><p>Earth it.</p>"
        "<h2 id='power'>Power</h2><p>Volts.</p></main></body></html>"
    )
    labels = Labels("http://127.0.0.1:9", tmp_path)
    base = "http://127.0.0.1:9/manual.html"
    assert labels.matches(f"{base}#ground", "manual.html#wiring")
    assert labels.matches(f"{base}#wiring", "manual.html#wiring")
    assert not labels.matches(f"{base}#power", "manual.html#wiring")
    assert labels.matches(f"{base}#power", "manual.html")
    assert not labels.matches("http://127.0.0.1:9/other.html", "manual.html")
    assert labels.resolves("manual.html#ground") and not labels.resolves("manual.html#nope")
    assert not labels.resolves("missing.html")
