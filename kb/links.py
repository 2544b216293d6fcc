"""Links to kb's own article pages: document ids in URLs, quoted one way and read back.

Document ids come from customers' exports and may look like paths (``../admin/faq``,
``/lead``, ``trail/``, ``a/./b``). Put in a path as they are, a browser removes their dot
segments and servers merge their slashes, so the link opens another page. An id whose
``/``-separated segments are all plain is its own path, percent-encoded
(``guides/setup`` → ``/articles/guides/setup``); any other id goes in the query string, which
nothing normalises (``../admin/faq`` → ``/articles/?id=..%2Fadmin%2Ffaq``).
"""

from __future__ import annotations

from urllib.parse import quote

ARTICLES = "/articles/"
ALSO_AT = "also_at"  # the metadata field listing a document's other addresses (copies of it)


def at_address(page_url: str, address: str) -> str:
    """Return ``page_url`` (a passage's link) moved to another ``address`` of its document."""
    _, hash_, fragment = page_url.partition("#")
    return address + hash_ + fragment


DOWNLOADED = (".docx",)  # files a browser saves instead of showing: cited at kb's own copy


def opens_at_sections(url: str) -> bool:
    """Return whether a browser shows ``url`` and can go to a ``#fragment`` in it.

    A Word file is downloaded, not shown, so its passages link to kb's copy of it; a PDF
    opens at ``#page=N``.
    """
    path = url.split("#", 1)[0].split("?", 1)[0].lower()
    return not path.endswith(DOWNLOADED)


def is_plain_path(doc_id: str) -> bool:
    """Return whether ``doc_id`` survives as a URL path: no empty, ``.`` or ``..`` segment."""
    return all(segment not in ("", ".", "..") for segment in doc_id.split("/"))


def article_path(doc_id: str) -> str:
    """Return the path of kb's page for ``doc_id``, e.g. ``/articles/guides/setup``."""
    if is_plain_path(doc_id):
        return ARTICLES + quote(doc_id, safe="/")
    return f"{ARTICLES}?id={quote(doc_id, safe='')}"
