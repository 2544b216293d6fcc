"""The help page in a real browser: Debian's Chromium driven by Playwright, on 127.0.0.1.

Screenshots go to tests/artifacts/ (the README's comes from here).
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from kb.config import load_settings
from kb.usecases.bootstrap import build
from tests.conftest import DEMO
from tests.sites import serve_widget_host
from tests.stores import feedback_rows, rating_rows
from web import create_app

ADMIN_KEY = "editor-key-for-tests"

CHROMIUM = next(
    (p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if Path(p).exists()), None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium (make test installs it as root)"
)
ARTIFACTS = Path(__file__).parent / "artifacts"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2}  # fmt: skip


@pytest.fixture(scope="module")
def home(tmp_path_factory, demo_home, embedder) -> Path:
    """A copy of the demo home with tickets, so feedback rows belong to these tests."""
    home = tmp_path_factory.mktemp("browser") / "home"
    shutil.copytree(demo_home, home)
    kb = build(load_settings({"home": home}), embedder=embedder)
    kb.ingestion.ingest([str(DEMO), str(DEMO.parent / "tickets.csv")])
    return home


@pytest.fixture(scope="module")
def widget_host() -> Iterator[dict[str, str]]:
    """Another origin: a shop page that embeds the widget with one script tag."""
    with serve_widget_host("en", "Shop", "Lumio shop") as holder:
        yield holder


@contextmanager
def serving(app) -> Iterator[str]:
    """``app`` on a real HTTP server on 127.0.0.1; yields its base URL."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()


@pytest.fixture(scope="module")
def server(home, embedder, widget_host) -> Iterator[str]:
    """kb's app on a real HTTP server on 127.0.0.1, allowing the shop's origin."""
    app = create_app({"home": home, "escalation_contact": "help@lumio.example",
                      "cors_origins": widget_host["origin"], "admin_key": ADMIN_KEY,
                      "query_log": True, "rate_limit_answer": 0})  # fmt: skip
    with serving(app) as base:
        widget_host["kb"] = base  # another port: cross-origin
        yield base


@pytest.fixture(scope="module")
def rating_widget_host(home, embedder) -> Iterator[dict[str, str]]:
    """Another shop, embedding the widget of a kb set to ask for ratings (KB_CSAT_WIDGET)."""
    with serve_widget_host("en", "Shop", "Lumio shop") as holder:
        app = create_app({"home": home, "cors_origins": holder["origin"], "csat_widget": True,
                          "query_log": True, "rate_limit_answer": 0})  # fmt: skip
        with serving(app) as base:
            holder["kb"] = base
            yield holder


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()


@pytest.fixture(params=["desktop", "phone"])
def page(request, browser):
    context = browser.new_context(**(PHONE if request.param == "phone" else {}))
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # A Content-Security-Policy violation is a console error: none may happen.
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.viewport_name = request.param
    yield page
    context.close()
    assert errors == [], errors  # no JavaScript errors on any page


def shot(page, name: str, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-{page.viewport_name}.png"), full_page=full_page)


def test_type_see_results_ask_see_a_cited_answer_follow_a_citation(page, server):
    page.goto(server + "/")
    box = page.get_by_label("How can we help?")
    box.press_sequentially("reset password", delay=30)
    first = page.locator("#hits .hit .title").first
    first.wait_for()
    assert "password" in first.inner_text().lower()  # results as you type, no submit
    assert page.locator("#hits mark").count() >= 1
    shot(page, "results")

    box.press("Enter")  # Ask
    page.locator("#answer .citations li").first.wait_for()
    answer = page.locator("#answer")
    assert "[1]" in answer.locator(".answer-text").inner_text()
    assert page.url.endswith("?q=reset%20password")
    shot(page, "answer")
    shot(page, "answer-top", full_page=False)  # the README's picture
    no_sideways_scroll = "document.documentElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(no_sideways_scroll)

    to_section = answer.locator(".answer-text sup a[href*='#']")
    assert to_section.count() >= 1  # at least one citation points into a section
    to_section.first.click()
    page.wait_for_url("**/articles/**#*")
    anchor = page.url.split("#", 1)[1]
    assert page.locator(f"section[id='{anchor}']").is_visible()


def test_feedback_on_an_answer_is_stored_with_the_answer(page, server, home):
    before = len(feedback_rows(home))
    page.goto(server + "/")
    box = page.get_by_label("How can we help?")
    box.fill("how do I factory reset a bulb")
    page.get_by_role("button", name="Ask").click()
    page.locator("#answer .citations li").first.wait_for()
    page.locator("#answer summary").click()
    page.get_by_label("What was missing or wrong?").fill(f"too short ({page.viewport_name})")
    page.locator("#answer .helpful button[value=down]").click()
    page.get_by_role("status").filter(has_text="Thanks for your feedback").wait_for()
    rows = feedback_rows(home)
    assert len(rows) == before + 1
    row = rows[-1]
    assert row["rating"] == -1 and row["target"] == "answer"
    assert row["query"] == "how do I factory reset a bulb"
    assert row["comment"] == f"too short ({page.viewport_name})"
    assert "factory-reset-bulb" in row["citations"] and row["index_version"] == "v000002"
    assert row["answer"] and "[1]" in row["answer"]


def test_a_rating_given_on_the_page_is_stored_and_counted_in_the_kpis(page, server, home):
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}

    def csat():
        return page.request.get(server + "/admin/kpis?days=1", headers=admin).json()["csat"]

    before, counted = len(rating_rows(home)), csat()
    page.goto(server + "/")
    page.get_by_label("How can we help?").fill("How do I reset my password?")
    page.get_by_role("button", name="Ask").click()
    offer = page.get_by_role("group", name="How satisfied are you?")
    offer.wait_for()  # at the end of the answer
    shot(page, "rating")
    offer.get_by_role("button", name="4 – satisfied", exact=True).click()
    page.get_by_role("status").filter(has_text="Thanks for your rating.").wait_for()
    rows = rating_rows(home)
    assert len(rows) == before + 1
    row = rows[-1]
    assert (row["rating"], row["channel"], row["client"]) == (4, "page", "")
    assert (row["question"], row["top_doc"]) == ("How do I reset my password?", "reset-password")
    assert len(row["conversation_id"]) == 32  # the page's own id for this question
    now = csat()
    assert now["ratings"] == counted["ratings"] + 1
    assert now["distribution"]["4"] == counted["distribution"]["4"] + 1
    assert now["by_channel"]["page"]["ratings"] == counted["by_channel"]["page"]["ratings"] + 1


def test_a_refusal_says_so_and_offers_articles_and_a_contact(page, server):
    page.goto(server + "/")
    page.get_by_label("How can we help?").fill("How do I bake sourdough bread?")
    page.get_by_role("button", name="Ask").click()
    refusal = page.locator("#answer.refused")
    refusal.wait_for()
    assert "couldn't find" in refusal.inner_text()
    assert refusal.locator(".related a").count() >= 1
    assert refusal.locator("a[href='mailto:help@lumio.example']").count() == 1
    shot(page, "refusal")


def test_the_page_works_without_javascript(browser, server, home):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(server + "/")
    page.get_by_label("How can we help?").fill("how do I pair a bulb")
    page.get_by_role("button", name="Ask").click()
    page.wait_for_url("**/?q=*")
    assert page.locator("#answer .citations li").count() >= 1
    assert page.locator("#hits .hit").count() >= 1
    page.locator("#hits .hit .helpful button[value=up]").first.click()
    page.wait_for_url("**thanks=1*")
    assert page.get_by_text("Thanks for your feedback.").is_visible()
    before = len(rating_rows(home))
    page.get_by_role("button", name="2 – dissatisfied", exact=True).click()  # a form post
    page.wait_for_url("**rated=1*")
    assert page.get_by_text("Thanks for your rating.").is_visible()
    rows = rating_rows(home)
    assert len(rows) == before + 1
    assert (rows[-1]["rating"], rows[-1]["channel"], rows[-1]["question"]) == (
        2, "page", "how do I pair a bulb",
    )  # fmt: skip
    context.close()


def test_keyboard_alone_reaches_search_ask_and_results(browser, server):
    context = browser.new_context()
    page = context.new_page()
    page.goto(server + "/?q=reset+password")
    page.keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("document.activeElement.className") == "skip"
    focused = []
    for _ in range(4):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
    assert focused[:2] == ["A", "q"] and "ask" in focused  # brand, search box, Ask
    context.close()


def test_the_widget_puts_the_ask_box_on_another_site(browser, server, widget_host):
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(widget_host["origin"] + "/")
    page.get_by_role("button", name="Help").click()
    page.get_by_label("Ask Lumio Help Centre").fill("How do I reset my password?")
    page.get_by_role("button", name="Ask").click()
    link = page.locator("[data-kb-widget] ol a").first
    link.wait_for()
    assert "/articles/reset-password" in link.get_attribute("href")
    assert page.locator("[data-kb-widget] .csat").count() == 0  # no rating asked by default
    page.screenshot(path=str(ARTIFACTS / "widget.png"))
    assert errors == []
    context.close()


def test_the_widget_asks_for_a_rating_when_set_to(browser, rating_widget_host, home):
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(rating_widget_host["origin"] + "/")
    page.get_by_role("button", name="Help").click()
    page.get_by_label("Ask Lumio Help Centre").fill("How do I pair a bulb?")
    page.get_by_role("button", name="Ask", exact=True).click()
    offer = page.get_by_role("group", name="How satisfied are you?")
    offer.wait_for()
    before = len(rating_rows(home))
    offer.get_by_role("button", name="5 – very satisfied", exact=True).click()
    page.get_by_text("Thanks for your rating.").wait_for()
    rows = rating_rows(home)
    assert len(rows) == before + 1
    assert (rows[-1]["rating"], rows[-1]["channel"]) == (5, "widget")
    assert rows[-1]["question"] == "How do I pair a bulb?"  # its conversation, cross-origin
    page.screenshot(path=str(ARTIFACTS / "widget-rating.png"))
    assert errors == []
    context.close()


def test_editors_review_candidates_gaps_trends_and_feedback(browser, server, home):
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # Some evidence of its own, whatever ran before: a question answered, one refused, a rating.
    for question in ("How do I reset my password?", "How do I bake sourdough bread?"):
        page.request.post(server + "/v1/answer", data={"question": question})
    page.request.post(server + "/v1/feedback", data={"rating": "down", "query": "bread"})
    page.request.post(server + "/v1/ratings", data={"conversation_id": "editor", "rating": 3})
    page.goto(server + "/editor")
    assert page.locator("#editor").is_hidden()  # nothing without the key
    page.get_by_label("Admin key").fill("wrong")
    page.get_by_role("button", name="Open").click()
    page.get_by_text("That key is not right.").wait_for()
    page.get_by_label("Admin key").fill(ADMIN_KEY)
    page.get_by_role("button", name="Open").click()
    page.get_by_role("button", name="Mine tickets again").click()
    first = page.locator(".candidate.pending").first
    first.wait_for()
    candidate_id = first.get_attribute("data-id")
    first.get_by_label("Question").fill("How do I cancel Lumio Plus?")
    first.get_by_role("button", name="Accept").click()
    page.locator(f".candidate.accepted[data-id='{candidate_id}']").wait_for()
    conn = sqlite3.connect(home / "kb.sqlite3")
    status, question = conn.execute(
        "SELECT status, question FROM faq_candidates WHERE id = ?", (candidate_id,)
    ).fetchone()
    conn.close()
    assert status == "accepted" and question == "How do I cancel Lumio Plus?"
    assert page.locator("#trends svg").count() >= 3  # queue, sentiment, topic
    assert page.locator("#kpis dd").first.inner_text() != "0"  # questions asked in these tests
    assert page.locator("#kpi-chart svg").count() == 1
    kpis = dict(zip(page.locator("#kpis dt").all_inner_texts(),
                    page.locator("#kpis dd").all_inner_texts(), strict=True))  # fmt: skip
    assert kpis["Satisfaction (mean of 1–5)"] != "–" and int(kpis["Ratings"]) >= 1
    csat = page.locator("#csat-trends")
    assert csat.locator("table").count() == 2  # by week, by topic
    assert csat.get_by_role("cell", name="unknown", exact=True).count() == 1  # no question
    assert page.locator("#gaps li").count() >= 1 and page.locator("#feedback li").count() >= 1
    # An ingest started from the page runs as a job and reports how it went.
    page.get_by_label("Sources, one a line").fill(str(DEMO))
    page.get_by_role("button", name="Start ingest").click()
    page.locator("#job").filter(has_text="done").wait_for(timeout=120_000)
    assert "40 unchanged" in page.locator("#job").inner_text()
    page.screenshot(path=str(ARTIFACTS / "editor.png"), full_page=True)
    assert errors == []
    context.close()


@contextmanager
def watched_page(browser) -> Iterator:
    """A page in a fresh browser context; the block fails if the page logged an error."""
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        yield page
    finally:
        context.close()
    assert errors == []


def open_editor(page, base: str) -> None:
    page.goto(base + "/editor")
    page.get_by_label("Admin key").fill(ADMIN_KEY)
    page.get_by_role("button", name="Open").click()
    page.locator("#regressions li").first.wait_for()


def test_editors_add_a_regression_question_from_feedback_and_retire_it(browser, server, home):
    with watched_page(browser) as page:
        page.request.post(server + "/v1/feedback",
                          data={"rating": "down", "query": "I forgot my password"})  # fmt: skip
        open_editor(page, server)
        # The feedback's question fills the form, and the search for it offers pages to tick.
        item = page.locator("#feedback li").filter(has_text="I forgot my password").first
        item.get_by_role("button", name="Add as regression question").click()
        form = page.locator("#regression-form")
        assert form.get_by_label("Question").input_value() == "I forgot my password"
        assert form.get_by_label("Question").evaluate("e => e === document.activeElement")
        results = form.get_by_role("group", name="Pages that answer it")
        results.get_by_role("checkbox").first.wait_for()
        results.get_by_label("(reset-password)", exact=False).check()
        form.get_by_role("button", name="Add regression question").click()
        added = page.locator(".regression").filter(has_text="I forgot my password")
        added.wait_for()
        assert added.get_by_role("link", name="reset-password").get_attribute("href") == (
            "/articles/reset-password"
        )
        assert "added by an editor" in added.inner_text()
        question_id = added.get_attribute("data-id")
        conn = sqlite3.connect(home / "kb.sqlite3")
        stored = conn.execute(
            "SELECT question, pages, origin, status FROM regression_questions WHERE id = ?",
            (question_id,),
        ).fetchone()
        assert stored == ("I forgot my password", '["reset-password"]', "editor", "active")
        # Edited in place, by keyboard: the details open with Enter.
        added.get_by_text("Edit", exact=True).focus()
        page.keyboard.press("Enter")
        added.get_by_label("Question").fill("I forgot my password, what now?")
        added.get_by_role("button", name="Save").click()
        page.locator(".regression").filter(has_text="what now?").wait_for()
        page.reload()  # what the page shows is what was stored
        kept = page.locator(f".regression[data-id='{question_id}']")
        kept.filter(has_text="I forgot my password, what now?").wait_for()
        kept.get_by_role("button", name="Retire").click()
        kept.wait_for(state="detached")
        status = conn.execute(
            "SELECT status FROM regression_questions WHERE id = ?", (question_id,)
        ).fetchone()[0]
        conn.close()
        assert status == "retired"


def test_editors_see_a_held_snapshot_and_serve_it_anyway(browser, tmp_path, embedder):
    from tests.test_gate import ARTICLES, write

    home = tmp_path / "home"
    kb = build(load_settings({"home": home}, environ={}), embedder=embedder)
    folder = write(tmp_path / "help", ARTICLES)
    kb.ingestion.ingest([str(folder)])
    kb.regressions.add("how do I send a bulb back?", ["returns"])
    write(folder, {k: v for k, v in ARTICLES.items() if k != "returns.md"})
    assert kb.ingestion.ingest([str(folder)]).held_back
    app = create_app({"home": home, "admin_key": ADMIN_KEY}, embedder)
    with watched_page(browser) as page, serving(app) as base:
        open_editor(page, base)
        banner = page.get_by_role("alert")
        heading = banner.get_by_role("heading").inner_text()
        assert heading.startswith("Snapshot v000002 is held back: search hit@5 1.00 → 0.00")
        assert "how do I send a bulb back?" in banner.inner_text()
        assert "none of its pages in the top 5" in banner.inner_text()
        page.screenshot(path=str(ARTIFACTS / "editor-held.png"), full_page=True)
        banner.get_by_role("button", name="Serve it anyway").click()
        page.get_by_text("Now serving v000002.").wait_for()
        assert page.locator("#held").is_hidden()
        assert app.extensions["kb"].retrieval.searcher().version == "v000002"


def test_editors_see_the_votes_moving_a_page_and_undo_them(browser, tmp_path, embedder):
    from tests.test_gate import ARTICLES, write

    home = tmp_path / "home"
    kb = build(load_settings({"home": home}, environ={}), embedder=embedder)
    kb.ingestion.ingest([str(write(tmp_path / "help", ARTICLES))])
    vote = {"rating": "up", "target": "result", "doc_id": "warranty",
            "query": "is my bulb under warranty?"}  # fmt: skip
    for n in range(4):
        kb.documents.add_feedback(vote, client=f"v:{n}")
    app = create_app({"home": home, "admin_key": ADMIN_KEY}, embedder)
    with watched_page(browser) as page, serving(app) as base:
        open_editor(page, base)
        panel = page.locator("#nudges")
        item = panel.get_by_role("listitem").first
        assert "warranty" in item.inner_text() and "4 customers" in item.inner_text()
        assert "↑10% · 4 customers · “is my bulb under warranty?”" in item.inner_text()
        item.get_by_role("button", name="Undo").click()
        page.get_by_text("Votes on warranty set aside.").wait_for()
        assert panel.inner_text().strip() == "No votes move ranking now."
    assert app.extensions["kb"].nudges.review(kb.retrieval.searcher().embedder) == []
