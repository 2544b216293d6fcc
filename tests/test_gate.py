"""Regression questions and the evaluation gate: a snapshot that answers them worse is held
back, named in the report, and served only when an editor promotes it."""

from pathlib import Path

import pytest

from kb.config import load_settings
from kb.errors import InvalidInput
from kb.usecases.bootstrap import build
from tests.test_cli import run_kb

ARTICLES = {
    "returns.md": "# Returning a bulb\n\nBulbs can be returned within 60 days of delivery with"
    " the receipt. Print the return label from your order page.",
    "flicker.md": "# Why a bulb flickers\n\nFlickering means the wall dimmer is not compatible;"
    " set the dimmer to full brightness or replace it with a smart switch.",
    "pairing.md": "# Pairing the hub\n\nOpen the app, tap Add device and hold the hub's button"
    " for five seconds until it blinks blue.",
    "warranty.md": "# Warranty\n\nEvery bulb has a two year warranty against defects; claims"
    " need the serial number printed on the base.",
}


def write(folder: Path, articles: dict[str, str]) -> Path:
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.md"):
        if old.name not in articles:
            old.unlink()
    for name, text in articles.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def home(settings) -> Path:
    return settings.home  # the home of conftest's kb


@pytest.fixture
def served(kb, tmp_path):
    """A knowledge base serving the four articles, with two regression questions."""
    folder = write(tmp_path / "help", ARTICLES)
    report = kb.ingestion.ingest([str(folder)])
    assert report.gate is not None and report.gate["reason"] == "the first snapshot"
    kb.regressions.add("how do I send a bulb back?", ["returns"])
    kb.regressions.add("my light keeps flickering", ["/articles/flicker"])  # kb's link works too
    return folder


def test_a_snapshot_that_loses_a_right_page_is_held_back_and_named(kb, served):
    before = kb.retrieval.searcher().version
    write(served, {k: v for k, v in ARTICLES.items() if k != "returns.md"})
    report = kb.ingestion.ingest([str(served)])
    assert report.removed == 1 and report.held_back and not report.index_changed
    assert report.gate["status"] == "held" and report.index_version != before
    assert "search hit@5 1.00 → 0.50" in report.gate["reason"]
    (broken,) = report.gate["broken"]
    assert broken["question"] == "how do I send a bulb back?"
    assert broken["why"].startswith("none of its pages in the top 5")
    assert kb.retrieval.searcher().version == before  # still served: returns are still found
    hit = kb.retrieval.search("send a bulb back", k=1)[0]
    assert hit.passage.doc_id == "returns"
    again = kb.ingestion.ingest([str(served)])  # nothing new: the held snapshot is still named
    assert again.held_back and again.gate["version"] == report.index_version

    kb.versions.promote(report.index_version)
    assert kb.retrieval.searcher().version == report.index_version
    assert kb.gate.held() == []


def test_a_snapshot_that_does_as_well_is_served(kb, served):
    before = kb.retrieval.searcher().version
    more = {**ARTICLES, "billing.md": "# Invoices\n\nInvoices are emailed on the first day of"
            " every month and can be downloaded from the account page."}  # fmt: skip
    report = kb.ingestion.ingest([str(write(served, more))])
    assert report.index_changed and not report.held_back
    assert (
        report.gate["status"] == "passed" and "on 2 regression questions" in report.gate["reason"]
    )
    assert kb.retrieval.searcher().version not in (before, None)


def test_a_snapshot_replacing_a_damaged_one_is_served(kb, served, settings):
    before = kb.versions.list()[1]
    with (settings.snapshots_dir / before / "dense.faiss").open("ab") as f:
        f.write(b"damage")  # its checksum no longer matches: it cannot be loaded to compare
    report = kb.ingestion.ingest([str(write(served, {**ARTICLES, "more.md": "# More\n\nText."}))])
    assert report.index_changed and report.gate["status"] == "passed"
    assert report.gate["reason"].startswith(f"the served snapshot {before} cannot be read")


def test_without_regression_questions_every_snapshot_is_served(kb, tmp_path):
    folder = write(tmp_path / "help", ARTICLES)
    kb.ingestion.ingest([str(folder)])
    report = kb.ingestion.ingest([str(write(folder, {"pairing.md": ARTICLES["pairing.md"]}))])
    assert report.index_changed and report.gate["reason"] == "no regression questions yet"


def test_force_serves_a_snapshot_the_gate_would_hold(kb, served):
    write(served, {k: v for k, v in ARTICLES.items() if k != "returns.md"})
    report = kb.ingestion.ingest([str(served)], force=True)
    assert report.index_changed and report.gate["status"] == "forced"


def test_the_margin_lets_a_small_drop_through(home, embedder, served):
    lenient = build(load_settings({"home": home, "gate_margin": 0.6}, environ={}), embedder)
    write(served, {k: v for k, v in ARTICLES.items() if k != "returns.md"})
    report = lenient.ingestion.ingest([str(served)])
    assert report.index_changed and report.gate["status"] == "passed"
    assert [b["question"] for b in report.gate["broken"]] == ["how do I send a bulb back?"]


def test_questions_are_added_once_edited_and_retired(kb, served):
    (first, second) = kb.regressions.questions()
    again = kb.regressions.add("How do I send a bulb back", ["warranty"])  # folds to the first
    assert again.id == first.id and again.pages == ("returns", "warranty")
    edited = kb.regressions.edit(second.id, question="why does the light flicker?")
    assert edited.question == "why does the light flicker?" and edited.pages == ("flicker",)
    kb.regressions.edit(first.id, status="retired")
    assert [q.id for q in kb.regressions.questions()] == [second.id]
    with pytest.raises(InvalidInput, match="no document 'nope'"):
        kb.regressions.add("anything", ["nope"])
    with pytest.raises(InvalidInput, match="question is empty"):
        kb.regressions.add("  ?? ", ["returns"])


def test_helpful_feedback_and_accepted_faq_entries_grow_the_set(kb, served):
    answer = kb.answering.answer("what is the warranty on a bulb?")
    cited = [{"doc_id": c.doc_id} for c in answer.citations]
    kb.documents.add_feedback({"rating": "up", "query": "what is the warranty on a bulb?",
                               "target": "answer", "citations": cited})  # fmt: skip
    kb.documents.add_feedback({"rating": "down", "query": "is there a loyalty card?",
                               "target": "answer", "citations": cited})  # fmt: skip
    grown = {q.question: q for q in kb.regressions.questions()}
    assert grown["what is the warranty on a bulb?"].origin == "feedback"
    assert grown["what is the warranty on a bulb?"].pages == ("warranty",)
    assert "is there a loyalty card?" not in grown  # unhelpful: not a right answer
    with kb.stores.journal() as journal:
        journal.save_candidates([{"key": "k1", "question": "Can I pay by invoice?",
                                  "answer": "Yes, choose Invoice at checkout.", "size": 4,
                                  "tickets": ["t1", "t2"], "coverage": 0.1}])  # fmt: skip
        (candidate,) = journal.candidates("pending")
    accepted = kb.editorial.decide(candidate.id, accept=True)
    faq = next(q for q in kb.regressions.questions() if q.origin == "faq")
    assert faq.question == "Can I pay by invoice?" and faq.pages == (accepted.doc_id,)


def test_the_cli_reports_a_held_snapshot_promotes_it_and_evaluates_the_set(kb, home, served):
    result = run_kb("eval", "--answers", home=home)
    assert result.returncode == 0, result.stderr
    assert "search hit@5" in result.stdout and "2 questions" in result.stdout
    write(served, {k: v for k, v in ARTICLES.items() if k != "returns.md"})
    result = run_kb("ingest", str(served), home=home)
    assert result.returncode == 0, result.stderr
    held = kb.gate.held()[0].version
    assert f"{held} held back, not served" in result.stdout
    assert "'how do I send a bulb back?': none of its pages in the top 5" in result.stdout
    assert "held back: search hit@5" in run_kb("index", "list", home=home).stdout
    result = run_kb("index", "promote", held, home=home)
    assert result.returncode == 0 and f"Now serving {held}." in result.stdout
    listed = run_kb("regressions", "list", home=home).stdout
    assert "[editor] 'how do I send a bulb back?' → returns" in listed
    bad = run_kb("regressions", "add", "where is my parcel?", "--page", "nope", home=home)
    assert bad.returncode != 0 and bad.stderr.strip() == "kb: error: no document 'nope'"


def test_the_questions_and_verdicts_are_kept_alike_in_sqlite_and_postgresql(store_target):
    from kb.regressions import Regressions

    store = Regressions(store_target)
    first = store.add("Where is my parcel?", ["shipping", "shipping"], "editor", note="top 10")
    assert first is not None and first.pages == ("shipping",) and first.status == "active"
    assert (
        store.add("where is my PARCEL", ["tracking"], "feedback", ref="feedback:1").id == first.id
    )
    assert store.add("another", ["x"], "feedback", ref="feedback:1") is None  # one ref, once
    store.edit(first.id, status="retired")
    assert store.questions() == [] and store.questions(None)[0].pages == ("shipping", "tracking")
    with pytest.raises(InvalidInput, match="origin must be one of"):
        store.add("q", ["x"], "rumour")
    store.record_gate("v000002", "held", "v000001", {"reason": "worse", "broken": []})
    store.set_gate_status("v000002", "promoted")
    gate = store.gate("v000002")
    assert gate is not None and gate.status == "promoted" and gate.verdict["reason"] == "worse"
    assert [g.version for g in store.gates()] == ["v000002"] and store.gate("v9") is None


def test_a_help_centre_set_s_labelled_questions_are_imported_by_their_site_paths(kb, tmp_path):
    import json

    from tests.sites import serve_folder

    site = tmp_path / "site"
    (site / "help").mkdir(parents=True)
    page = "<html><head><title>{0}</title></head><body><main><h1>{0}</h1><p>{1}</p></main>" \
           "</body></html>"  # fmt: skip
    (site / "help" / "index.html").write_text(page.format(
        "Help", "Read about <a href='returns.html'>returns</a> and <a href='flicker_fix.html'>"
        "flickering bulbs</a>, or browse the other articles of the help centre."))  # fmt: skip
    (site / "help" / "returns.html").write_text(page.format("Returns", ARTICLES["returns.md"]))
    (site / "help" / "flicker_fix.html").write_text(page.format("Flicker", ARTICLES["flicker.md"]))
    evalset = tmp_path / "set"
    evalset.mkdir()
    (evalset / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in [
        {"id": "q1", "question": "can I send a bulb back?", "pages": ["help/returns.html#x"]},
        {"id": "q2", "question": "flickering light", "pages": ["help/flicker_fix.html"]},
        {"id": "q3", "question": "gift cards?", "pages": ["help/gift-cards.html"]},
    ]))  # fmt: skip
    with serve_folder(site) as base:
        kb.ingestion.ingest([f"{base}/help/index.html"])
    added, skipped = kb.regressions.import_file(evalset)
    assert added == 2 and skipped == ["questions.jsonl:3: no document 'help/gift-cards.html'"]
    pages = {q.question: q.pages for q in kb.regressions.questions()}
    assert pages["flickering light"] == (kb.retrieval.search("flickering", k=1)[0].passage.doc_id,)
    assert kb.regressions.import_file(evalset)[0] == 0  # each line once


KEY = "gate-admin-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def admin(home, embedder, served):
    """The admin API over the knowledge base ``served`` made."""
    from web import create_app

    return create_app({"home": home, "admin_key": KEY}, embedder).test_client()


def test_editors_list_add_edit_and_retire_questions_through_the_api(admin):
    listed = admin.get("/admin/regressions", headers=AUTH).json["questions"]
    assert [q["question"] for q in listed] == ["how do I send a bulb back?",
                                                "my light keeps flickering"]  # fmt: skip
    body = {"question": "Is my bulb under warranty?", "pages": ["/articles/warranty#warranty"],
            "note": "top 10"}  # fmt: skip
    made = admin.post("/admin/regressions", headers=AUTH, json=body)
    assert made.status_code == 201
    added = made.json["regression"]
    assert (added["origin"], added["pages"], added["note"]) == ("editor", ["warranty"], "top 10")
    edited = admin.patch(f"/admin/regressions/{added['id']}", headers=AUTH,
                         json={"question": "How long is the warranty?",
                               "pages": ["warranty", "returns"]})  # fmt: skip
    assert edited.status_code == 200
    assert edited.json["regression"]["question"] == "How long is the warranty?"
    assert edited.json["regression"]["pages"] == ["warranty", "returns"]
    retired = admin.patch(f"/admin/regressions/{added['id']}", headers=AUTH,
                          json={"status": "retired"})  # fmt: skip
    assert retired.json["regression"]["status"] == "retired"
    active = admin.get("/admin/regressions", headers=AUTH).json["questions"]
    assert added["id"] not in [q["id"] for q in active] and len(active) == 2
    gone = admin.get("/admin/regressions?status=retired", headers=AUTH).json["questions"]
    assert [q["id"] for q in gone] == [added["id"]]
    assert len(admin.get("/admin/regressions?status=all", headers=AUTH).json["questions"]) == 3
    assert admin.get("/admin/regressions").status_code == 401


@pytest.mark.parametrize(
    "method, path, body, status, message",
    [
        ("POST", "/admin/regressions", {"question": "where?", "pages": ["nope"]}, 400,
         "no document 'nope'"),
        ("POST", "/admin/regressions", {"question": " ?? ", "pages": ["returns"]}, 400,
         "question is empty"),
        ("POST", "/admin/regressions", {"question": "", "pages": ["returns"]}, 400,
         "question is empty"),
        ("POST", "/admin/regressions", {"question": "where?"}, 400, "missing field 'pages'"),
        ("POST", "/admin/regressions", {"question": "where?", "pages": []}, 400,
         "pages needs at least 1 item(s)"),
        ("POST", "/admin/regressions", {"question": "where?", "pages": "returns"}, 400,
         "pages must be a list"),
        ("PATCH", "/admin/regressions/1", {"status": "gone"}, 400,
         "status must be 'active' or 'retired'"),
        ("PATCH", "/admin/regressions/1", {"pages": ["/articles/nope"]}, 400,
         "no document '/articles/nope'"),
        ("PATCH", "/admin/regressions/999", {"note": "x"}, 404, "no regression question 999"),
        ("GET", "/admin/regressions?status=gone", None, 400, "status must be"),
        ("POST", "/admin/index/promote", {"version": "v999999"}, 404,
         "no index snapshot 'v999999'"),
        ("POST", "/admin/index/promote", {}, 400, "missing field 'version'"),
    ],
)  # fmt: skip
def test_the_regression_routes_say_what_is_wrong(admin, method, path, body, status, message):
    response = admin.open(path, method=method, json=body, headers=AUTH)
    assert response.status_code == status, response.json
    assert set(response.json) == {"ok", "error", "status", "request_id"}
    assert message in response.json["error"]


def test_editors_see_a_held_snapshot_and_serve_it_through_the_api(admin, served):
    first = admin.get("/admin/index/gates", headers=AUTH).json
    assert first["served"] == "v000001" and first["gates"][0]["status"] == "passed"
    write(served, {k: v for k, v in ARTICLES.items() if k != "returns.md"})
    admin.application.extensions["kb"].ingestion.ingest([str(served)])
    gates = admin.get("/admin/index/gates", headers=AUTH).json
    held = gates["gates"][0]
    assert gates["served"] == "v000001" and (held["version"], held["status"]) == ("v000002", "held")
    assert held["verdict"]["reason"].startswith("search hit@5 1.00 → 0.50")
    assert [b["question"] for b in held["verdict"]["broken"]] == ["how do I send a bulb back?"]
    assert [g["version"] for g in gates["gates"]] == ["v000002", "v000001"]  # newest first

    promoted = admin.post("/admin/index/promote", headers=AUTH, json={"version": "v000002"})
    assert promoted.status_code == 200
    assert promoted.json == {"ok": True, "index_version": "v000002", "removed_since": [],
                             "changed_since": []}  # fmt: skip
    after = admin.get("/admin/index/gates", headers=AUTH).json
    assert after["served"] == "v000002" and after["gates"][0]["status"] == "promoted"
    hits = admin.get("/v1/search?q=send+a+bulb+back").json["hits"]
    assert "returns" not in [h["doc_id"] for h in hits]  # the held snapshot is what is served
