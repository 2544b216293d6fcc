"""Sitemaps (sitemaps.org), pure: page URLs with their lastmod, and nested sitemaps."""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass

from lxml import etree


@dataclass(frozen=True)
class Sitemap:
    """The pages (URL, lastmod) and child sitemaps a sitemap lists."""

    pages: tuple[tuple[str, str | None], ...]
    sitemaps: tuple[str, ...]


def is_sitemap(body: bytes) -> bool:
    """Return whether ``body`` looks like a sitemap or a sitemap index."""
    head = _maybe_gunzip(body)[:2048].lower()
    return b"<urlset" in head or b"<sitemapindex" in head


def parse_sitemap(body: bytes) -> Sitemap:
    """Parse a sitemap or sitemap index; raise ValueError if it is not one."""
    data = _maybe_gunzip(body)
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
    pages: list[tuple[str, str | None]] = []
    children: list[str] = []
    for entry in root:
        if not isinstance(entry.tag, str):
            continue
        fields = {
            etree.QName(c).localname: (c.text or "").strip()
            for c in entry
            if isinstance(c.tag, str)
        }
        loc = fields.get("loc")
        if not loc:
            continue
        if kind == "urlset":
            pages.append((loc, fields.get("lastmod") or None))
        else:
            children.append(loc)
    return Sitemap(tuple(pages), tuple(children))


MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the sitemaps.org limit, uncompressed


def _maybe_gunzip(body: bytes) -> bytes:
    if body[:2] != b"\x1f\x8b":
        return body
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(body)) as f:
            data = f.read(MAX_SITEMAP_BYTES + 1)
    except (OSError, EOFError):
        return b""
    return b"" if len(data) > MAX_SITEMAP_BYTES else data
