"""Document identity, pure: ids unique by construction, and one document per main text.

Readable ids are lossy (``/kb/Reset-Password`` and ``/kb/reset-password``, ``setup.html`` and
``setup.htm``, ``faq.md`` and ``faq.html`` all read the same), so two sources of one readable
id are told apart here, the same way on every run: an id a source held last time stays its
own, then the first claim in order takes the readable id and the others their alternative.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from kb.dedupe import connected_groups
from kb.text import text_key

__all__ = ["Claim", "also_at", "sharing_groups", "suffixed", "text_key", "unique_ids"]


@dataclass(frozen=True)
class Claim:
    """A source's wish for an id: the readable ``base``, an ``alternative`` unique to the
    source (its URL or path), and the id it held last time, if any."""

    base: str
    alternative: str
    previous: str | None = None


def suffixed(base: str, key: str, length: int = 8) -> str:
    """Return ``base~<hash of key>``: an id that differs wherever ``key`` does."""
    return f"{base}~{hashlib.blake2b(key.encode('utf-8'), digest_size=16).hexdigest()[:length]}"


def unique_ids(claims: Sequence[Claim], taken: Iterable[str] = ()) -> list[str]:
    """Return one distinct id per claim, in the claims' order, none of them in ``taken``.

    A claim whose ``previous`` id is its base or alternative keeps it (no churn on re-runs);
    the others, in order of (base, alternative), get their base if free, else their
    alternative (else the alternative with a hash, should that be taken too).
    """
    used = set(taken)
    ids: list[str | None] = [None] * len(claims)
    for i, claim in enumerate(claims):
        if claim.previous in (claim.base, claim.alternative) and claim.previous not in used:
            ids[i] = claim.previous
            used.add(claim.previous)
    for i in sorted(
        (i for i, v in enumerate(ids) if v is None),
        key=lambda i: (claims[i].base, claims[i].alternative, i),
    ):
        claim = claims[i]
        chosen = next(
            (c for c in (claim.base, claim.alternative) if c not in used),
            suffixed(claim.alternative, f"{claim.alternative}\x1e{i}"),
        )
        ids[i] = chosen
        used.add(chosen)
    return [i for i in ids if i is not None]


def url_preference(url: str) -> tuple[bool, int, int, str]:
    """Return a sort key: the URL to show for a page that has several, first.

    No query string first (``?src=menu`` is a way in, not the page), then the fewest path
    segments and the shortest path (``/help/pair`` before ``/help/print/pair`` and
    ``/articles/123-title``), then the URL itself, so the choice never depends on crawl order.
    """
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    return (bool(parts.query), len(segments), len(parts.path), url)


def also_at(url: str, urls: Iterable[str | None]) -> list[str]:
    """Return the other addresses of the page at ``url`` worth showing, plainest first.

    Not ``url`` itself, nor ``url`` with another query string (``?src=menu`` is no other page).
    """
    path = urlsplit(url).path
    return sorted({u for u in urls if u and urlsplit(u).path != path}, key=url_preference)


def sharing_groups(keys: Sequence[Iterable[str]]) -> list[list[int]]:
    """Return the indexes of ``keys`` in groups: two items sharing any key are in one group."""
    first: dict[str, int] = {}
    pairs = []
    for i, item_keys in enumerate(keys):
        for key in item_keys:
            j = first.setdefault(key, i)
            if j != i:
                pairs.append((j, i))
    return connected_groups(len(keys), pairs)
