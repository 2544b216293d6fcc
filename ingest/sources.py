"""Sources → documents: a folder or file of HTML, Markdown, PDF or Word, a JSONL file, a page."""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ingest.extract import Page, extract
from ingest.ids import Claim, sharing_groups, text_key, unique_ids
from kb.errors import SourceError
from kb.models import Document, Section
from kb.store import PageState
from kb.text import normalize, slugify

HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
DOCUMENT_SUFFIXES = {".pdf", ".docx"}  # read by ingest/pdf.py and ingest/docx.py
READABLE = HTML_SUFFIXES | MARKDOWN_SUFFIXES | DOCUMENT_SUFFIXES
MAX_FILE_BYTES = 100 * 1024 * 1024  # a file read whole: manuals with pictures stay under it
# Formats kb does not read, and what to do instead.
_UNREAD = {
    ".doc": "a Word 97-2003 .doc: save it as .docx",
    ".xls": "an Excel 97-2003 .xls: save it as .xlsx",
    ".pptx": "a slide deck: kb reads PDF, Word (.docx), HTML and Markdown",
    ".ppt": "a slide deck: kb reads PDF, Word (.docx), HTML and Markdown",
}
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)


@dataclass
class Batch:
    """The documents read from one source and the files passed over, with reasons."""

    source: str
    documents: list[Document] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    redactions: Counter[str] = field(default_factory=Counter)
    # Crawls only: documents seen but not re-read (unchanged, or a passing failure), documents
    # whose pages are gone, fetch failures, pages fetched, and whether the crawl saw everything
    # (only then may documents it did not see be removed), and if not, why not.
    kept: set[str] = field(default_factory=set)
    gone: set[str] = field(default_factory=set)
    failed: list[tuple[str, str]] = field(default_factory=list)
    fetched: int = 0
    complete: bool = True
    incomplete_because: list[str] = field(default_factory=list)
    pages: list[PageState] = field(default_factory=list)

    def incomplete(self, reason: str) -> None:
        """Record that the source was not seen whole (``reason``): nothing unseen is removed."""
        self.complete = False
        if reason not in self.incomplete_because:
            self.incomplete_because.append(reason)


def is_url(source: str) -> bool:
    """Return whether ``source`` is a web address."""
    return urlsplit(source).scheme in ("http", "https")


# A folder's ids held last time: (by file path, by text key), given the folder's source name.
HeldIds = Callable[[str], tuple[Mapping[str, str], Mapping[str, str]]]


def read_source(
    source: str, held: HeldIds | None = None, *, max_bytes: int = MAX_FILE_BYTES
) -> Batch:
    """Read every document of a file or folder; raise :class:`SourceError` if none can be read.

    ``held`` gives the ids a folder's files held last time, which they keep; a file over
    ``max_bytes`` is not read (in a folder it is skipped, alone it is an error).
    """
    path = Path(source).expanduser()
    if not path.exists():
        raise SourceError(f"no such file or folder: {source}")
    if path.is_dir():
        by_path, by_text = held(str(path.resolve())) if held else ({}, {})
        return read_folder(path, by_path, by_text, max_bytes=max_bytes)
    if path.suffix.lower() == ".jsonl":
        return read_jsonl(path)
    if path.suffix.lower() in READABLE:
        batch = Batch(source=str(path.resolve()))
        doc, reason = read_file(path, path.stem, batch.source, max_bytes=max_bytes)
        if doc is None:
            raise SourceError(f"cannot ingest {source}: {reason}")
        batch.documents.append(doc)
        return batch
    raise SourceError(
        f"cannot ingest {source}: "
        + _UNREAD.get(
            path.suffix.lower(),
            "expected a folder, an .html, .md, .pdf, .docx or .jsonl file, an FAQ sheet"
            " (.csv, .xlsx), a help-centre export or ticket export (.json, .csv) or an http(s)"
            " URL",
        )
    )


def read_folder(
    folder: Path,
    by_path: Mapping[str, str] | None = None,
    by_text: Mapping[str, str] | None = None,
    *,
    max_bytes: int = MAX_FILE_BYTES,
) -> Batch:
    """Read every HTML, Markdown, PDF or Word file below ``folder``; ids are paths without
    extension.

    Files whose paths differ only by extension (``faq.md``, ``faq.html``) are told apart: a
    file keeps the id it held last time (``by_path``: path → id; else ``by_text``: text key →
    id, for ids stored before paths were), the others in path order take the path without
    extension if free, else their whole path. Files with one main text are one document, the
    shortest path's (the others are skipped). The batch's pages record each file's id.
    """
    by_path, by_text = by_path or {}, by_text or {}
    batch = Batch(source=str(folder.resolve()))
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    read: list[tuple[str, Document]] = []
    for path in files:
        rel = path.relative_to(folder).as_posix()
        if path.suffix.lower() not in READABLE:
            batch.skipped.append((rel, _UNREAD.get(path.suffix.lower(), "not a format kb reads")))
            continue
        doc, reason = read_file(path, rel.rsplit(".", 1)[0], batch.source, max_bytes=max_bytes)
        if doc is None:
            batch.skipped.append((rel, reason))
        else:
            read.append((rel, doc))
    keys = [text_key(doc.sections) for _, doc in read]
    groups = sharing_groups([[key] for key in keys])
    first = [min(g, key=lambda i: (len(read[i][0]), read[i][0])) for g in groups]
    claims = [
        Claim(read[i][1].id, read[i][0], by_path.get(read[i][0]) or by_text.get(keys[i]))
        for i in first
    ]
    ids = unique_ids(claims)
    for group, (rel, doc), doc_id in zip(groups, (read[i] for i in first), ids, strict=True):
        batch.documents.append(replace(doc, id=doc_id))
        batch.pages.append(PageState(url=rel, doc_id=doc_id))
        others = (read[i][0] for i in group if read[i][0] != rel)
        batch.skipped.extend((other, f"duplicate of {rel}") for other in others)
    if not batch.documents:
        raise SourceError(f"no HTML, Markdown, PDF or Word documents in {folder}")
    return batch


def read_file(
    path: Path, doc_id: str, source: str, *, max_bytes: int = MAX_FILE_BYTES
) -> tuple[Document | None, str]:
    """Return the document in an HTML, Markdown, PDF or Word file, or None and the reason it
    has none (too large, damaged, no text…)."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return None, too_large(size, max_bytes)
        data = path.read_bytes()
    except OSError as e:
        return None, f"cannot be read ({e.strerror or e})"
    return file_document(data, path.suffix.lower(), doc_id=doc_id, source=source, url=None,
                         max_bytes=max_bytes)  # fmt: skip


def too_large(size: int, limit: int) -> str:
    """Return the reason a file of ``size`` bytes is not read (``limit`` bytes at most)."""
    return f"{size / 2**20:.0f} MiB, more than the {limit / 2**20:.0f} MiB a file may have"


def file_document(
    data: bytes, suffix: str, *, doc_id: str, source: str, url: str | None, max_bytes: int
) -> tuple[Document | None, str]:
    """Return the document in a file's ``data`` by its format (``suffix``: ``.pdf``, ``.md``…),
    or None and the one-line reason it has none. Never raises for bad content."""
    if suffix == ".pdf":
        from ingest.pdf import read_pdf

        return read_pdf(data, doc_id=doc_id, source=source, url=url)
    if suffix == ".docx":
        from ingest.docx import read_docx

        return read_docx(data, doc_id=doc_id, source=source, url=url, limit=max_bytes)
    if suffix in MARKDOWN_SUFFIXES:
        try:
            data = markdown_html(data.decode("utf-8")).encode("utf-8")
        except UnicodeDecodeError:
            return None, "not UTF-8 text"
    return html_document(data, doc_id=doc_id, source=source, url=url)


def markdown_html(text: str) -> str:
    """Return Markdown as an HTML page.

    Front matter's ``title:`` becomes its heading, ``lang:`` its language, and any other
    ``key: value`` a label (``<meta name="kb:key">``), as on an HTML page.
    """
    from markdown_it import MarkdownIt

    title, lang, labels = "", "", []
    match = _FRONT_MATTER.match(text)
    if match:
        text = text[match.end() :]
        for line in match.group(1).splitlines():
            key, _, value = line.partition(":")
            key, value = key.strip().lower(), value.strip().strip("\"'")
            if key == "title":
                title = value
            elif key == "lang":
                lang = value
            elif key and value and re.fullmatch(r"[a-z0-9_-]{1,40}", key):
                value = value.strip("[]")
                labels.append(f'<meta name="kb:{key}" content="{html.escape(value)}">')
    body = MarkdownIt("commonmark").enable("table").render(text)
    head = f"<h1>{html.escape(title)}</h1>" if title and "<h1>" not in body[:200] else ""
    lang_attr = f' lang="{html.escape(lang)}"' if lang else ""
    return (
        f"<html{lang_attr}><head>{''.join(labels)}</head>"
        f"<body><main>{head}{body}</main></body></html>"
    )


def html_document(
    data: bytes | str, *, doc_id: str, source: str, url: str | None
) -> tuple[Document | None, str]:
    """Return the document in an HTML page, or None and the reason it has none."""
    if isinstance(data, bytes) and b"\x00" in data[:4096]:
        return None, "binary content, not HTML"
    return page_document(extract(data), url, doc_id=doc_id, source=source)


def page_document(
    page: Page, url: str | None, *, doc_id: str | None = None, source: str = ""
) -> tuple[Document | None, str]:
    """Return the document of an extracted page, or None and the reason it is not one."""
    if not page.sections:
        return None, "no text in the page"
    if page.is_link_list:
        return None, "a page of links, not an article"
    if page.is_fragment_list:
        return None, "a list of fragments, not an article"
    if doc_id is None:
        if url is None:
            raise ValueError("a page needs an id or a URL")
        doc_id = url_doc_id(url)
    url = safe_url(url or page.canonical)
    return (
        Document(
            id=doc_id,
            title=page.title or doc_id,
            sections=page.sections,
            source=source,
            url=url,
            lang=page.lang,
            meta=page_meta(page),
        ),
        "",
    )


def page_meta(page: Page) -> dict[str, object]:
    """Return a page's metadata: its description and its labels, comma lists as lists."""
    meta: dict[str, object] = {"description": page.description} if page.description else {}
    for label, content in page.labels:
        values = [v.strip() for v in content.split(",") if v.strip()]
        meta[label] = values[0] if len(values) == 1 else values
    return meta


def safe_url(url: str | None) -> str | None:
    """Return ``url`` if it is an absolute http(s) URL, normalised; anything else is dropped.

    Links end up in citations and pages: a relative or ``javascript:`` URL must not.
    """
    if not url:
        return None
    from ingest.urls import normalize_url

    try:
        if urlsplit(url.strip()).scheme.lower() not in ("http", "https"):
            return None
    except ValueError:  # "http://[::1": a bracket never closed
        return None
    return normalize_url(url.strip(), None) or None


def read_jsonl(path: Path) -> Batch:
    """Read ``{"id", "title", "text", "url"?, ...}`` lines; every line must be valid."""
    batch = Batch(source=str(path.resolve()))
    seen: set[str] = set()
    with path.open(encoding="utf-8", errors="strict") as f:
        try:
            for number, line in enumerate(f, start=1):
                if line.strip():
                    doc = _jsonl_document(line, number, path, batch.source)
                    if doc.id in seen:
                        raise SourceError(f"{path}:{number}: duplicate id {doc.id!r}")
                    seen.add(doc.id)
                    batch.documents.append(doc)
        except UnicodeDecodeError:
            raise SourceError(f"{path} is not UTF-8 text") from None
    if not batch.documents:
        raise SourceError(f"no documents in {path}")
    return batch


def json_object(line: str, where: str) -> dict[str, Any]:
    """Parse one JSONL line that must hold an object; ``where`` names it in the error."""
    try:
        item = json.loads(line)
    except json.JSONDecodeError as e:
        raise SourceError(f"{where}: not valid JSON ({e.msg})") from None
    if not isinstance(item, dict):
        raise SourceError(f"{where}: expected a JSON object")
    return item


def _jsonl_document(line: str, number: int, path: Path, source: str) -> Document:
    where = f"{path.name}:{number}"
    item = json_object(line, where)
    text = item.get("text")
    if not isinstance(text, str) or not text.strip():
        raise SourceError(f"{where}: 'text' must be a non-empty string")
    raw_id = item.get("id", item.get("_id"))
    if raw_id is None or str(raw_id).strip() == "":
        raise SourceError(f"{where}: 'id' is missing")
    title = normalize(str(item.get("title") or "")) or _first_line(text)
    url = item.get("url")
    kind = str(item.get("kind") or "article")
    lang = item.get("lang")
    meta = {
        k: v
        for k, v in item.items()
        if k not in {"id", "_id", "title", "text", "url", "kind", "lang"}
    }
    body = "\n".join(normalize(p) for p in text.splitlines() if p.strip())
    return Document(
        id=str(raw_id),
        title=title,
        sections=(Section(heading=title, text=body, anchor=None, level=1),),
        source=source,
        url=safe_url(str(url)) if url else None,
        kind=kind,
        lang=str(lang) if lang else None,
        meta=meta,
    )


def _first_line(text: str) -> str:
    line = normalize(text.strip().splitlines()[0])
    return line[:120]


def url_doc_id(url: str) -> str:
    """Return a readable, stable document id for a web page: host and path as slugs, then its
    query string if it has one (``?id=2`` picks the article; tracking parameters are gone).

    Readable ids can collide (letter case, extension); :func:`ingest.ids.unique_ids` settles it.
    """
    parts = urlsplit(url)
    path = parts.path.rstrip("/") or "/index"
    stem = path.rsplit(".", 1)[0] if "." in path.rsplit("/", 1)[-1] else path
    doc_id = slugify(parts.netloc, 60) + "/" + "/".join(slugify(p) for p in stem.split("/") if p)
    return f"{doc_id}?{parts.query}" if parts.query else doc_id
