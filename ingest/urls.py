"""URL policy, pure: normalisation, tracking-parameter stripping, scope, crawler traps."""

from __future__ import annotations

import posixpath
import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

TRACKING = re.compile(r"^(utm_\w+|gclid|fbclid|msclkid|mc_cid|mc_eid|_ga|_gl|yclid|ref_src)$", re.I)
NOT_PAGES = re.compile(
    r"\.(png|jpe?g|gif|svg|webp|ico|bmp|zip|gz|tgz|bz2|xz|7z|rar|exe|dmg|msi|deb|rpm|iso|"
    r"mp3|mp4|m4a|wav|ogg|webm|avi|mov|css|js|mjs|json|woff2?|ttf|eot|otf|txt|csv|xlsx?|doc|"
    r"pptx?|odt|ods|odp)$",
    re.I,
)
MAX_URL_LENGTH = 512


def normalize_url(url: str, base: str | None = None) -> str | None:
    """Return ``url`` (resolved against ``base``) in canonical form, or None if not http(s).

    Lower-case scheme and host, no default port, no fragment, no tracking parameters, sorted
    query, ``.``/``..`` segments resolved.
    """
    url = url.strip()
    if base:
        url = urljoin(base, url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    path = posixpath.normpath(unquote(parts.path)) if parts.path else "/"
    if parts.path.endswith("/") and not path.endswith("/"):
        path += "/"
    path = quote(path.replace("//", "/"), safe="/-._~!$&'()*+,;=:@%")
    query = urlencode(
        sorted(
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not TRACKING.match(k)
        )
    )
    return urlunsplit((scheme, host, path, query, ""))


def scope_of(url: str) -> str:
    """Return the scope a crawl started at ``url`` stays in: its host and directory."""
    parts = urlsplit(url)
    directory = parts.path if parts.path.endswith("/") else posixpath.dirname(parts.path) + "/"
    return urlunsplit((parts.scheme, parts.netloc, directory.replace("//", "/"), "", ""))


def in_scope(url: str, scopes: list[str]) -> bool:
    """Return whether ``url`` lies under one of ``scopes``."""
    return any(url.startswith(scope) for scope in scopes)


def trap_reason(url: str) -> str | None:
    """Return why ``url`` looks like a crawler trap, or None."""
    if len(url) > MAX_URL_LENGTH:
        return "URL too long"
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) > 12:
        return "path too deep"
    if len(segments) - len(set(segments)) >= 3:
        return "repeating path segments"
    if len(parse_qsl(parts.query)) > 6:
        return "too many query parameters"
    return None


def looks_like_page(url: str) -> bool:
    """Return whether ``url`` may be a page or a document kb reads (HTML, PDF, Word), not an
    image, archive, script…"""
    return NOT_PAGES.search(urlsplit(url).path) is None
