"""The help-centre crawler: polite, bounded, incremental.

Starts from page URLs and/or sitemaps, stays within each start's host and directory, honours
robots.txt (Disallow, Crawl-delay) and ``<meta name=robots>``, resolves ``<base href>`` and
canonical URLs, sends conditional GETs with what it learnt last time, and skips pages whose
sitemap ``lastmod`` has not moved. Every page fetched, skipped or failed is accounted for.

Sitemaps come from the starts, from sitemap indexes (nested at most ``max_sitemap_depth``
deep) and from robots.txt ``Sitemap:`` lines; they may lie anywhere on a start's host, the
pages they list only in scope. Their hreflang alternates are crawled like their pages.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from ingest.extract import extract
from ingest.fetch import Fetcher, FetchError, Response, document_suffix
from ingest.ids import (
    Claim,
    also_at,
    sharing_groups,
    suffixed,
    text_key,
    unique_ids,
    url_preference,
)
from ingest.robots import Robots
from ingest.sitemap import is_sitemap, parse_sitemap
from ingest.sources import MAX_FILE_BYTES, Batch, file_document, page_document, url_doc_id
from ingest.urls import in_scope, looks_like_page, normalize_url, scope_of, trap_reason
from kb.errors import SourceError
from kb.links import ALSO_AT
from kb.models import Document
from kb.store import PageState

# Stored documents' ids → (text key, public URL), in one call (Store.text_keys).
TextKeys = Callable[[Iterable[str]], dict[str, tuple[str, str | None]]]

HTML_TYPES = {"text/html", "application/xhtml+xml", ""}


@dataclass(frozen=True)
class CrawlLimits:
    """How far and how fast a crawl may go."""

    max_pages: int = 100_000
    max_depth: int = 25
    concurrency: int = 4
    delay: float = 0.0
    max_redirects: int = 5
    max_sitemaps: int = 1000  # sitemaps fetched besides the starts
    max_sitemap_depth: int = 5  # index → index → … → urlset


@dataclass(frozen=True)
class _Item:
    url: str
    depth: int
    lastmod: str | None = None
    sitemap: bool = False


@dataclass(frozen=True)
class _Read:
    """A page read into a document whose id is not settled yet."""

    state: PageState
    doc: Document
    declared: bool  # the page named its canonical URL
    text: str  # ingest.ids.text_key of the document

    def preference(self) -> tuple[object, ...]:
        """Sort key: the page to keep of several showing one article, first."""
        url = self.doc.url or self.state.url
        return (not self.declared, url_preference(url), self.state.url != url, self.state.url)


@dataclass(frozen=True)
class _Fetched:
    item: _Item
    response: Response | None = None
    error: str | None = None
    skipped: str | None = None


class Crawler:
    """Crawls the sites of some start URLs into one :class:`Batch`."""

    def __init__(
        self,
        fetcher: Fetcher,
        limits: CrawlLimits,
        known: dict[str, PageState],
        *,
        user_agent: str,
        on_document: Callable[[Document], None] | None = None,
        text_keys: TextKeys | None = None,
        max_file_bytes: int = MAX_FILE_BYTES,
    ) -> None:
        self.fetcher = fetcher
        self.max_file_bytes = max_file_bytes
        self.text_keys = text_keys  # of stored documents, to tell copies of unchanged pages
        self.limits = limits
        self.known = known
        self.user_agent = user_agent
        self.on_document = on_document
        self.robots: dict[str, Robots] = {}
        self.next_time: dict[str, float] = {}
        self.queues: dict[str, deque[_Item]] = {}
        self.seen: set[str] = set()
        self.read: list[_Read] = []
        self.scopes: list[str] = []
        self.page_budget = limits.max_pages
        self.sitemap_budget = limits.max_sitemaps
        self.hosts: set[str] = set()

    def crawl(self, starts: list[str], source: str) -> Batch:
        """Crawl from ``starts``; raise :class:`SourceError` if no start can be fetched."""
        self.batch = Batch(source=source)
        normalized = []
        for start in starts:
            url = normalize_url(start)
            if url is None:
                raise SourceError(f"not an http(s) URL: {start}")
            normalized.append(url)
            self.scopes.append(scope_of(url))
            self.hosts.add(urlsplit(url).netloc)
        for url in normalized:
            sitemap = url.endswith((".xml", ".xml.gz", ".txt", ".txt.gz"))
            self._enqueue(_Item(url, 0, sitemap=sitemap), force=True)
        self._run()
        self._settle()
        starts_ok = any(u in self._answered for u in normalized)
        if not starts_ok:
            passed = [*self.batch.failed, *self.batch.skipped][:3]  # robots.txt skips a start
            reasons = "; ".join(f"{u}: {r}" for u, r in passed) or "nothing fetched"
            raise SourceError(f"cannot crawl {', '.join(starts)}: {reasons}")
        return self.batch

    # scheduling ------------------------------------------------------------------------------

    def _enqueue(self, item: _Item, *, force: bool = False) -> None:
        if item.url in self.seen:
            return
        if item.sitemap and not force:
            refusal = self._sitemap_refusal(item)
            if refusal:
                self.seen.add(item.url)
                self.batch.skipped.append((item.url, refusal))
                return
        elif not force:
            if not in_scope(item.url, self.scopes) or not looks_like_page(item.url):
                return
            if item.depth > self.limits.max_depth:
                self.batch.incomplete("pages deeper than the depth limit")  # unseen, not gone
                return
            trap = trap_reason(item.url)
            if trap:
                self.seen.add(item.url)
                self.batch.skipped.append((item.url, trap))
                return
        self.seen.add(item.url)
        host = urlsplit(item.url).netloc
        self.queues.setdefault(host, deque()).append(item)

    def _sitemap_refusal(self, item: _Item) -> str | None:
        """Return why a sitemap found in an index or robots.txt is not fetched, or None."""
        if urlsplit(item.url).netloc not in self.hosts:
            return "sitemap on another host"
        if item.depth > self.limits.max_sitemap_depth:
            self.batch.incomplete("sitemaps nested too deep")
            return f"sitemap nested more than {self.limits.max_sitemap_depth} deep"
        if self.sitemap_budget <= 0:
            self.batch.incomplete("sitemap limit reached")
            return f"more than {self.limits.max_sitemaps} sitemaps"
        self.sitemap_budget -= 1
        return None

    def _robots(self, url: str) -> Robots:
        parts = urlsplit(url)
        host = parts.netloc
        if host not in self.robots:
            robots_url = f"{parts.scheme}://{host}/robots.txt"
            failure = ""
            try:
                response = self.fetcher.get(robots_url)
            except FetchError as e:
                response = None
                failure = str(e)
            if response is not None and response.status == 200:
                text = response.body.decode("utf-8", errors="replace")
                self.robots[host] = Robots(text, self.user_agent)
                for loc in self.robots[host].sitemaps():
                    sitemap = normalize_url(loc, robots_url)
                    if sitemap:
                        self._enqueue(_Item(sitemap, 0, sitemap=True))
            elif response is not None and response.status < 500 and response.status != 429:
                self.robots[host] = Robots(None, self.user_agent)  # no robots.txt: no rules
            else:
                # The rules and the sitemaps it lists are unknown: what they led to is kept.
                if response is not None:
                    failure = f"HTTP {response.status}: host skipped"
                self.batch.failed.append((robots_url, failure))
                self.batch.incomplete("robots.txt failed")
                self.robots[host] = (
                    Robots(None, self.user_agent)
                    if response is None
                    else Robots.unavailable(self.user_agent)
                )
        return self.robots[host]

    def _delay(self, host: str) -> float:
        return max(self.limits.delay, self.robots[host].crawl_delay() if host in self.robots else 0)

    def _run(self) -> None:
        self._answered: set[str] = set()
        pending: dict[Future[_Fetched], _Item] = {}
        with ThreadPoolExecutor(max_workers=self.limits.concurrency) as pool:
            while any(self.queues.values()) or pending:
                self._schedule(pool, pending)
                if not pending:
                    time.sleep(0.01)  # every host with work is waiting out its delay
                    continue
                done, _ = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                for future in done:
                    pending.pop(future)
                    self._handle(future.result())

    def _schedule(self, pool: ThreadPoolExecutor, pending: dict[Future[_Fetched], _Item]) -> None:
        now = time.monotonic()
        for host, queue in self.queues.items():
            while queue and len(pending) < self.limits.concurrency:
                if self.next_time.get(host, 0.0) > now:
                    break
                item = queue.popleft()
                if not item.sitemap and self._skip_unchanged(item):
                    continue
                if not item.sitemap:
                    if self.page_budget <= 0:
                        self.batch.incomplete("page limit reached")
                        queue.clear()
                        self.batch.skipped.append((item.url, "page limit reached"))
                        break
                    self.page_budget -= 1
                robots = self._robots(item.url)
                if not robots.allowed(item.url):
                    self.batch.skipped.append((item.url, "disallowed by robots.txt"))
                    continue
                pending[pool.submit(self._fetch, item)] = item
                delay = self._delay(host)
                if delay:
                    # From when the request left, with a margin for network jitter.
                    self.next_time[host] = time.monotonic() + delay * 1.05 + 0.01
                    break

    def _skip_unchanged(self, item: _Item) -> bool:
        """Skip a page the sitemap says has not changed since it was stored."""
        state = self.known.get(item.url)
        if not (state and state.doc_id and item.lastmod and state.lastmod == item.lastmod):
            return False
        self._answered.add(item.url)
        self.batch.kept.add(state.doc_id)
        self.batch.pages.append(state)
        self._follow(state.links, item.depth)
        return True

    # fetching (worker threads) ----------------------------------------------------------------

    def _fetch(self, item: _Item) -> _Fetched:
        url = item.url
        state = self.known.get(url)
        headers = {}
        if state and state.etag:
            headers["If-None-Match"] = state.etag
        if state and state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        chain = [url]
        try:
            for _ in range(self.limits.max_redirects + 1):
                response = self.fetcher.get(url, headers if url == item.url else None)
                if response.status not in (301, 302, 303, 307, 308):
                    return _Fetched(item, response)
                location = response.headers.get("location")
                target = normalize_url(location, url) if location else None
                if target is None:
                    return _Fetched(item, error=f"HTTP {response.status} without a valid Location")
                if target in chain:
                    return _Fetched(item, error="redirect loop")
                if not in_scope(target, self.scopes):
                    return _Fetched(item, skipped=f"redirects out of scope to {target}")
                if not self._robots_allowed(target):
                    return _Fetched(item, skipped="redirect target disallowed by robots.txt")
                if target in self.seen:
                    return _Fetched(item, skipped=f"redirects to {target}, crawled on its own")
                self.seen.add(target)  # set.add is atomic; the main thread then skips it
                chain.append(target)
                url = target
            return _Fetched(item, error=f"more than {self.limits.max_redirects} redirects")
        except FetchError as e:
            return _Fetched(item, error=str(e))

    def _robots_allowed(self, url: str) -> bool:
        robots = self.robots.get(urlsplit(url).netloc)
        return robots.allowed(url) if robots else True

    # results (main thread) --------------------------------------------------------------------

    def _handle(self, result: _Fetched) -> None:
        item = result.item
        state = self.known.get(item.url)
        if result.skipped:
            self.batch.skipped.append((item.url, result.skipped))
            return
        if result.error or result.response is None:
            self._failed(item, result.error or "no response", state)
            return
        self._answered.add(item.url)
        response = result.response
        if response.status == 304 and state:
            self.batch.fetched += 1
            if state.doc_id:
                self.batch.kept.add(state.doc_id)
            self.batch.pages.append(state)
            self._follow(state.links, item.depth)
            return
        if response.status in (404, 410):
            if state and state.doc_id:
                self.batch.gone.add(state.doc_id)
            self.batch.skipped.append((item.url, f"gone (HTTP {response.status})"))
            return
        if response.status != 200:
            self._failed(item, f"HTTP {response.status}", state)
            return
        if item.sitemap or is_sitemap(response.body[:4096]):
            self._sitemap(item, response)
            return
        self.batch.fetched += 1
        self._page(item, response)

    def _failed(self, item: _Item, reason: str, state: PageState | None) -> None:
        """A passing failure deletes nothing: not what we had, nor what it led to.

        A page keeps its document and its links are followed as last time (as on a 304); what
        a sitemap listed is not known, so the crawl is incomplete and removes nothing unseen.
        """
        self.batch.failed.append((item.url, reason))
        if item.sitemap:
            self.batch.incomplete("a sitemap failed")
        if state:
            if state.doc_id:
                self.batch.kept.add(state.doc_id)
            self.batch.pages.append(state)
            self._follow(state.links, item.depth)

    def _sitemap(self, item: _Item, response: Response) -> None:
        try:
            sitemap = parse_sitemap(response.body)
        except ValueError as e:
            self._failed(replace(item, sitemap=True), str(e), None)
            return
        for loc in sitemap.sitemaps:
            url = normalize_url(loc, response.url)
            if url:
                self._enqueue(_Item(url, item.depth + 1, sitemap=True))
        for loc, lastmod in sitemap.pages:
            url = normalize_url(loc, response.url)
            if url:
                self._enqueue(_Item(url, 0, lastmod=lastmod))

    def _page(self, item: _Item, response: Response) -> None:
        url = response.url
        suffix = document_suffix(response.content_type, url)
        if suffix:
            self._file(item, response, suffix)
            return
        if response.content_type not in HTML_TYPES:
            self.batch.skipped.append((url, f"not HTML ({response.content_type})"))
            return
        if b"\x00" in response.body[:4096]:
            self.batch.skipped.append((url, "binary content, not HTML"))
            return
        page = extract(response.body, url=url, encoding=response.charset)
        links = tuple(u for u in (normalize_url(link) for link in page.links) if u)
        if not page.nofollow:
            self._follow(links, item.depth)
        canonical = normalize_url(page.canonical, url) if page.canonical else None
        declared = bool(canonical and in_scope(canonical, self.scopes))
        if not canonical or not declared:
            canonical = normalize_url(url) or item.url  # after redirects
        doc, reason = (
            page_document(page, canonical, source=self.batch.source)
            if not page.noindex
            else (None, "noindex")
        )
        page_state = PageState(
            url=item.url,
            doc_id=None,  # settled once every page is read
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            lastmod=item.lastmod,
            links=links,
        )
        self._read_as(page_state, doc, reason, declared, url)

    def _file(self, item: _Item, response: Response, suffix: str) -> None:
        """Read a PDF or Word file a page linked to (in scope) as a document; it has no links."""
        url = normalize_url(response.url) or item.url
        doc, reason = file_document(response.body, suffix, doc_id=url_doc_id(url),
                                    source=self.batch.source, url=url,
                                    max_bytes=self.max_file_bytes)  # fmt: skip
        page_state = PageState(
            url=item.url,
            doc_id=None,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            lastmod=item.lastmod,
            links=(),
        )
        self._read_as(page_state, doc, reason, False, response.url)

    def _read_as(self, page_state: PageState, doc: Document | None, reason: str,
                 declared: bool, url: str) -> None:  # fmt: skip
        """Keep what the page or file at ``url`` gave: its document, else the reason (and the
        document it gave last time is gone)."""
        if doc is None:
            state = self.known.get(page_state.url)
            self.batch.pages.append(page_state)
            self.batch.skipped.append((url, reason))
            if state and state.doc_id:
                self.batch.gone.add(state.doc_id)
            return
        self.read.append(_Read(page_state, doc, declared, text_key(doc.sections)))
        if self.on_document:
            self.on_document(doc)

    def _settle(self) -> None:
        """Keep one document per article and give each its id, whatever the crawl order.

        Pages sharing a canonical URL or a main text are one article: the page kept is the one
        that named its canonical URL, else the one with the plainest URL
        (:func:`ingest.ids.url_preference`); the others are skipped as its duplicates. Ids come
        from URLs, unique even where the readable forms collide (:func:`ingest.ids.unique_ids`).
        """
        groups = sharing_groups(
            [(f"url:{r.doc.url or r.state.url}", f"text:{r.text}") for r in self.read]
        )
        copies = self._copies_of_unchanged(groups)
        groups = [g for g in groups if not copies.get(g[0])]
        kept = [min((self.read[i] for i in group), key=_Read.preference) for group in groups]
        claims = []
        for r in kept:
            url = r.doc.url or r.state.url
            base = url_doc_id(url)
            claims.append(Claim(base, suffixed(base, url), self._held_id(r)))
        ids = unique_ids(claims, self.batch.kept)
        for group, first, doc_id in zip(groups, kept, ids, strict=True):
            also = also_at(first.doc.url or first.state.url, [self.read[i].doc.url for i in group])
            meta = {**first.doc.meta, ALSO_AT: also} if also else first.doc.meta
            self.batch.documents.append(replace(first.doc, id=doc_id, meta=meta))
            for r in (self.read[i] for i in group):
                self.batch.pages.append(replace(r.state, doc_id=doc_id if r is first else None))
                if r is first:
                    continue
                self.batch.skipped.append((r.state.url, f"duplicate of {first.doc.url}"))
                previous = self.known.get(r.state.url)
                if previous and previous.doc_id and previous.doc_id != doc_id:
                    self.batch.gone.add(previous.doc_id)

    def _copies_of_unchanged(self, groups: list[list[int]]) -> dict[int, str]:
        """Skip new pages that copy a document kept unread; return {first index: its URL}.

        A page seen for the first time (or last time a duplicate) may show an article whose own
        page did not change and so was not read again: it is that document, not a new one.
        """
        new = [g for g in groups if not any(self._held_id(self.read[i]) for i in g)]
        if not new or not self.batch.kept or self.text_keys is None:
            return {}
        texts: dict[str, str] = {}
        for doc_id, (key, url) in sorted(self.text_keys(self.batch.kept).items()):
            texts.setdefault(key, url or doc_id)
        copies = {}
        for group in new:
            original = texts.get(self.read[group[0]].text)
            if original is None:
                continue
            copies[group[0]] = original
            for r in (self.read[i] for i in group):
                self.batch.pages.append(r.state)
                self.batch.skipped.append((r.state.url, f"duplicate of {original}"))
        return copies

    def _held_id(self, read: _Read) -> str | None:
        previous = self.known.get(read.state.url)
        return previous.doc_id if previous else None

    def _follow(self, links: tuple[str, ...], depth: int) -> None:
        for link in links:
            self._enqueue(_Item(link, depth + 1))


def crawl(
    starts: list[str],
    fetcher: Fetcher,
    known: dict[str, PageState],
    limits: CrawlLimits,
    *,
    user_agent: str,
    source: str,
    on_document: Callable[[Document], None] | None = None,
    text_keys: TextKeys | None = None,
    max_file_bytes: int = MAX_FILE_BYTES,
) -> Batch:
    """Crawl the sites of ``starts`` into a batch (documents, kept, gone, failed, skipped).

    ``text_keys`` returns the text key and URL of stored documents by id, in one call: with
    it, a new page that copies an unchanged one (not read again) is known as its duplicate.
    """
    crawler = Crawler(fetcher, limits, known, user_agent=user_agent, on_document=on_document,
                      text_keys=text_keys, max_file_bytes=max_file_bytes)  # fmt: skip
    return crawler.crawl(starts, source)
