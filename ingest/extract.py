"""HTML → title, language and sections with their anchors. Pure: text in, data out."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from urllib.parse import urljoin

from bs4 import BeautifulSoup, NavigableString, Tag, XMLParsedAsHTMLWarning
from bs4.element import Comment, ProcessingInstruction

from ingest.charsets import decode_html
from ingest.visibility import hides_own_text, is_hidden
from kb.models import Section
from kb.text import normalize, words

HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
# Elements that never hold article text.
DROP = {
    "script", "style", "noscript", "template", "nav", "aside", "footer", "form", "button",
    "iframe", "svg", "canvas", "select", "input", "textarea", "object", "embed", "dialog", "head",
}  # fmt: skip
DROP_ROLES = {"navigation", "banner", "contentinfo", "search", "complementary", "dialog"}
BLOCKS = {
    "p", "div", "section", "article", "main", "blockquote", "dl", "dt", "dd", "figure",
    "figcaption", "details", "summary", "address", "header", "center", "body", "html",
}  # fmt: skip
# Elements a browser lays out as blocks (or rows and cells): their text never runs into the
# text next to them, whatever the whitespace in the markup.
BLOCK_LEVEL = {
    *BLOCKS, *HEADINGS, "li", "ul", "ol", "menu", "pre", "table", "caption", "thead", "tbody",
    "tfoot", "tr", "td", "th", "hr", "hgroup", "fieldset", "legend", "nav", "aside", "footer",
    "form", "dialog", "option", "listing", "plaintext", "xmp",
}  # fmt: skip
_DISPLAYED_AS_BLOCK = re.compile(r"display\s*:\s*(block|flex|grid|list-item|table)", re.I)
_EMPTY_BRACKETS = re.compile(r"\s?\(\s*\)|\s?\[\s*\]")
_STRUCTURE = {*BLOCK_LEVEL, "br"}


@dataclass(frozen=True)
class Page:
    """What an HTML page says, without its chrome."""

    title: str
    lang: str | None
    canonical: str | None
    description: str | None
    sections: tuple[Section, ...]
    link_density: float = 0.0
    links: tuple[str, ...] = ()
    noindex: bool = False
    nofollow: bool = False
    labels: tuple[tuple[str, str], ...] = ()  # <meta name="kb:FIELD" content="…">

    @property
    def is_link_list(self) -> bool:
        """Whether the page is mostly links (a home or category page), not an article."""
        return self.link_density > 0.6

    @property
    def is_fragment_list(self) -> bool:
        """Whether the page is a long run of fragments (a string table), with no prose."""
        lines = [line for s in self.sections for line in s.text.splitlines() if line.strip()]
        short = sum(words(line) <= 4 for line in lines)
        return len(lines) >= 30 and short >= 0.9 * len(lines)


def extract(html: str | bytes, url: str | None = None, encoding: str | None = None) -> Page:
    """Return the title, language, canonical URL, sections and links of the page ``html``.

    Links are resolved against ``<base href>`` and ``url``; ``encoding`` is the charset the
    server declared (the page's own ``<meta charset>`` is used otherwise).
    """
    if isinstance(html, bytes):
        html = decode_html(html, encoding)
    with warnings.catch_warnings():
        # XHTML pages (DocBook output such as the GIMP manual) open with <?xml …?>; the HTML
        # parser reads them correctly, and bs4's advice to use an XML parser does not apply.
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(html, "lxml")
    root = soup.find("html")
    # The page's declared language: <html lang>, XHTML's xml:lang, else the old http-equiv.
    lang = (root.get("lang") or root.get("xml:lang")) if isinstance(root, Tag) else None
    lang = lang or _http_equiv(soup, "content-language")
    canonical = _link(soup, "canonical")
    description = _meta(soup, "description")
    robots = (_meta(soup, "robots") or "").lower()
    links = _links(soup, url)
    head_title = normalize(soup.title.get_text()) if soup.title else ""

    _strip_hidden(soup)
    main = _main_element(soup)
    _strip_chrome(main)
    _separate_blocks(main)
    density = link_density(main)
    builder = _SectionBuilder()
    builder.walk(main)
    sections = builder.finish()

    title = ""
    if sections and sections[0].level == 1:
        title = sections[0].heading
    title = title or _strip_site_suffix(head_title) or (sections[0].heading if sections else "")
    # The h1 section is the introduction: it carries the document title and no anchor.
    sections = [
        Section(heading=title, text=s.text, anchor=None, level=1) if s.level == 1 else s
        for s in sections
    ]
    return Page(
        title=title,
        lang=str(lang).strip() or None if lang else None,
        canonical=canonical,
        description=description,
        sections=tuple(s for s in sections if s.text),
        link_density=density,
        links=links,
        noindex="noindex" in robots or "none" in robots,
        nofollow="nofollow" in robots or "none" in robots,
        labels=_labels(soup),
    )


def _links(soup: BeautifulSoup, url: str | None) -> tuple[str, ...]:
    base = url or ""
    tag = soup.find("base", href=True)
    if isinstance(tag, Tag):
        base = urljoin(base, str(tag["href"]))
    out: dict[str, None] = {}
    for a in soup.find_all("a", href=True):
        rel = a.get("rel")
        rels: list[str] = [str(r) for r in rel] if isinstance(rel, list) else [str(rel or "")]
        if "nofollow" in rels:
            continue
        href = str(a["href"]).strip()
        if href and not href.startswith(("#", "javascript:", "mailto:", "tel:", "data:")):
            link = urljoin(base, href) if base else href
            if link.startswith(("http://", "https://")):  # a relative link with no base: none
                out[link] = None
    return tuple(out)


def link_density(element: Tag) -> float:
    """Return the share of the element's text that sits inside links."""
    total = len(normalize(element.get_text()))
    if total == 0:
        return 0.0
    linked = sum(len(normalize(a.get_text())) for a in element.find_all("a"))
    return min(linked / total, 1.0)


def _link(soup: BeautifulSoup, rel: str) -> str | None:
    for link in soup.find_all("link", href=True):
        rels = link.get("rel")
        names: list[str] = [str(r) for r in rels] if isinstance(rels, list) else [str(rels or "")]
        if rel in [r.lower() for r in names]:
            return str(link["href"]).strip() or None
    return None


def _labels(soup: BeautifulSoup) -> tuple[tuple[str, str], ...]:
    """Return the page's ``<meta name="kb:FIELD" content="…">`` labels (product, plan…)."""
    out = []
    for tag in soup.find_all("meta"):
        name = str(tag.get("name") or "")
        content = normalize(str(tag.get("content") or ""))
        if name.lower().startswith("kb:") and len(name) > 3 and content:
            out.append((name[3:].strip().lower(), content))
    return tuple(out)


def _http_equiv(soup: BeautifulSoup, name: str) -> str | None:
    for tag in soup.find_all("meta", attrs={"http-equiv": True}):
        if isinstance(tag, Tag) and str(tag.get("http-equiv", "")).lower() == name:
            content = tag.get("content")
            return str(content).split(",")[0].strip() if content else None
    return None


def _meta(soup: BeautifulSoup, name: str) -> str | None:
    tag = soup.find("meta", attrs={"name": name})
    content = tag.get("content") if isinstance(tag, Tag) else None
    return normalize(str(content)) or None if content else None


def _strip_site_suffix(title: str) -> str:
    """'Reset your password – Lumio Help' → 'Reset your password'."""
    parts = re.split(r"\s+[–—|·-]\s+", title)
    return parts[0].strip() if parts else title


def _main_element(soup: BeautifulSoup) -> Tag:
    for selector in ("main article", "article", "main", "[role=main]", "#content", ".content"):
        found = soup.select(selector)
        if found:
            # The largest candidate, so a teaser <article> in a sidebar does not win.
            return max(found, key=lambda t: len(t.get_text()))
    return soup.body or soup


def _strip_hidden(soup: BeautifulSoup) -> None:
    """Remove what a visitor cannot see, before a hidden ``<article>`` can pass for the main."""
    body = soup.body or soup
    for tag in body.find_all(is_hidden):
        if not tag.decomposed:
            tag.decompose()
    for tag in body.find_all(hides_own_text):  # font-size:0 around children that undo it
        for text in tag.find_all(string=True, recursive=False):
            text.replace_with(" ")


def _strip_chrome(main: Tag) -> None:
    doomed = []
    for tag in main.find_all(True):
        if tag.name in DROP or str(tag.get("role", "")).lower() in DROP_ROLES:
            doomed.append(tag)
        elif tag.name == "header" and tag.find("h1") is None:
            doomed.append(tag)  # a site banner, not an article header
    for tag in doomed:
        tag.decompose()
    for node in main.find_all(string=lambda s: isinstance(s, Comment | ProcessingInstruction)):
        node.extract()


def _separate_blocks(main: Tag) -> None:
    """Put whitespace where the browser breaks the text: around blocks and after ``<br>``.

    Without it, ``<td><p>29 EUR</p><p>per month</p></td>`` reads "29 EURper month". Inside
    ``<pre>`` a ``<br>`` or a block (one ``<div>`` per code line) ends a line.
    """
    in_pre = {id(d) for pre in main.find_all("pre") for d in pre.descendants}
    for tag in [d for d in main.descendants if isinstance(d, Tag) and _breaks_text(d)]:
        if id(tag) in in_pre:
            if not str(tag.next_sibling or "").startswith("\n"):
                tag.insert_after("\n")
            continue
        # Inserting is slow in bs4: only where no whitespace or block edge is there already.
        if tag.name != "br" and not _separated(tag, after=False):
            tag.insert_before(" ")
        if not _separated(tag, after=True):
            tag.insert_after("\n" if tag.name == "br" else " ")


def _separated(tag: Tag, *, after: bool) -> bool:
    """Whether whitespace or a block edge already ends the text before (or after) ``tag``.

    A block before ``tag`` counts (it put whitespace after itself); a block after does not,
    so that of two adjacent blocks exactly one inserts the space between them.
    """
    sibling = tag.next_sibling if after else tag.previous_sibling
    if sibling is None:
        return tag.parent is None or _breaks_text(tag.parent)
    if isinstance(sibling, NavigableString):
        text = str(sibling)
        return text[:1].isspace() if after else text[-1:].isspace()
    return not after and isinstance(sibling, Tag) and _breaks_text(sibling)


def _breaks_text(tag: Tag) -> bool:
    """Whether the browser puts ``tag`` on lines of its own (or, for ``<br>``, ends one)."""
    if tag.name in BLOCK_LEVEL or tag.name == "br":
        return True
    return bool(_DISPLAYED_AS_BLOCK.search(str(tag.get("style") or "")))


class _SectionBuilder:
    """Walks the main element in document order, cutting a new section at each heading."""

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self.heading = ""
        self.anchor: str | None = None
        self.level = 1
        self.lines: list[str] = []
        self.inline: list[str] = []
        self.last_id: str | None = None

    def walk(self, el: Tag) -> None:
        for child in el.children:
            if isinstance(child, NavigableString):
                if not isinstance(child, Comment):
                    self.inline.append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name
            if name in HEADINGS:
                self._heading(child)
            elif name in ("ul", "ol"):
                self._flush()
                self._list(child, depth=0)
            elif name == "table":
                self._flush()
                self._table(child)
            elif name == "pre":
                self._flush()
                code = _code(child)
                if code:
                    self.lines.append(code)
            elif name == "br":
                self._flush()
            elif name in BLOCKS or name == "li":
                if child.get("id") and name in ("section", "div"):
                    self.last_id = str(child["id"])
                self._flush()
                self.walk(child)
                self._flush()
            elif any(isinstance(d, Tag) and d.name in _STRUCTURE for d in child.descendants):
                self.walk(child)  # an inline element wrapping blocks, as broken markup does
            else:
                if name == "a" and child.get("id") and not child.get_text(strip=True):
                    self.last_id = str(child["id"])
                self.inline.append(child.get_text())

    def _heading(self, tag: Tag) -> None:
        self._flush()
        self._close_section()
        self.heading = normalize(tag.get_text())
        anchor = tag.get("id")
        if not anchor:
            inner = tag.find(id=True) or tag.find("a", attrs={"name": True})
            if isinstance(inner, Tag):
                anchor = inner.get("id") or inner.get("name")
        self.anchor = str(anchor) if anchor else self.last_id
        self.last_id = None
        self.level = HEADINGS[tag.name]

    def _list(self, tag: Tag, depth: int) -> None:
        ordered = tag.name == "ol"
        for number, li in enumerate(tag.find_all("li", recursive=False), start=1):
            nested = [c for c in li.find_all(["ul", "ol"], recursive=False)]
            for n in nested:
                n.extract()
            lines = _item_lines(li)
            if lines:
                marker = f"{number}." if ordered else "-"
                indent = "  " * depth
                self.lines.append(f"{indent}{marker} {lines[0]}")
                self.lines.extend(f"{indent}  {line}" for line in lines[1:])
            for n in nested:
                self._list(n, depth + 1)

    def _table(self, tag: Tag) -> None:
        caption = tag.find("caption", recursive=False)
        if caption is not None and normalize(caption.get_text()):
            self.lines.append(normalize(caption.get_text()))
        # Rows of this table; a table nested in a cell follows its row, as rows of its own.
        for tr in (tr for tr in tag.find_all("tr") if tr.find_parent("table") is tag):
            cells = tr.find_all(["th", "td"], recursive=False)
            nested = [
                t.extract()
                for cell in cells
                for t in cell.find_all("table")
                if t.find_parent("table") is tag
            ]
            texts = [normalize(c.get_text()) for c in cells]
            if any(texts):
                self.lines.append(" | ".join(texts))
            for inner in nested:
                self._table(inner)

    def _flush(self) -> None:
        text = _EMPTY_BRACKETS.sub("", normalize("".join(self.inline))).replace(" .", ".")
        self.inline = []
        if text:
            self.lines.append(text)

    def _close_section(self) -> None:
        text = "\n".join(self.lines).strip()
        self.lines = []
        if text or self.heading:
            self.sections.append(Section(self.heading, text, self.anchor, self.level))

    def finish(self) -> list[Section]:
        self._flush()
        self._close_section()
        return [s for s in self.sections if s.text or s.level == 1]


def _code(pre: Tag) -> str:
    """Return the text of a ``<pre>`` with its line breaks, or "" if it holds only spaces."""
    code = pre.get_text().strip("\n")
    return code if code.strip() else ""


def _item_lines(item: Tag) -> list[str]:
    """Return a list item's text as one line, and each ``<pre>`` in it as its own lines."""
    lines: list[str] = []
    prose: list[str] = []

    def gather(el: Tag) -> None:
        for child in el.children:
            if isinstance(child, Tag) and child.name == "pre":
                lines.append(normalize("".join(prose)))
                prose.clear()
                lines.extend(_code(child).splitlines())
            elif isinstance(child, Tag):
                gather(child)
            elif isinstance(child, NavigableString) and not isinstance(child, Comment):
                prose.append(str(child))

    gather(item)
    lines.append(normalize("".join(prose)))
    return [line for line in lines if line.strip()]
