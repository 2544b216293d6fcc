"""The crawler against a real HTTP server on 127.0.0.1 that has every trap."""

from pathlib import Path

import pytest

from ingest.crawl import CrawlLimits
from ingest.pipeline import IngestOptions, ingest_sources
from kb.errors import SourceError
from kb.store import Store
from tests.sites import FixtureSite, article, serve_site

OPTIONS = IngestOptions(chunk_words=100, limits=CrawlLimits(max_depth=6), timeout=1.0)


@pytest.fixture
def site():
    site = FixtureSite()
    with serve_site(site):
        yield site


def crawl(store: Store, url: str, **overrides):
    options = IngestOptions(**{**OPTIONS.__dict__, **overrides})
    return ingest_sources(store, [url], options=options)


def test_first_crawl_stores_the_articles_and_accounts_for_every_trap(site, tmp_path: Path):
    store = Store(tmp_path / "kb.sqlite3")
    report = crawl(store, f"{site.base}/help/a.html")
    host = site.base.removeprefix("http://").replace(":", "-").replace(".", "-")
    assert store.document_ids() == {
        f"{host}/help/a",
        f"{host}/help/b",
        f"{host}/help/c",
        f"{host}/help/latin1",
    }
    failed = dict(report.failed)
    assert failed[f"{site.base}/help/error.html"] == "HTTP 500"
    assert failed[f"{site.base}/help/slow.html"].startswith("timed out")
    assert failed[f"{site.base}/help/huge.html"].startswith("larger than")
    assert failed[f"{site.base}/help/loop1.html"] == "redirect loop"
    skipped = dict(report.skipped)
    assert skipped[f"{site.base}/help/private/secret.html"] == "disallowed by robots.txt"
    assert skipped[f"{site.base}/help/binary.html"] == "binary content, not HTML"
    assert skipped[f"{site.base}/help/missing.html"] == "gone (HTTP 404)"
    calendar = [u for u in skipped if "calendar" in u]
    assert calendar and all(skipped[u] == "a page of links, not an article" for u in calendar)
    assert len(calendar) <= 7  # bounded by max_depth, not by luck
    # The tracking parameter and fragment were stripped: b.html was fetched once.
    fetched_b = [p for _, p, _ in site.requests if p.startswith("/help/b.html")]
    assert fetched_b == ["/help/b.html"]
    assert not any(p.endswith(".png") for _, p, _ in site.requests)


def test_extraction_drops_chrome_and_decodes_declared_charsets(site, tmp_path: Path):
    store = Store(tmp_path / "kb.sqlite3")
    crawl(store, f"{site.base}/help/a.html")
    texts = " ".join(r.text for r in store.index_rows())
    assert "Module menu" not in texts and "Footer chrome" not in texts
    assert "Our café opens at nine." in texts
    doc = store.get_document(next(i for i in store.document_ids() if i.endswith("/c")))
    assert doc is not None and doc.url == f"{site.base}/help/c.html"
    assert doc.lang == "en" and [s.anchor for s in doc.sections] == [None, "details"]


def test_recrawl_of_an_unchanged_site_changes_nothing(site, tmp_path: Path):
    store = Store(tmp_path / "kb.sqlite3")
    crawl(store, f"{site.base}/help/a.html")
    site.requests.clear()
    again = crawl(store, f"{site.base}/help/a.html")
    assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, 4)
    conditional = [h for _, p, h in site.requests if p == "/help/a.html"]
    assert conditional and "If-None-Match" in conditional[0]


def test_deleted_and_changed_pages_are_removed_and_updated(site, tmp_path: Path):
    store = Store(tmp_path / "kb.sqlite3")
    crawl(store, f"{site.base}/help/a.html")
    del site.pages["b.html"]
    site.set_page("c.html", article("Shipping times", "Orders now ship within one day."))
    report = crawl(store, f"{site.base}/help/a.html")
    assert (report.added, report.updated, report.removed, report.unchanged) == (0, 1, 1, 2)
    assert not any(i.endswith("/b") for i in store.document_ids())
    stored = store.get_document(next(i for i in store.document_ids() if i.endswith("/c")))
    assert stored is not None and stored.version == 2


def test_a_passing_failure_keeps_the_document(site, tmp_path: Path):
    store = Store(tmp_path / "kb.sqlite3")
    crawl(store, f"{site.base}/help/a.html")
    site.set_page("b.html", b"maintenance", status=503)
    report = crawl(store, f"{site.base}/help/a.html")
    assert report.removed == 0 and any(i.endswith("/b") for i in store.document_ids())


def test_page_limit_stops_the_crawl_and_removes_nothing(site, tmp_path: Path):
    store = Store(tmp_path / "kb.sqlite3")
    crawl(store, f"{site.base}/help/a.html")
    report = crawl(store, f"{site.base}/help/a.html", limits=CrawlLimits(max_pages=2))
    assert report.removed == 0 and ("page limit reached" in dict(report.skipped).values())
    assert len(store.document_ids()) == 4


def test_sitemap_lastmod_skips_unchanged_pages_without_fetching(site, tmp_path: Path):
    store = Store(tmp_path / "kb.sqlite3")
    first = crawl(store, f"{site.base}/help/sitemap.xml")
    assert first.added == 4  # a and b from the sitemap, c and latin1 through links
    site.requests.clear()
    crawl(store, f"{site.base}/help/sitemap.xml")
    fetched = {p for _, p, _ in site.requests}
    assert "/help/a.html" not in fetched and "/help/b.html" not in fetched


def test_crawl_delay_from_robots_is_honoured(site, tmp_path: Path):
    site.robots = "User-agent: kb-crawler\nCrawl-delay: 0.3\nDisallow: /help/private/\n"
    site.pages = {k: v for k, v in site.pages.items() if k in ("b.html",)}
    site.set_page("a.html", article("A", "a", ("b.html",)))
    store = Store(tmp_path / "kb.sqlite3")
    crawl(store, f"{site.base}/help/a.html", limits=CrawlLimits(concurrency=4))
    times = [t for t, p, _ in site.requests if p.startswith("/help/")]
    assert len(times) == 2 and times[1] - times[0] >= 0.3


def test_dry_run_reports_without_writing(site, tmp_path: Path):
    store = Store(tmp_path / "kb.sqlite3")
    report = crawl(store, f"{site.base}/help/a.html", dry_run=True)
    assert report.added == 4 and report.dry_run
    assert store.document_ids() == set() and store.pages(f"{site.base}/help/a.html") == {}


def test_unreachable_start_is_an_error_and_stores_nothing(tmp_path: Path):
    store = Store(tmp_path / "kb.sqlite3")
    with pytest.raises(SourceError, match="cannot crawl"):
        crawl(store, "http://127.0.0.1:9/help/")
    assert store.document_ids() == set()


def test_a_lower_max_depth_removes_nothing(site, tmp_path: Path):
    store = Store(tmp_path / "kb.sqlite3")
    crawl(store, f"{site.base}/help/a.html")
    report = crawl(store, f"{site.base}/help/a.html", limits=CrawlLimits(max_depth=0))
    assert report.removed == 0 and len(store.document_ids()) == 4
