"""Issue 14, every sitemap variant real sites publish: gzipped children (with and without
Content-Encoding), nested indexes, hreflang alternates and robots.txt ``Sitemap:`` lines,
with bounded nesting, counts and decompressed sizes."""

from __future__ import annotations

import gzip
import zlib
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingest.compression import TooLarge, inflate
from ingest.crawl import CrawlLimits
from ingest.fetch import FetchError, HttpFetcher
from ingest.pipeline import IngestOptions, ingest_sources
from ingest.robots import Robots
from ingest.sitemap import MAX_SITEMAP_BYTES, is_sitemap, parse_sitemap
from kb.cli import cli
from kb.errors import SourceError
from kb.store import Store
from tests.sites import article, serve

NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
XHTML = 'xmlns:xhtml="http://www.w3.org/1999/xhtml"'


def urlset(*entries: str) -> bytes:
    body = "".join(entries)
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset {NS} {XHTML}>{body}</urlset>'.encode()


def index(*locs: str) -> bytes:
    items = "".join(f"<sitemap><loc>{loc}</loc></sitemap>" for loc in locs)
    return f'<?xml version="1.0"?><sitemapindex {NS}>{items}</sitemapindex>'.encode()


def url(loc: str, lastmod: str | None = None, alternates: dict[str, str] | None = None) -> str:
    links = "".join(
        f'<xhtml:link rel="alternate" hreflang="{lang}" href="{href}"/>'
        for lang, href in (alternates or {}).items()
    )
    stamp = f"<lastmod>{lastmod}</lastmod>" if lastmod else ""
    return f"<url><loc>{loc}</loc>{stamp}{links}</url>"


def bomb(size: int) -> bytes:
    """A gzip stream of ``size`` zero bytes, built without holding them in memory."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    out = [packer.compress(block) for _ in range(size // len(block))]
    return b"".join([*out, packer.flush()])


# Pure: parsing -----------------------------------------------------------------------------


def test_gzipped_sitemap_parses_and_is_recognised_from_its_first_bytes():
    entries = [url(f"https://h.example/help/p{i}.html", "2026-01-02") for i in range(3000)]
    body = gzip.compress(urlset(*entries))
    assert len(body) > 4096
    assert is_sitemap(body[:4096])
    assert is_sitemap(gzip.compress(index("https://h.example/s.xml"))[:4096])
    assert not is_sitemap(gzip.compress(b"<html><body>no</body></html>"))
    parsed = parse_sitemap(body)
    assert len(parsed.pages) == 3000
    assert parsed.pages[0] == ("https://h.example/help/p0.html", "2026-01-02")


def test_hreflang_alternates_are_kept_and_listed_as_pages():
    body = urlset(
        url(
            "https://h.example/en/a",
            "2026-01-01",
            {
                "de": "https://h.example/de/a",
                "en": "https://h.example/en/a",
                "x-default": "https://h.example/a",
            },
        ),
        url("https://h.example/de/a", "2026-02-02", {"en": "https://h.example/en/a"}),
    )
    parsed = parse_sitemap(body)
    assert dict(parsed.pages) == {
        "https://h.example/en/a": "2026-01-01",
        "https://h.example/de/a": "2026-02-02",  # its own entry's lastmod wins
        "https://h.example/a": None,  # only an alternate: a page all the same
    }
    assert ("https://h.example/en/a", "de", "https://h.example/de/a") in parsed.alternates
    assert ("https://h.example/en/a", "x-default", "https://h.example/a") in parsed.alternates
    assert ("https://h.example/en/a", "en", "https://h.example/en/a") not in parsed.alternates


def test_index_children_keep_their_order():
    parsed = parse_sitemap(index("https://h.example/a.xml.gz", "https://h.example/b.xml"))
    assert parsed.sitemaps == ("https://h.example/a.xml.gz", "https://h.example/b.xml")
    assert parsed.pages == ()


def test_feeds_and_text_files_are_sitemaps_too():
    rss = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>'
        b"<link>https://h.example/</link><item><title>A</title><link>https://h.example/a</link>"
        b"<pubDate>Mon, 02 Mar 2026 10:00:00 GMT</pubDate></item>"
        b"<item><title>No link</title></item></channel></rss>"
    )
    assert parse_sitemap(rss).pages == (("https://h.example/a", "Mon, 02 Mar 2026 10:00:00 GMT"),)
    atom = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><link rel="edit" href="https://h.example/e"/>'
        b'<link href="https://h.example/b"/><updated>2026-03-03T00:00:00Z</updated></entry></feed>'
    )
    assert parse_sitemap(atom).pages == (("https://h.example/b", "2026-03-03T00:00:00Z"),)
    text = b"\xef\xbb\xbfhttps://h.example/c\r\n\nhttps://h.example/d\nhttps://h.example/c\n"
    assert parse_sitemap(gzip.compress(text)).pages == (
        ("https://h.example/c", None),
        ("https://h.example/d", None),
    )
    with pytest.raises(ValueError, match="one URL a line"):
        parse_sitemap(b"User-agent: *\nDisallow: /\n")


def test_decompression_is_bounded():
    with pytest.raises(TooLarge):
        inflate(bomb(64 * 1024 * 1024), limit=1024 * 1024)
    with pytest.raises(ValueError, match="larger than"):
        parse_sitemap(bomb(MAX_SITEMAP_BYTES + 1024 * 1024))
    assert len(inflate(bomb(8 * 1024 * 1024), limit=100, partial=True)) == 100


@pytest.mark.parametrize(
    "body, message",
    [
        (gzip.compress(urlset(url("https://h.example/a")))[:-30], "truncated"),
        (b"\x1f\x8b\x08\x00garbage-after-the-magic", "corrupt"),
    ],
)
def test_broken_gzip_is_not_a_sitemap(body, message):
    with pytest.raises(ValueError, match=message):
        parse_sitemap(body)


def test_robots_sitemap_lines():
    text = (
        "Sitemap: https://h.example/sitemap_index.xml\nUser-agent: *\nDisallow: /x/\n"
        "sitemap:https://h.example/news.xml.gz # comment\nSitemap: https://h.example/sitemap_index.xml\n"
    )
    assert Robots(text, "kb").sitemaps() == (
        "https://h.example/sitemap_index.xml",
        "https://h.example/news.xml.gz",
    )
    assert Robots(None, "kb").sitemaps() == ()


# Real servers --------------------------------------------------------------------------------


HANG_UP = -1  # a route's status for a server that hangs up without answering


class Site:
    """A host whose paths answer fixed bodies; every request is recorded."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.requests: list[str] = []
        self.base = ""

    def add(self, path: str, body: bytes, content_type: str = "text/html", **headers: str):
        self.routes[path] = (200, {"Content-Type": content_type, **headers}, body)

    def fail(self, path: str, status: int, body: bytes = b"oops") -> None:
        """Make ``path`` answer ``status`` (or hang up) from now on."""
        self.routes[path] = (status, {"Content-Type": "text/html"}, body)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                site.requests.append(self.path)
                status, headers, body = site.routes.get(self.path, (404, {}, b"not found"))
                if status == HANG_UP:  # a network error: the connection closes, no answer
                    self.close_connection = True
                    return
                if self.path.startswith("/chain/"):  # an endless chain of nested indexes
                    n = int(self.path.split("/")[2].split(".")[0])
                    status, headers = 200, {"Content-Type": "application/xml"}
                    body = index(f"{site.base}/chain/{n + 1}.xml")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


@pytest.fixture
def site():
    site = Site()
    with serve(site.handler()) as base:
        site.base = base
        yield site


def crawl(tmp_path: Path, start: str, **limits):
    store = Store(tmp_path / "kb.sqlite3")
    options = IngestOptions(chunk_words=100, limits=CrawlLimits(**limits), timeout=5.0)
    return store, ingest_sources(store, [start], options=options)


def publish_help_centre(site: Site) -> None:
    """robots.txt → index → gzipped index (no Content-Encoding) → gzipped urlsets."""
    b = site.base
    site.add(
        "/robots.txt",
        f"User-agent: *\nDisallow: /help/private/\nSitemap: {b}/sitemap_index.xml\n".encode(),
        "text/plain",
    )
    site.add(
        "/sitemap_index.xml",
        index(f"{b}/sitemaps/help.xml.gz", "http://localhost:1/x.xml"),
        "application/xml",
    )
    site.add(
        "/sitemaps/help.xml.gz",
        gzip.compress(index(f"{b}/sitemaps/en.xml.gz", f"{b}/sitemaps/other.xml")),
        "application/x-gzip",
    )
    site.add(
        "/sitemaps/en.xml.gz",  # gzipped, and said so in Content-Encoding
        gzip.compress(
            urlset(
                url(f"{b}/help/reset.html", "2026-03-01", {"de": f"{b}/help/de/reset.html"}),
                url(f"{b}/help/private/secret.html"),
                url(f"{b}/blog/news.html"),  # out of the crawl's scope
            )
        ),
        "application/xml",
        **{"Content-Encoding": "gzip"},
    )
    site.add("/sitemaps/other.xml", urlset(url(f"{b}/help/refunds.html")), "application/xml")
    site.add("/help/", article("Help", "Welcome to the help centre.").encode())
    site.add(
        "/help/reset.html", article("Reset your password", "Open Settings and tap Reset.").encode()
    )
    site.add(
        "/help/de/reset.html",
        article("Passwort zurücksetzen", "Öffnen Sie die Einstellungen.").encode(),
    )
    site.add("/help/refunds.html", article("Refunds", "Refunds take ten business days.").encode())
    site.add("/help/private/secret.html", article("Secret", "Internal.").encode())
    site.add("/blog/news.html", article("News", "Blog post.").encode())


def test_robots_sitemaps_nested_and_gzipped_are_crawled(site, tmp_path):
    publish_help_centre(site)
    store, report = crawl(tmp_path, f"{site.base}/help/")
    titles = {store.get_document(d).title for d in store.document_ids()}
    assert titles == {"Help", "Reset your password", "Passwort zurücksetzen", "Refunds"}
    for path in ("/sitemap_index.xml", "/sitemaps/help.xml.gz", "/sitemaps/en.xml.gz"):
        assert site.requests.count(path) == 1
    assert "/blog/news.html" not in site.requests  # listed, but out of scope
    assert "/help/private/secret.html" not in site.requests  # listed, but disallowed
    assert dict(report.skipped)["http://localhost:1/x.xml"] == "sitemap on another host"
    assert not report.failed


def test_text_sitemap_from_robots_txt(site, tmp_path):
    site.add("/robots.txt", f"Sitemap: {site.base}/sitemap.txt\n".encode(), "text/plain")
    site.add("/sitemap.txt", f"{site.base}/help/refunds.html\n".encode(), "text/plain")
    site.add("/help/", article("Help", "Welcome.").encode())
    site.add("/help/refunds.html", article("Refunds", "Ten days.").encode())
    store, report = crawl(tmp_path, f"{site.base}/help/")
    titles = {store.get_document(d).title for d in store.document_ids()}
    assert titles == {"Help", "Refunds"}


def test_sitemap_nesting_is_bounded(site, tmp_path):
    site.add("/help/", article("Help", "Welcome.").encode())
    site.add("/robots.txt", f"Sitemap: {site.base}/chain/0.xml\n".encode(), "text/plain")
    _, report = crawl(tmp_path, f"{site.base}/help/", max_sitemap_depth=3)
    chain = [p for p in site.requests if p.startswith("/chain/")]
    assert chain == ["/chain/0.xml", "/chain/1.xml", "/chain/2.xml", "/chain/3.xml"]
    assert dict(report.skipped)[f"{site.base}/chain/4.xml"] == "sitemap nested more than 3 deep"


def test_sitemap_count_is_bounded(site, tmp_path):
    site.add("/help/", article("Help", "Welcome.").encode())
    children = [f"{site.base}/s/{i}.xml" for i in range(30)]
    for i, child in enumerate(children):
        site.add(f"/help/p{i}.html", article(f"Page {i}", f"Text of page {i}.").encode())
        site.add(
            child.removeprefix(site.base),
            urlset(url(f"{site.base}/help/p{i}.html")),
            "application/xml",
        )
    site.add("/sitemap.xml", index(*children), "application/xml")
    _, report = crawl(tmp_path, f"{site.base}/sitemap.xml", max_sitemaps=10)
    assert len([p for p in site.requests if p.startswith("/s/")]) == 10
    assert dict(report.skipped)[children[10]] == "more than 10 sitemaps"


def test_gzip_bomb_sitemap_fails_alone(site, tmp_path):
    site.add("/help/", article("Help", "Welcome.").encode())
    site.add("/robots.txt", f"Sitemap: {site.base}/bomb.xml.gz\n".encode(), "text/plain")
    site.add("/bomb.xml.gz", bomb(MAX_SITEMAP_BYTES + 1024 * 1024), "application/x-gzip")
    store, report = crawl(tmp_path, f"{site.base}/help/")
    assert "larger than" in dict(report.failed)[f"{site.base}/bomb.xml.gz"]
    assert len(store.document_ids()) == 1


def test_fetcher_decodes_content_encoding_within_its_limit(site):
    page = article("Compressed", "Served gzipped anyway.").encode()
    site.add("/gz.html", gzip.compress(page), **{"Content-Encoding": "gzip"})
    site.add("/deflate.html", zlib.compress(page), **{"Content-Encoding": "deflate"})
    site.add("/bomb.html", bomb(16 * 1024 * 1024), **{"Content-Encoding": "gzip"})
    site.add("/br.html", b"...", **{"Content-Encoding": "br"})
    fetcher = HttpFetcher(max_bytes=1024 * 1024)
    for path in ("/gz.html", "/deflate.html"):
        response = fetcher.get(site.base + path)
        assert response.body == page and "content-encoding" not in response.headers
    with pytest.raises(FetchError, match="larger than"):
        fetcher.get(site.base + "/bomb.html")
    with pytest.raises(FetchError, match="unsupported Content-Encoding 'br'"):
        fetcher.get(site.base + "/br.html")


def test_sitemap_index_start_end_to_end(site, tmp_path, embedder):
    publish_help_centre(site)
    home = tmp_path / "home"
    runner = CliRunner()
    result = runner.invoke(cli, ["--home", str(home), "ingest", f"{site.base}/sitemap_index.xml"])
    assert result.exit_code == 0, result.output
    # reset, its German alternate, refunds and the blog post: the root sitemap's scope is the
    # whole host; the private page is disallowed.
    assert "4 added" in result.output
    again = runner.invoke(cli, ["--home", str(home), "ingest", f"{site.base}/sitemap_index.xml"])
    assert "4 unchanged" in again.output
    found = runner.invoke(cli, ["--home", str(home), "search", "Passwort Einstellungen", "--json"])
    assert "Passwort" in found.output


# A fetch that fails keeps what it would have led to -------------------------------------------


def publish_two_sitemaps(site: Site) -> None:
    """index → gzipped a.xml.gz (3 pages) + nested index → gzipped b.xml.gz (3 pages)."""
    b = site.base
    site.add("/sitemap.xml", index(f"{b}/a.xml.gz", f"{b}/more.xml"), "application/xml")
    site.add("/more.xml", index(f"{b}/b.xml.gz"), "application/xml")
    for name, first in (("a", 0), ("b", 3)):
        pages = [f"/help/p{i}.html" for i in range(first, first + 3)]
        site.add(f"/{name}.xml.gz", gzip.compress(urlset(*(url(b + p) for p in pages))),
                 "application/x-gzip")  # fmt: skip
        for i, path in enumerate(pages, start=first):
            site.add(path, article(f"Page {i}", f"What page {i} says about lamps.").encode())


# Every way a child sitemap can fail: server errors, rate limits, a hang-up, a body that is
# not a sitemap, a broken gzip stream.
SITEMAP_FAILURES = [
    (500, b"oops"), (503, b"busy"), (429, b"slow down"), (HANG_UP, b""), (200, b"<html>x</html>"),
    (200, gzip.compress(urlset(url("http://h.example/help/p0.html")))[:-30]),
]  # fmt: skip


@pytest.mark.parametrize("status, body", SITEMAP_FAILURES)
@pytest.mark.parametrize("failing", ["/a.xml.gz", "/more.xml"])
def test_a_failed_sitemap_removes_none_of_the_documents_it_listed(
    site, tmp_path, failing, status, body
):
    publish_two_sitemaps(site)
    store, first = crawl(tmp_path, f"{site.base}/sitemap.xml")
    assert first.added == 6
    site.fail(failing, status, body)
    store.close()
    store, again = crawl(tmp_path, f"{site.base}/sitemap.xml")
    assert (again.added, again.updated, again.removed) == (0, 0, 0)
    assert len(store.document_ids()) == 6
    assert again.held == 3 and "a sitemap failed" in again.summary()
    assert "3 kept: a sitemap failed" in again.summary()
    # Once the sitemap answers again the crawl is whole: a page it stops listing goes.
    publish_two_sitemaps(site)
    b = site.base
    site.add("/a.xml.gz", gzip.compress(urlset(url(f"{b}/help/p0.html"))), "application/x-gzip")
    store.close()
    store, healed = crawl(tmp_path, f"{site.base}/sitemap.xml")
    assert (healed.removed, healed.held) == (2, 0)


@pytest.mark.parametrize("status", [500, 429, HANG_UP])
def test_a_failed_link_page_keeps_the_pages_it_linked_to(site, tmp_path, status):
    topics = article("Topics", "Every topic we cover.", ("p0.html", "p1.html", "more/"))
    more = "<html><body><main><ul><li><a href='p2.html'>two</a></li></ul></main></body></html>"
    site.add("/help/", article("Help", "Welcome to the help centre.", ("topics.html",)).encode())
    site.add("/help/topics.html", topics.encode())
    site.add("/help/more/", more.encode())  # a page of links, not a document
    for i in range(3):
        path = f"/help/p{i}.html" if i < 2 else "/help/more/p2.html"
        site.add(path, article(f"Page {i}", f"What page {i} says about lamps.").encode())
    store, first = crawl(tmp_path, f"{site.base}/help/")
    assert first.added == 5
    for failing in ("/help/topics.html", "/help/more/"):
        saved = site.routes[failing]
        site.fail(failing, status)
        store.close()
        store, again = crawl(tmp_path, f"{site.base}/help/")
        assert (again.added, again.updated, again.removed) == (0, 0, 0), failing
        assert len(store.document_ids()) == 5, failing
        site.routes[failing] = saved


@pytest.mark.parametrize("status", [500, 429, HANG_UP])
def test_a_failed_robots_txt_keeps_the_pages_of_its_sitemaps(site, tmp_path, status):
    site.add("/robots.txt", f"Sitemap: {site.base}/sitemap.xml\n".encode(), "text/plain")
    site.add("/sitemap.xml", urlset(url(f"{site.base}/help/p0.html")), "application/xml")
    site.add("/help/", article("Help", "Welcome to the help centre.").encode())
    site.add("/help/p0.html", article("Page 0", "Listed only in the sitemap.").encode())
    store, first = crawl(tmp_path, f"{site.base}/help/")
    assert first.added == 2
    site.fail("/robots.txt", status)
    store.close()
    try:
        store, again = crawl(tmp_path, f"{site.base}/help/")
    except SourceError:  # a host whose robots.txt fails is not crawled: nothing changes
        store = Store(tmp_path / "kb.sqlite3")
    else:
        assert again.removed == 0
    assert len(store.document_ids()) == 2
