"""PDF manuals and data sheets → a document whose sections each lie on one page.

Text comes from the PDF's text layer, page by page, with pypdf: pure Python (nothing to
build, nothing that breaks on an air-gapped host), maintained, and it reads outlines and
decrypts owner-password PDFs itself (pdfplumber and pdfminer.six read text as well but have no
outline API; kb needs text, not layout). A PDF's outline (its bookmarks) gives the headings:
an outline entry starts a section at its line on its page when the line is found there, else
at the top of the page. Every section lies on one page and its anchor is ``page=N`` (1-based),
the PDF open parameter, so a citation ``…/manual.pdf#page=12`` opens the PDF at that page, and
kb's own article page shows the page's text under that anchor. A section that goes on over a
page break is cut there, and its second part keeps the heading: each part says its own page.
A PDF without an outline is a section per page under the document's title.

Lines repeated at the top or bottom of most pages (running headers, footers, page numbers)
are dropped, and lines a paragraph wrapped are joined again (without a space between Chinese
or Japanese characters), so passages read as sentences.

A PDF whose pages hold no text (a scan, kb does no OCR), that needs a password, that is not a
PDF, or that pypdf cannot parse has no document: :func:`read_pdf` returns the one-line reason.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from pypdf import PasswordType, PdfReader
from pypdf.generic import Destination

from kb.models import Document, Section
from kb.text import normalize, run_on

MAGIC = b"%PDF-"
MAX_PAGES = 5000  # a manual has hundreds; more is a book collection or a broken page tree
_TERMINAL = tuple(".!?:。！？：")  # ends of sentences, and a colon before a list
_BULLET = re.compile(r"^(?:[•●▪◦■□\-–*·]|\(?\d{1,3}[.)]|[a-z][.)]|[①-⑳])\s")
_NUMBERING = re.compile(
    r"^(?:(?:chapter|section|part|appendix)\s+)?(?:\d+(?:\.\d+)*\.?|[A-Z]\.|[IVXivx]+\.)\s*"
    r"|^第.{1,4}[章节部篇]\s*",
)
_DIGITS = re.compile(r"\d+")
_GAP = re.compile(r" {3,}")
ROW = "\x00"  # marks a line that stands alone: a table row or a line of code
_JUNK_TITLES = re.compile(r"^(?:untitled|microsoft (?:word|powerpoint) - .*|.*\.(?:docx?|pdf))$",
                          re.IGNORECASE)  # fmt: skip


@dataclass(frozen=True)
class Heading:
    """An outline entry: its title, depth (1 for the top) and page (0-based)."""

    title: str
    level: int
    page: int


def read_pdf(
    data: bytes, *, doc_id: str, source: str, url: str | None
) -> tuple[Document | None, str]:
    """Return the document in the PDF ``data``, or None and the one-line reason it has none.

    Never raises for bad content: a damaged, encrypted, scanned or non-PDF file gives a reason
    (``"encrypted: it needs a password"``). Sections carry ``page=N`` anchors; ``url`` is
    where the PDF is served, if anywhere.
    """
    if MAGIC not in data[:1024]:
        return None, "not a PDF (no %PDF- header)"
    with _quiet():
        try:
            return _read(data, doc_id=doc_id, source=source, url=url)
        except RecursionError:
            return None, "damaged PDF (objects nested without end)"
        except Exception as e:  # pypdf raises many kinds on broken files; none may escape
            return None, f"damaged PDF ({_first_line(e)})"


def _read(data: bytes, *, doc_id: str, source: str, url: str | None) -> tuple[Document | None, str]:
    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
        return None, "encrypted: it needs a password"
    count = len(reader.pages)
    if count > MAX_PAGES:
        return None, f"{count} pages, more than {MAX_PAGES}"
    pages = [_page_lines(reader, n) for n in range(count)]
    if not any(pages):
        return None, f"no text layer on its {count} pages (scanned? kb does no OCR)"
    pages = drop_running_lines(pages)
    title = _title(reader, pages, doc_id)
    sections = page_sections(pages, outline(reader), title)
    meta = {"pages": count}
    return (
        Document(
            id=doc_id, title=title, sections=tuple(sections), source=source, url=url, meta=meta
        ),  # fmt: skip
        "",
    )


def page_count(data: bytes) -> int:
    """Return the number of pages of the PDF ``data``, 0 if it cannot be read."""
    with _quiet():
        try:
            return len(PdfReader(io.BytesIO(data), strict=False).pages)
        except Exception:
            return 0


@contextmanager
def _quiet() -> Iterator[None]:
    """Keep pypdf's complaints about sloppy PDFs (logged and warned) out of the output."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _first_line(e: Exception) -> str:
    text = normalize(str(e).split("\n", 1)[0])[:120]
    return text or type(e).__name__


def _page_lines(reader: PdfReader, n: int) -> list[str]:
    """Return the lines of page ``n``'s text layer, laid out as on the page (a table row on
    one line), with ``""`` where a blank line parts paragraphs and ``"\x00"`` before a line
    that stands alone (a table row); a page pypdf fails on is empty.
    """
    try:
        text = reader.pages[n].extract_text(extraction_mode="layout")
    except Exception:  # one broken page costs that page, not the document
        return []
    raw = text.splitlines()
    rows = table_rows(raw)
    lines: list[str] = []
    for i, line in enumerate(raw):
        line = normalize(line)
        if line and i in rows:
            lines.append(ROW + line)
        elif line or (lines and lines[-1]):
            lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def table_rows(lines: Sequence[str]) -> set[int]:
    """Return the indices of ``lines`` (laid out with spaces) that are rows of a table.

    A row has a gap of three or more spaces between words, and a cell after a gap starts in
    the same column (within one character) as a cell of the line before or after it: words of
    justified prose are spaced out too, but not in columns that line up.
    """
    starts = []
    for line in lines:
        indent = len(line) - len(line.lstrip())
        starts.append({m.end() for m in _GAP.finditer(line.rstrip()) if m.start() > indent})
    rows: set[int] = set()
    for i in range(len(lines) - 1):
        a, b = starts[i], starts[i + 1]
        if a and b and any(abs(x - y) <= 1 for x in a for y in b):
            rows |= {i, i + 1}
    return rows


def outline(reader: PdfReader) -> list[Heading]:
    """Return the outline entries that point at a page, in outline order."""
    found: list[Heading] = []

    def walk(items: Sequence[object], level: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, level + 1)
                continue
            if not isinstance(item, Destination):
                continue
            try:
                page = reader.get_destination_page_number(item)
                title = normalize(str(item.title or ""))
            except Exception:
                continue
            if page is not None and page >= 0 and title:
                found.append(Heading(title=title[:200], level=min(level, 6), page=page))

    try:
        walk(reader.outline, 1)
    except Exception:  # a broken outline costs the headings, not the text
        return []
    return found


def drop_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Drop lines repeated at the top or bottom of most pages (headers, footers, page numbers).

    The first and last two lines of each page are compared with digits folded, so
    ``Manual 5 / 95`` and ``Manual 6 / 95`` are one line; one seen on at least half the pages
    (of four or more), or on three pages if it holds a number (``Chapter 3: Utilities 6``), is
    dropped wherever it stands at a page's edge. A bare page number is always dropped there.
    """

    def key(line: str) -> str:
        return _DIGITS.sub("#", line.lower())

    solid = [[line for line in lines if line] for lines in pages]
    edges = [set(map(key, lines[:2] + lines[-2:])) for lines in solid]
    counts = Counter(k for keys in edges for k in keys)
    running = {k for k, n in counts.items()
               if (len(pages) >= 4 and n >= len(pages) / 2) or (n >= 3 and "#" in k)}  # fmt: skip
    running |= {"#", "- # -", "— # —", "page #", "第 # 页", "第#页", "# / #"}
    out = []
    for lines in pages:
        cut = list(lines)
        while cut and (not cut[0] or key(cut[0]) in running):
            cut.pop(0)
        while cut and (not cut[-1] or key(cut[-1]) in running):
            cut.pop()
        out.append(cut)
    return out


def _title(reader: PdfReader, pages: list[list[str]], doc_id: str) -> str:
    try:
        meta = reader.metadata
        title = normalize(str(meta.title or "")) if meta else ""
    except Exception:
        title = ""
    if title and not _JUNK_TITLES.match(title):
        return title[:200]
    first = next((lines[0] for lines in pages if lines), "")
    return first[:120] if first else doc_id.rsplit("/", 1)[-1]


def _fold(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum())


def _heading_line(lines: list[str], start: int, title: str) -> int | None:
    """Return the index of the line from ``start`` that is the heading ``title``, or None.

    The line may carry the heading's number (``3.1.5 Thin clients``, ``第三章 安装``).
    """
    want = _fold(title)
    if not want:
        return None
    for i in range(start, len(lines)):
        line = _fold(_NUMBERING.sub("", lines[i].lstrip(ROW)))
        if line == want or (
            _fold(lines[i]).endswith(want) and len(_fold(lines[i])) - len(want) < 8
        ):
            return i
    return None


def page_sections(pages: list[list[str]], headings: list[Heading], title: str) -> list[Section]:
    """Return the sections of the text of ``pages``: each on one page, with ``page=N`` anchors.

    ``headings`` (outline order) start sections; text before a page's first heading goes on
    the section of the previous page under its heading; with no headings, each page is one
    section under ``title``.
    """
    by_page: dict[int, list[Heading]] = {}
    for h in headings:
        by_page.setdefault(h.page, []).append(h)
    sections: list[Section] = []
    current, level = title, 1
    for n, lines in enumerate(pages):
        anchor = f"page={n + 1}"
        parts: list[tuple[str, int, list[str]]] = [(current, level, [])]
        cursor = 0
        for h in by_page.get(n, []):
            at = _heading_line(lines, cursor, h.title)
            if at is None:
                if parts[-1][2] or cursor:  # not found after text: it starts here anyway
                    parts.append((h.title, h.level, []))
                else:
                    parts[-1] = (h.title, h.level, [])
                continue
            parts[-1][2].extend(lines[cursor:at])
            parts.append((h.title, h.level, []))
            cursor = at + 1
        parts[-1][2].extend(lines[cursor:])
        for heading, depth, body in parts:
            text = "\n".join(paragraphs(body))
            if text:
                sections.append(Section(heading=heading, text=text, anchor=anchor, level=depth))
        current, level = parts[-1][0], parts[-1][1]
    return sections


def paragraphs(lines: list[str]) -> list[str]:
    """Join the lines a paragraph was wrapped into; blank lines, list items and lines that end
    a sentence short of the text's width part paragraphs.

    A line that reaches near the widest line and does not end a sentence goes on in the next,
    unless that one starts a list item.
    """
    width = max((len(line) for line in lines if not line.startswith(ROW)), default=0)
    out: list[list[str]] = []
    for line in lines:
        if not line:
            if out and out[-1]:
                out.append([])
            continue
        last = out[-1][-1] if out and out[-1] else ""
        wrapped = len(last) >= 0.7 * width and not last.endswith(_TERMINAL)
        alone = line.startswith(ROW) or last.startswith(ROW)
        if (last and wrapped and not alone and not _BULLET.match(line)) or (out and not out[-1]):
            out[-1].append(line)
        else:
            out.append([line])
    return [run_on(p).replace(ROW, "") for p in out if p]
