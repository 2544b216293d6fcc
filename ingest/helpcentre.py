"""Zendesk Help Center exports: the articles JSON becomes ``article`` documents.

The format read is the Help Center API's list response saved to a .json file,
``{"articles": [{"id": 360001, "title": "…", "body": "<p>HTML…</p>", "html_url": "…",
"locale": "en-us", "edited_at": "…", "section_id": 123, "label_names": […], "draft": false,
"user_segment_id": null, …}, …], "next_page": …, "count": …}``; other keys may be missing or
null. Each article's body goes through kb's HTML extraction behind its title as the page's
``<h1>``, so headings become sections with their anchors exactly as on a crawled page.

Only what every visitor of the help centre can read is kept. Left out, each with its reason in
``Batch.skipped`` as (title, or ``article <id>``, or ``articles[<index>]``; reason):

- ``a draft`` (``draft`` set), ``status <s>: not published`` (a ``status`` other than
  ``published``), ``archived`` (``archived`` set): not public yet, or no longer;
- ``restricted to a user segment (signed-in users or agents only)`` (``user_segment_id``, or
  ``user_segment_ids``, not null): agents-only or signed-in-only content must not reach
  customers. Access fields fail closed: a value that is not plainly "off" counts as set;
- ``no id``, ``an id that is not a number``, ``no title``, ``not a JSON object``;
- ``no text in the body`` (a null or empty body), or the extractor's reason (a page of links);
- ``duplicate of <doc id>``: the same article in the same locale again (the first one stays).

A document's id is ``hc/{locale}/{id}`` (``hc/{id}`` without a locale): stable across title
edits, and one per translation. Its language is the locale as kb tags languages
(:func:`ingest.language.language_tag`: ``en-us`` → ``en``, ``zh-cn`` → ``zh-Hans``, ``zh-tw``
→ ``zh-Hant``); its URL the article's ``html_url`` (http(s) only). Its meta: ``zendesk_id``
(int), ``locale`` (as exported, in lower case), ``updated_at`` (ISO 8601 UTC, from ``edited_at``,
the date the help centre shows as "updated"; else ``updated_at``, else ``created_at``),
``section_id`` (int) and ``labels`` (from ``label_names``; one label a string, several a list,
as :func:`ingest.sources.page_meta` stores a page's labels).

Whole-file problems raise :class:`SourceError` with one line: unreadable, not UTF-8, not valid
JSON (with line and column), not an object with an ``articles`` list, or no article kept
(``no published articles in X: 3 drafts, 1 restricted``). Bad content in an article is never
an exception: the article is left out with its reason.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.extract import extract
from ingest.language import language_tag
from ingest.sources import Batch, page_document, safe_url
from kb.errors import SourceError
from kb.models import Document
from kb.text import normalize

SUFFIX = ".json"
# How much of a file is sniffed for a top-level "articles" key: an export of the API's list
# response has it first; a ticket export must not be parsed whole just to say no.
SNIFF_BYTES = 1 << 20
PUBLISHED = "published"
MAX_ID = 2**63  # Zendesk ids are 64-bit integers
_LOCALE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{1,8}){0,3}")
# A whole JSON string, a structural character, or a quote whose string the sniffed head cuts.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|"', re.S)
_OFF = (None, False, 0, "", "false", "no", "0", "null")


@dataclass(frozen=True)
class LeftOut:
    """Why an article is not a document (``reason``), and what the summary counts it as:
    ``one`` for one article, ``many`` for several (``1 draft``, ``2 drafts``)."""

    reason: str
    one: str
    many: str = ""

    def tally(self, count: int) -> str:
        """Return ``count`` articles left out for this reason, as the summary says it."""
        return f"{count} {self.one if count == 1 else self.many or self.one}"


NOT_AN_OBJECT = LeftOut("not a JSON object", "item not an object", "items not objects")
NO_ID = LeftOut("no id", "without an id")
BAD_ID = LeftOut("an id that is not a number", "without an id")
NO_TITLE = LeftOut("no title", "without a title")
DRAFT = LeftOut("a draft", "draft", "drafts")
UNPUBLISHED = LeftOut("not published", "unpublished")  # the reason names the status
ARCHIVED = LeftOut("archived", "archived")
RESTRICTED = LeftOut("restricted to a user segment (signed-in users or agents only)", "restricted")
NO_TEXT = LeftOut("no text in the body", "without text")
DUPLICATE = LeftOut("a duplicate", "duplicate", "duplicates")  # the reason names the first
NOT_AN_ARTICLE = LeftOut("not an article", "list of links", "lists of links")  # the extractor says


def is_helpcentre_export(path: Path) -> bool:
    """Whether ``path`` is a .json file whose top-level object has an ``articles`` key.

    Only the first :data:`SNIFF_BYTES` are read, and not parsed: ``{"tickets": […]}`` and a
    list of tickets say False, even when a ticket has an ``articles`` field of its own.
    """
    if path.suffix.lower() != SUFFIX or not path.is_file():
        return False
    try:
        with path.open("rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError:
        return False
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    return text.startswith("{") and "articles" in _top_level_keys(text)


def _top_level_keys(text: str) -> Iterator[str]:
    """Yield the keys of the JSON object ``text`` opens with, as far as ``text`` goes."""
    depth, string = 0, ""
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token == '"':
            return  # a string the head cuts off: nothing more can be told
        if token[0] == '"':
            string = token
            continue
        if token == ":" and depth == 1 and string:
            try:
                yield json.loads(string)
            except ValueError:
                return
        elif token in "{[":
            depth += 1
        elif token in "}]":
            depth -= 1
            if depth <= 0:
                return
        string = ""


def read_helpcentre_export(path: Path) -> Batch:
    """Read the published, public articles of a Help Center export (see the module docstring).

    Raises :class:`SourceError` for a file that cannot be read as an export, or keeps nothing.
    """
    export = _export(path)
    articles: list[Any] = export["articles"]
    batch = Batch(source=str(path.resolve()))
    if export.get("next_page"):  # one page of the API's listing: the rest was not seen
        batch.incomplete("the export is one page of a longer listing (its next_page is set)")
    tallies: Counter[LeftOut] = Counter()  # by kind: reasons without the details
    seen: set[str] = set()
    for index, item in enumerate(articles):
        result = article_document(item, batch.source)
        if isinstance(result, Document) and result.id in seen:
            result = replace(DUPLICATE, reason=f"duplicate of {result.id}")
        if isinstance(result, LeftOut):
            batch.skipped.append((article_name(item, index), result.reason))
            tallies[replace(result, reason="")] += 1
            continue
        seen.add(result.id)
        batch.documents.append(result)
    if not articles:
        raise SourceError(f"no articles in {path.name}: its 'articles' list is empty")
    if not batch.documents:
        counts = ", ".join(kind.tally(n) for kind, n in tallies.most_common())
        raise SourceError(f"no published articles in {path.name}: {counts}")
    return batch


def _export(path: Path) -> dict[str, Any]:
    """Return the export at ``path``, an object with an ``articles`` list; raise
    :class:`SourceError`."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SourceError(f"{path.name} is not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise SourceError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SourceError(f"{path.name}:{e.lineno}:{e.colno}: not valid JSON ({e.msg})") from None
    except ValueError as e:  # a number too long to convert
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SourceError(f"{path.name}: not valid JSON ({first})") from None
    except RecursionError:
        raise SourceError(f"{path.name}: not valid JSON (nested too deeply)") from None
    if not isinstance(data, dict) or not isinstance(data.get("articles"), list):
        raise SourceError(
            f"{path.name}: expected an object with an 'articles' list (a Help Center export)"
        )
    return data


def article_name(item: Any, index: int) -> str:
    """Return how a report names an article: its title, else ``article <id>``, else its place."""
    if isinstance(item, dict):
        title = _string(item.get("title"))
        if title:
            return title
        raw_id = item.get("id")
        if isinstance(raw_id, int | str) and not isinstance(raw_id, bool) and str(raw_id).strip():
            return f"article {_clean(str(raw_id)).strip()[:40]}"
    return f"articles[{index}]"


def article_document(item: Any, source: str) -> Document | LeftOut:
    """Return the document of one exported article, or why it is left out (see module doc)."""
    if not isinstance(item, dict):
        return NOT_AN_OBJECT
    raw_id = item.get("id")
    if raw_id is None or raw_id == "":
        return NO_ID
    article_id = _number(raw_id)
    if article_id is None:
        return BAD_ID
    title = _string(item.get("title"))
    if not title:
        return NO_TITLE
    hidden = _hidden(item)
    if hidden is not None:
        return hidden
    body = item.get("body")
    if not isinstance(body, str) or not body.strip():
        return NO_TEXT
    locale = _locale(item.get("locale"))
    doc_id = f"hc/{locale}/{article_id}" if locale else f"hc/{article_id}"
    lang_attr = f' lang="{html.escape(locale)}"' if locale else ""
    # The title as the page's <h1>, inside the largest <article>: text before the first
    # heading is the introduction under the title, as on a crawled page.
    page = extract(
        f"<!DOCTYPE html><html{lang_attr}><head><title>{html.escape(title)}</title></head>"
        f"<body><main><article><h1>{html.escape(title)}</h1>{_clean(body)}</article></main>"
        "</body></html>"
    )
    doc, reason = page_document(page, None, doc_id=doc_id, source=source)
    if doc is None:
        return (
            NO_TEXT if reason == "no text in the page" else replace(NOT_AN_ARTICLE, reason=reason)
        )
    return replace(
        doc,
        title=title,
        # The body may hold an <h1> of its own, or an <article> that the extractor reads
        # instead of the wrapper: the introduction is headed by the article's title anyway.
        sections=tuple(replace(s, heading=title) if s.level == 1 else s for s in doc.sections),
        url=_url(item.get("html_url")),
        kind="article",
        lang=language_tag(locale),
        meta={**doc.meta, **article_meta(item, article_id, locale)},
    )


def article_meta(item: dict[str, Any], article_id: int, locale: str | None) -> dict[str, Any]:
    """Return an article's meta: ``zendesk_id``, and ``locale``, ``updated_at``,
    ``section_id`` and ``labels`` where the export gives them usably."""
    meta: dict[str, Any] = {"zendesk_id": article_id}
    if locale:
        meta["locale"] = locale
    dates = (_date(item.get(field)) for field in ("edited_at", "updated_at", "created_at"))
    date = next((d for d in dates if d), None)
    if date:
        meta["updated_at"] = date
    section_id = _number(item.get("section_id"))
    if section_id is not None:
        meta["section_id"] = section_id
    labels = _labels(item.get("label_names"))
    if labels:
        meta["labels"] = labels[0] if len(labels) == 1 else labels
    return meta


def _hidden(item: dict[str, Any]) -> LeftOut | None:
    """Return why a visitor cannot read the article, or None if everyone can."""
    if not _off(item.get("draft")):
        return DRAFT
    status = item.get("status")
    if status is not None and not (isinstance(status, str) and status.strip().lower() == PUBLISHED):
        shown = _clean(str(status)).strip()[:40] or "empty"
        return replace(UNPUBLISHED, reason=f"status {shown}: not published")
    if not _off(item.get("archived")):
        return ARCHIVED
    if item.get("user_segment_id") is not None or item.get("user_segment_ids") not in (None, []):
        return RESTRICTED
    return None


def _off(flag: Any) -> bool:
    """Whether a flag is plainly unset (absent, false, 0, "false"); anything else counts as set."""
    if isinstance(flag, str):
        flag = flag.strip().lower()
    return isinstance(flag, str | bool | int | float | None) and flag in _OFF


def _number(value: Any) -> int | None:
    """Return a Zendesk id given as an integer or a string of digits, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip()) if len(value.strip()) <= 19 else None
    return value if isinstance(value, int) and 0 <= value < MAX_ID else None


def _string(value: Any) -> str:
    """Return a text field normalised, or "" when it is not text."""
    return normalize(_clean(value)) if isinstance(value, str) else ""


def _clean(text: str) -> str:
    """Return ``text`` with lone surrogates (``"\\ud800"`` is valid JSON) replaced: no
    encoder downstream can write them."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _locale(value: Any) -> str | None:
    """Return a locale such as ``en-us`` or ``zh-cn``, lower case, or None if it is not one."""
    if not isinstance(value, str):
        return None
    locale = value.strip().lower().replace("_", "-")
    return locale if _LOCALE.fullmatch(locale) and language_tag(locale) else None


def _url(value: Any) -> str | None:
    """Return ``html_url`` if it is a well-formed http(s) URL, else None."""
    if not isinstance(value, str) or any(c.isspace() or not c.isprintable() for c in value):
        return None
    try:
        return safe_url(_clean(value))
    except ValueError:  # urlsplit rejects a malformed host such as "http://[::1"
        return None


def _date(value: Any) -> str | None:
    """Return an ISO 8601 timestamp as UTC (``2024-03-01T10:00:00+00:00``), else None."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.strip())
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.astimezone(UTC).isoformat(timespec="seconds")
    except (ValueError, OverflowError):
        return None


def _labels(value: Any) -> list[str]:
    """Return ``label_names`` (a list, or a comma-separated string) normalised, without repeats."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        return []
    return list(dict.fromkeys(label for label in map(_string, items) if label))
