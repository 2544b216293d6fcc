"""Pages as retrieval units: splitting, near-duplicate groups, and ranking a real fixture."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import index.search
from index.pages import PageRow, asks_how, duplicate_groups, has_steps, split_pages
from kb.config import load_settings
from kb.usecases.bootstrap import Services, build
from tests.sites import serve_folder

FIXTURES = Path(__file__).parent / "fixtures"


def row(doc: str, section: str, text: str, url: str = "", title: str = "") -> PageRow:
    base = url or f"https://help.example/{doc}.html"
    return PageRow(doc, title or doc, f"{base}#{section}", base, section, section, text)


def test_a_short_document_is_one_page_and_a_long_one_a_page_per_section():
    long_text = " ".join(["word"] * 900)
    rows = [
        row("short", "a", "Hold the button."),
        row("short", "b", "Then let go."),
        row("manual", "intro", long_text),
        row("manual", "intro", long_text),
        row("manual", "wiring", long_text),
    ]
    pages = split_pages(rows)
    assert [(p.doc_id, p.start, p.end, p.section_page) for p in pages] == [
        ("short", 0, 2, False),
        ("manual", 2, 4, True),
        ("manual", 4, 5, True),
    ]
    assert pages[0].url == "https://help.example/short.html"
    assert pages[2].url == "https://help.example/manual.html#wiring"


def test_near_duplicate_pages_group_under_the_shortest_address():
    text = "Hold the remote next to the bulb and press On and Off together for five seconds."
    rows = [
        row("print/pair", "s", text, url="https://h.example/help/print/pair.html", title="Pair"),
        row("pair", "s", text, url="https://h.example/help/pair.html", title="Pair"),
        row("other", "s", "The remote takes one coin cell that lasts about two years."),
    ]
    pages = duplicate_groups(split_pages(rows), rows)
    assert [p.group for p in pages] == [1, 1, 2]


def test_pages_with_different_titles_need_all_but_identical_text():
    base = " ".join(f"word{i}" for i in range(60))
    rows = [
        row("a", "s", base, title="Printing labels"),
        row("b", "s", base + " extra words at the end", title="Exporting images"),
    ]
    assert [p.group for p in duplicate_groups(split_pages(rows), rows)] == [0, 1]


def test_steps_and_how_to_questions_are_recognised():
    assert has_steps("Intro\n1. Open the app.\n2. Tap Settings.")
    assert not has_steps("1. Only one numbered line.")
    assert asks_how("how do I export a PDF")
    assert asks_how("如何重置密码")
    assert not asks_how("what is a layer mask")


@pytest.fixture
def steps_kb(tmp_path: Path, embedder) -> Services:
    kb = build(load_settings({"home": tmp_path / "home"}, environ={}), embedder=embedder)
    kb.ingestion.ingest([str(FIXTURES / "steps-site")])
    return kb


def test_a_how_to_question_prefers_the_page_that_gives_the_steps(steps_kb, monkeypatch):
    def margin(question: str) -> float:
        scores = {h.passage.doc_id: h.score for h in steps_kb.retrieval.search(question, k=3)}
        return scores["share-drawing"] - scores["export-pdf-dialog"]

    question = "how do I send a drawing as a PDF file"
    assert steps_kb.retrieval.search(question, k=1)[0].passage.doc_id == "share-drawing"
    with_steps = margin(question)
    # The same question without credit for steps: the page that only names the command
    # comes closer, so the test fails if the signal goes.
    monkeypatch.setattr(index.search, "STEPS_WEIGHT", 0.0)
    assert margin(question) < with_steps - 0.05
    # A question that does not ask how gets no credit for steps.
    monkeypatch.undo()
    plain = "PDF file of a drawing"
    before = margin(plain)
    monkeypatch.setattr(index.search, "STEPS_WEIGHT", 0.0)
    assert margin(plain) == pytest.approx(before)


def test_duplicate_pages_show_as_one_result_and_are_cited_once(tmp_path: Path, embedder):
    root = tmp_path / "www"
    shutil.copytree(FIXTURES / "duplicate-site", root)
    kb = build(load_settings({"home": tmp_path / "home"}, environ={}), embedder=embedder)
    with serve_folder(root) as base:
        kb.ingestion.ingest([f"{base}/help/"])
    hits = kb.retrieval.search("bulb does not blink", k=5)
    pairs = [h for h in hits if h.passage.title == "Pair a remote"]
    assert len(pairs) == 1
    assert pairs[0].passage.url.startswith(f"{base}/help/pair-remote")
    assert [u.split("#")[0] for u in pairs[0].duplicates] == [f"{base}/help/print/pair-remote.html"]
    assert len({h.passage.text for h in hits}) == len(hits)

    answer = kb.answering.answer("How do I pair a remote with a bulb?")
    assert not answer.refused
    sentences = [s.strip() for s in answer.text.replace("\n", " ").split(".") if s.strip()]
    assert len(sentences) == len(set(s.split(" [")[0] for s in sentences))
    assert len({c.doc_id for c in answer.citations}) == len(answer.citations)
    assert answer.citations[0].duplicates


def test_the_api_and_the_page_list_a_results_duplicates(tmp_path: Path, embedder):
    from web import create_app

    root = tmp_path / "www"
    shutil.copytree(FIXTURES / "duplicate-site", root)
    home = tmp_path / "home"
    kb = build(load_settings({"home": home}, environ={}), embedder=embedder)
    with serve_folder(root) as base:
        kb.ingestion.ingest([f"{base}/help/"])
    client = create_app({"home": home}).test_client()
    hits = client.get("/search?q=pair+a+remote&k=3").json["hits"]
    assert hits[0]["duplicates"] == [f"{base}/help/print/pair-remote.html"]
    body = client.post("/answer", json={"question": "How do I pair a remote?"}).json
    assert body["citations"][0]["duplicates"] == [f"{base}/help/print/pair-remote.html"]
    page = client.get("/?q=pair+a+remote").get_data(as_text=True)
    assert f'class="duplicate" href="{base}/help/print/pair-remote.html"' in page


def test_the_same_menu_page_in_several_modules_is_one_but_sections_of_one_page_never_are():
    shared = (
        "New creates a new document. Open opens a document from your computer. Save saves the"
        " current document. Save As saves it under another name. Export saves it in another"
        " format. Print prints the document. Close closes the window."
    )
    rows = [
        row("writer/file", "s", shared + " Mail Merge writes letters from a list.", title="File"),
        row("calc/file", "s", shared + " Import CSV reads a table of values.", title="File"),
        row("calc/edit", "s", shared, title="Edit menu"),  # same text, another title
    ]
    big = " ".join(["same words in every section"] * 450)
    rows += [row("manual", "one", big, title="Manual"), row("manual", "two", big, title="Manual")]
    pages = duplicate_groups(split_pages(rows), rows)
    assert [p.group for p in pages] == [1, 1, 2, 3, 4]


def test_misspelt_words_are_read_as_the_indexed_words_they_are_closest_to():
    from index.lexical import FieldedIndex
    from index.search import spell
    from kb.text import tokenize

    texts = ["Reset your password from the sign-in page.", "Cancel your subscription any time.",
             "Last orders ship on Friday."]  # fmt: skip
    index = FieldedIndex.build({"body": [tokenize(t) for t in texts]}, {"body": 1.0})
    assert index.closest("pasword") == "password" and index.closest("password") is None
    assert index.closest("zzzz") is None and index.closest("pas") is None
    assert spell("how do i resett my pasword", index.closest) == "how do i reset my password"
    assert spell("how do I cancle my subscribtion", index.closest) == (
        "how do I cancel my subscript"
    )
    # Real words the index lacks, and names, are left as they are.
    assert spell("does it smell, can HomeKitt do it", index.closest) == (
        "does it smell, can HomeKitt do it"
    )


def test_a_misspelt_question_finds_its_page(demo_kb):
    hits = demo_kb.retrieval.search("how do i resett my pasword", k=1)
    assert hits[0].passage.doc_id == "reset-password"
