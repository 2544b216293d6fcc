"""Issue 14, store kinds: every link kb returns opens the text it cites (after a rollback, a
later re-ingest and in the normal path), and a source that gives no document says so.

Real things throughout: the CLI in a subprocess, real SQLite, the real embedding model, a real
HTTP server on 127.0.0.1 for the crawls, the Flask app for the links.
"""

from __future__ import annotations

import html
import re
import shutil
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from index.build import build_snapshot
from index.versions import current_version
from kb.config import load_settings
from kb.usecases.bootstrap import Services, build
from tests.conftest import FIXTURES
from tests.sites import serve_folder
from tests.test_faults import run_kb
from web import create_app

CASES = FIXTURES / "cases"
QUERIES = (
    "How do I swap loyalty points for vouchers?",
    "replace a lost gift card",
    "check a gift card balance",
    "how long do refunds take",
    "return an item at the post office",
)
REFUNDS_V1 = "## Refund times\n\nRefunds reach your card within five working days.\n"
REFUNDS_V2 = "## How long refunds take\n\nRefunds reach your card within ten working days.\n"


def words(text: str) -> str:
    """Text with tags gone, entities read and whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


def opened_text(client, url: str) -> str:
    """GET a link kb returned; return the text it lands on (the anchored section, if any)."""
    parts = urlsplit(url)
    response = client.get(parts.path)
    assert response.status_code == 200, f"{url} answered {response.status_code}"
    page = response.get_data(as_text=True)
    if not parts.fragment:
        return words(page)
    anchor = unquote(parts.fragment)
    section = rf'<section id="{re.escape(html.escape(anchor))}">(.*?)</section>'
    match = re.search(section, page, re.S)
    assert match, f"{url}: no section with id {anchor!r} on the page"
    return words(match.group(1))


def assert_links_open(kb: Services, client) -> int:
    """Every result, duplicate and citation link for QUERIES opens the text it cites."""
    checked = 0
    for query in QUERIES:
        for hit in kb.retrieval.search(query, k=5):
            text = opened_text(client, hit.passage.url)
            assert words(hit.passage.text) in text, f"{hit.passage.url} lacks what {query!r} hit"
            for duplicate in hit.duplicates:
                opened_text(client, duplicate)
            checked += 1
        for citation in kb.answering.answer(query).citations:
            assert words(citation.quote) in opened_text(client, citation.url), citation.url
            checked += 1
    return checked


@pytest.fixture
def help_centre(tmp_path: Path) -> Path:
    """The handed case's three articles, returns.md with a section that will be renamed."""
    folder = tmp_path / "hc"
    shutil.copytree(CASES / "rollback-cites-deleted" / "hc_v1", folder)
    returns = folder / "returns.md"
    returns.write_text(returns.read_text() + "\n" + REFUNDS_V1)
    return folder


def test_rollback_serves_the_text_its_links_cite(help_centre, tmp_path, embedder):
    home = tmp_path / "home"
    kb = build(load_settings({"home": home, "reload_interval": 0}), embedder=embedder)
    app = create_app({"home": home, "reload_interval": 0, "rate_limit": 0})
    app.extensions["kb"] = kb
    client = app.test_client()
    kb.ingestion.ingest([str(help_centre)])
    assert assert_links_open(kb, client)

    # v000002: an article withdrawn, a section dropped, a heading renamed, a text changed.
    (help_centre / "loyalty.md").unlink()
    gift = help_centre / "gift-cards.md"
    gift.write_text(gift.read_text().split("## Lost gift cards")[0])
    returns = help_centre / "returns.md"
    returns.write_text(returns.read_text().replace(REFUNDS_V1, REFUNDS_V2))
    report = kb.ingestion.ingest([str(help_centre)])
    assert (report.updated, report.removed, report.index_version) == (2, 1, "v000002")
    assert client.get("/articles/loyalty").status_code == 404
    assert assert_links_open(kb, client)

    r = run_kb(home, "index", "rollback", "v000001")
    assert (r.returncode, r.stdout) == (0, "Now serving v000001.\n")
    # The rolled-back snapshot cites what the store no longer has; every link still opens it.
    top = kb.retrieval.search("loyalty points vouchers", k=3)[0]
    assert top.passage.doc_id == "loyalty"
    lost = kb.retrieval.search("replace a lost gift card", k=3)[0].passage
    assert lost.url.endswith("/articles/gift-cards#lost-gift-cards")
    assert "within five working days" in opened_text(client, "/articles/returns#refund-times")
    assert assert_links_open(kb, client)
    assert r.stderr == (
        "kb: warning: v000001 serves 1 document removed since (loyalty) and 2 documents changed"
        " since (gift-cards, returns): their pages show v000001's text until an ingest changes"
        " the store\n"
    )
    api = client.get("/v1/documents/gift-cards").get_json()
    assert [s["anchor"] for s in api["sections"]][-1] == "lost-gift-cards"

    # A re-ingest that changes nothing keeps serving the snapshot rolled back to.
    report = kb.ingestion.ingest([str(help_centre)])
    assert report.index_version == "v000001" and not report.index_changed
    assert assert_links_open(kb, client)

    # A change builds from the store again: the withdrawn article is gone from results and pages.
    (help_centre / "new.md").write_text("# Vouchers\n\nVouchers are sent by e-mail.\n")
    assert kb.ingestion.ingest([str(help_centre)]).index_version == "v000003"
    assert all(
        h.passage.doc_id != "loyalty" for h in kb.retrieval.search("loyalty points vouchers", k=5)
    )
    assert client.get("/articles/loyalty").status_code == 404
    assert assert_links_open(kb, client)


def test_a_rollback_to_a_snapshot_that_matches_the_store_says_nothing_more(
    help_centre, tmp_path, embedder
):
    home = tmp_path / "home"
    kb = build(load_settings({"home": home}), embedder=embedder)
    kb.ingestion.ingest([str(help_centre)])
    (help_centre / "extra.md").write_text("# Opening hours\n\nWe answer calls from 9 to 5.\n")
    kb.ingestion.ingest([str(help_centre)])
    r = run_kb(home, "index", "rollback", "v000001")  # v000002 only added a document
    assert (r.returncode, r.stdout, r.stderr) == (0, "Now serving v000001.\n", "")


# An empty first source --------------------------------------------------------------------

SHELL = (CASES / "empty-crawl-crash" / "www" / "help" / "index.html").read_text()
NOINDEX = (
    "<html><head><title>Draft</title><meta name='robots' content='noindex'></head>"
    "<body><main><h1>Draft</h1><p>Not ready to be read by anyone yet.</p></main></body></html>"
)


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


SITES = {
    "empty JavaScript shell": (
        {"help/index.html": SHELL},
        "help/",
        "1 page fetched, 1 skipped (no text in the page)",
    ),
    "noindex": ({"help/index.html": NOINDEX}, "help/", "1 page fetched, 1 skipped (noindex)"),
    "robots": (
        {
            "help/index.html": NOINDEX.replace("noindex", "all"),
            "robots.txt": "User-agent: *\nDisallow: /help/\n",
        },
        "help/",
        "disallowed by robots.txt",
    ),  # fmt: skip
    "sitemap of shells": (
        {"help/a.html": SHELL, "help/b.html": SHELL, "help/sitemap.xml": "SITEMAP"},
        "help/sitemap.xml",
        "2 pages fetched, 2 skipped (no text in the page)",
    ),
}


@pytest.mark.parametrize("name", SITES)
def test_a_first_source_with_no_document_says_so_in_one_line(name, tmp_path):
    files, start, expected = SITES[name]
    site, home = tmp_path / "site", tmp_path / "home"
    with serve_folder(site) as base:
        write(site, {k: v.replace("SITEMAP", sitemap(base, "help/a.html", "help/b.html"))
                     for k, v in files.items()})  # fmt: skip
        r = run_kb(home, "ingest", f"{base}/{start}")
    assert r.returncode == 1 and r.stdout == ""
    line = r.stderr.strip()
    assert "\n" not in line and line.startswith("kb: error: "), r.stderr
    assert expected in line
    assert "unexpected" not in line
    assert current_version(home / "index") is None


def sitemap(base: str, *paths: str) -> str:
    urls = "".join(f"<url><loc>{base}/{p}</loc></url>" for p in paths)
    return f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'


def test_the_handed_case_names_the_page_and_the_reason(tmp_path):
    with serve_folder(CASES / "empty-crawl-crash" / "www") as base:
        r = run_kb(tmp_path / "home", "ingest", f"{base}/help/")
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == (
        f"kb: error: nothing to ingest from {base}/help/: 1 page fetched, 1 skipped"
        " (no text in the page)\n"
    )


def counts(home: Path) -> tuple[int, int]:
    conn = sqlite3.connect(home / "kb.sqlite3")
    try:
        row = conn.execute("SELECT count(*), (SELECT count(*) FROM chunks) FROM documents")
        documents, chunks = row.fetchone()
        return documents, chunks
    finally:
        conn.close()


def test_an_empty_source_loses_nothing_already_stored(demo_home, tmp_path, embedder):
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    before, served = counts(home), current_version(home / "index")
    site = tmp_path / "site"
    write(site, {"help/index.html": "<html><body><h1>Tips</h1><p>Charge the hub overnight"
                 " before the first use.</p></body></html>"})  # fmt: skip
    with serve_folder(site) as base:
        assert run_kb(home, "ingest", f"{base}/help/").returncode == 0
        stored = counts(home)
        # The same site, now an empty shell: its document stays, and so does everything else.
        write(site, {"help/index.html": SHELL})
        r = run_kb(home, "ingest", f"{base}/help/")
    assert r.returncode == 1 and r.stderr.startswith("kb: error: nothing to ingest from ")
    assert counts(home) == stored and stored[0] == before[0] + 1
    kb = build(load_settings({"home": home}), embedder=embedder)
    assert current_version(home / "index") != served
    assert kb.retrieval.search("charge the hub overnight", k=1)[0].passage.text.startswith("Charge")
    assert kb.retrieval.search("reset password", k=1)[0].passage.doc_id == "reset-password"


def test_an_index_of_no_passages_searches_to_nothing(kb, embedder):
    store = kb.stores.open()
    try:
        manifest, _ = build_snapshot(
            store, embedder.name, lambda: embedder, kb.settings.snapshots_dir
        )
    finally:
        store.close()
    assert (manifest.passages, manifest.documents) == (0, 0)
    assert kb.retrieval.search("anything at all", k=5) == []
    assert kb.answering.answer("How do I reset my password?").refused
