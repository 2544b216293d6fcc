"""Sitemaps (sitemaps.org), pure: page URLs with their lastmod, alternates and nested sitemaps.

A sitemap may come gzipped (``.xml.gz``, whether or not the server says so), list other
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
    """Parse a sitemap or sitemap index, gzipped or not; raise ValueError if it is not one."""
    try:
        data = inflate(body, limit=MAX_SITEMAP_BYTES) if body.startswith(GZIP_MAGIC) else body
    except ValueError as e:
        raise ValueError(f"not a sitemap: {e}") from None
    if len(data) > MAX_SITEMAP_BYTES:
        raise ValueError(f"sitemap larger than {MAX_SITEMAP_BYTES} bytes")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True, huge_tree=False)
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as e:
        raise ValueError(f"not a sitemap: {e}") from None
    if root is None:
        raise ValueError("not a sitemap: empty document")
    kind = etree.QName(root).localname
    if kind not in ("urlset", "sitemapindex"):
        raise ValueError(f"not a sitemap: root element <{kind}>")
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
        if kind == "sitemapindex":
            children.append(loc)
            continue
        pages[loc] = fields.get("lastmod") or None
        alternates.extend((loc, lang, href) for lang, href in links if href != loc)
    for _, _, href in alternates:
        pages.setdefault(href, None)  # its own <url> entry, with a lastmod, wins
    return Sitemap(tuple(pages.items()), tuple(children), tuple(alternates))
