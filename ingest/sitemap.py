"""Sitemaps (sitemaps.org), pure: page URLs with their lastmod, alternates and nested sitemaps.

Sitemaps.org accepts XML sitemaps, RSS and Atom feeds, and text files of URLs. A sitemap may
come gzipped (``.xml.gz``, whether or not the server says so), list other
sitemaps (an index, and indexes of indexes), and name each page's translations with
``<xhtml:link rel="alternate" hreflang="…" href="…">``.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from ingest.compression import GZIP_MAGIC, inflate

MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the sitemaps.org limit, uncompressed


@dataclass(frozen=True)
class Sitemap:
    """What a sitemap lists: pages (URL, lastmod), child sitemaps and alternates.

    ``alternates`` are (page URL, hreflang, alternate URL) triples; an alternate without its
    own ``<url>`` entry is listed in ``pages`` too, with no lastmod.
    """

    pages: tuple[tuple[str, str | None], ...]
    sitemaps: tuple[str, ...]
    alternates: tuple[tuple[str, str, str], ...] = ()


def is_sitemap(body: bytes) -> bool:
    """Return whether ``body`` (or its first bytes) looks like a sitemap or a sitemap index."""
    gzipped = body.startswith(GZIP_MAGIC)
    head = (inflate(body, limit=2048, partial=True) if gzipped else body[:2048]).lower()
    return b"<urlset" in head or b"<sitemapindex" in head


def parse_sitemap(body: bytes) -> Sitemap:
    """Parse a sitemap, sitemap index, RSS or Atom feed, or text sitemap (one URL a line),
    gzipped or not; raise ValueError if it is none of them."""
    try:
        data = inflate(body, limit=MAX_SITEMAP_BYTES) if body.startswith(GZIP_MAGIC) else body
    except ValueError as e:
        raise ValueError(f"not a sitemap: {e}") from None
    if len(data) > MAX_SITEMAP_BYTES:
        raise ValueError(f"sitemap larger than {MAX_SITEMAP_BYTES} bytes")
    if not data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return _text_sitemap(data)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True, huge_tree=False)
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as e:
        raise ValueError(f"not a sitemap: {e}") from None
    if root is None:
        raise ValueError("not a sitemap: empty document")
    kind = etree.QName(root).localname
    if kind in ("urlset", "sitemapindex"):
        return _sitemaps_org(root, index=kind == "sitemapindex")
    if kind in ("rss", "feed"):
        return _feed(root)
    raise ValueError(f"not a sitemap: root element <{kind}>")


def _sitemaps_org(root: etree._Element, *, index: bool) -> Sitemap:
    pages: dict[str, str | None] = {}
    children: list[str] = []
    alternates: list[tuple[str, str, str]] = []
    for entry in root:
        if not isinstance(entry.tag, str):
            continue
        fields: dict[str, str] = {}
        links: list[tuple[str, str]] = []
        for child in entry:
            if not isinstance(child.tag, str):
                continue
            name = etree.QName(child).localname
            if name == "link" and str(child.get("rel", "")).lower() == "alternate":
                href = str(child.get("href") or "").strip()
                if href:
                    links.append((str(child.get("hreflang") or "").strip(), href))
            else:
                fields[name] = (child.text or "").strip()
        loc = fields.get("loc")
        if not loc:
            continue
        if index:
            children.append(loc)
            continue
        pages[loc] = fields.get("lastmod") or None
        alternates.extend((loc, lang, href) for lang, href in links if href != loc)
    for _, _, href in alternates:
        pages.setdefault(href, None)  # its own <url> entry, with a lastmod, wins
    return Sitemap(tuple(pages.items()), tuple(children), tuple(alternates))


def _feed(root: etree._Element) -> Sitemap:
    """Pages of an RSS 2.0 feed (``<link>``, ``<pubDate>``) or an Atom feed (``<updated>``)."""
    pages: dict[str, str | None] = {}
    for entry in root.iter("{*}item", "{*}entry"):
        loc, stamp = "", None
        for child in entry:
            if not isinstance(child.tag, str):
                continue
            name = etree.QName(child).localname
            if name == "link" and not loc and child.get("rel", "alternate") == "alternate":
                loc = str(child.get("href") or child.text or "").strip()  # Atom href, RSS text
            elif name in ("updated", "pubDate"):
                stamp = (child.text or "").strip() or None
        if loc:
            pages[loc] = stamp
    return Sitemap(tuple(pages.items()), ())


def _text_sitemap(data: bytes) -> Sitemap:
    """A text sitemap: one absolute URL a line, UTF-8."""
    lines = data.decode("utf-8-sig", errors="replace").splitlines()
    urls = [line.strip() for line in lines if line.strip()]
    if not urls or not all(u.startswith(("http://", "https://")) for u in urls):
        raise ValueError("not a sitemap: neither XML nor one URL a line")
    return Sitemap(tuple((u, None) for u in dict.fromkeys(urls)), ())
