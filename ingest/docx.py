"""Word documents (.docx) → a document with sections, lists and tables as they read on the page.

A .docx is a zip archive of XML parts; python-docx, the well-kept reader of the format, opens
it, parses its parts and gives its styles and core properties. The body is read from
python-docx's XML elements, paragraphs and tables in document order, rather than through
``Document.iter_inner_content()`` and ``_Row.cells``: those skip content controls (where
templates keep their text) and climb a cell merged down a table row by row (minutes for a
table of a thousand rows). A table of contents is passed over: it repeats the headings.

- a heading (a built-in ``Heading 1``…``Heading 9`` style, an outline level on the paragraph
  or its styles, or ``Title``) starts a section of that level, anchored by the heading's slug
  made unique in the document (``setup``, ``setup-2``; Chinese headings keep their
  characters: ``如何重置密码``). Text before the first heading is the introduction: a level-1
  section headed by the document's title, with no anchor, as an HTML page's is;
- a list item is a line ``- text`` (as an HTML list item reads) or ``1. text``, two spaces of
  indent per level; numbers count the items of one list within a run of list paragraphs;
- a table row is a line of its cells joined by ``" | "``, as HTML tables read
  (:mod:`ingest.extract`); a cell merged across columns is read once in its row, one merged
  down rows in each of them, and a table in a cell follows its row;
- each line is normalised (:func:`kb.text.normalize`); empty lines and sections are dropped.

The title is the core properties' title, else the first ``Title`` paragraph, else the first
heading, else the last segment of the document id. ``meta`` holds the core properties'
description (Word's "Comments") as ``description``, as an HTML page's meta description is;
subject and keywords are left out, as an HTML page's keywords are.

Limits: :func:`ingest.compression.zip_problem` refuses, before anything is inflated, archives
that declare more than ``limit`` bytes uncompressed, too many members or a zip bomb's ratio.
A damaged file, another format or a file without text gives ``(None, reason)``, never an
exception.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import docx
from docx.document import Document as WordDocument
from docx.enum.style import WD_STYLE_TYPE
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.part import Part
from docx.opc.parts.coreprops import CorePropertiesPart
from docx.oxml.coreprops import CT_CoreProperties
from docx.oxml.document import CT_Document
from docx.oxml.exceptions import InvalidXmlError
from docx.oxml.ns import qn
from docx.oxml.numbering import CT_Numbering
from docx.oxml.styles import CT_Styles
from docx.styles.style import BaseStyle
from lxml import etree

from ingest.compression import zip_problem
from kb.models import Document, Section
from kb.text import normalize, slugify

# What python-docx raises reading the XML of a file it opened, when the XML breaks the schema:
# a required attribute missing, a number that is not one, a style id that breaks its XPath
# (tests/test_docx.py fuzzes it).
INVALID = (InvalidXmlError, ValueError, KeyError, etree.LxmlError)
BULLET = "-"  # as ingest/extract.py writes an HTML list item
# A compound file (OLE2), not a zip: Word 97-2003's .doc, and what Word saves a .docx with a
# password as (the encrypted package inside).
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_P, _TBL, _SDT, _SDT_CONTENT, _CUSTOM_XML = map(qn, ("w:p", "w:tbl", "w:sdt", "w:sdtContent",
                                                     "w:customXml"))  # fmt: skip


def _xpath(path: str) -> etree.XPath:
    return etree.XPath(path, namespaces={"w": _W})


# Runs whose text the page does not show are left out: deleted or moved away (tracked
# changes), ruby annotations over CJK text, and text boxes (drawn apart, and stored twice).
_RUNS = _xpath(
    ".//w:r[not(ancestor::w:del|ancestor::w:moveFrom|ancestor::w:rt|ancestor::w:txbxContent)]"
)
_OUTLINE_LEVEL = _xpath("./w:pPr/w:outlineLvl/@w:val")
_NUM_ID = _xpath("./w:pPr/w:numPr/w:numId/@w:val")
_NUM_LEVEL = _xpath("./w:pPr/w:numPr/w:ilvl/@w:val")
_GALLERY = _xpath("./w:sdtPr/w:docPartObj/w:docPartGallery/@w:val")
_OVERRIDE_FORMAT = _xpath(
    "./w:num[@w:numId=$num]/w:lvlOverride[@w:ilvl=$ilvl]/w:lvl/w:numFmt/@w:val"
)
_ABSTRACT_ID = _xpath("./w:num[@w:numId=$num]/w:abstractNumId/@w:val")
_ABSTRACT_FORMAT = _xpath(
    "./w:abstractNum[@w:abstractNumId=$id]/w:lvl[@w:ilvl=$ilvl]/w:numFmt/@w:val"
)
# Style names, as python-docx gives them (built-in headings in English, whatever the language).
_HEADING_STYLE = re.compile(r"heading ([1-9])", re.I)
_LIST_STYLE = re.compile(r"list (bullet|number)(?: ([2-9]))?", re.I)
_CONTENTS_STYLE = re.compile(r"toc (?:[1-9]|heading)", re.I)  # a table of contents' lines
_PLACEHOLDERS = {"generated by python-docx"}  # python-docx's template's description
_MAX_BASES = 20  # styles followed up a chain of "based on": a damaged file may loop


@dataclass(frozen=True)
class _Block:
    """A heading (``level`` 1-9; ``title`` for a ``Title`` paragraph) or a line of text (0)."""

    text: str
    level: int = 0
    title: bool = False


@dataclass(frozen=True)
class _ListItem:
    """A list paragraph: its list (a numbering id or style name), depth and kind of marker.

    ``numbered`` is None for a level formatted ``none``: a line with no marker.
    """

    list_id: str
    depth: int
    numbered: bool | None


def read_docx(
    data: bytes, *, doc_id: str, source: str, url: str | None, limit: int
) -> tuple[Document | None, str]:
    """Return the document in the .docx file ``data``, or None and a one-line reason.

    ``limit`` is the most bytes the archive may inflate to. A damaged file, another format, a
    zip bomb or a file with no text gives the reason; only a programming error raises.
    """
    if data.startswith(OLE2_MAGIC):
        return None, "a password-protected Word file, or an old .doc (Word 97-2003): not a .docx"
    problem = zip_problem(data, limit=limit)
    if problem:
        return None, problem
    word, problem = _open(data)
    if word is None:
        return None, problem
    try:
        blocks = list(_body(word))
        title, description = _core_properties(word)
    except INVALID as e:
        return None, _reason(e)
    title = title or _first_heading(blocks) or doc_id.rstrip("/").rsplit("/", 1)[-1]
    sections = _sections(blocks, title)
    if not sections:
        return None, "no text in the document"
    meta = {"description": description} if description else {}
    return Document(id=doc_id, title=title, sections=sections, source=source, url=url,
                    kind="article", lang=None, meta=meta), ""  # fmt: skip


def _open(data: bytes) -> tuple[WordDocument | None, str]:
    """Return the Word document in ``data`` opened by python-docx, or None and why it is not.

    Opening runs only python-docx, which raises what it meets in a damaged package as it
    comes: KeyError, ValueError, zipfile's, zlib's and lxml's errors, even AttributeError and
    TypeError (a relationships part without its elements or attributes). Each is a reason.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # what a damaged file warns of, its reason says
            word = docx.Document(io.BytesIO(data))
    except Exception as e:  # no code of ours runs inside: see the docstring
        return None, _reason(e)
    problem = _misshapen(word)
    return (None, problem) if problem else (word, "")


def _misshapen(word: WordDocument) -> str:
    """Return what is not the part python-docx takes it for in an opened document, or "".

    python-docx reads a part by its relationship and trusts its root element: a body or
    styles part with another root would fail it later, with AttributeError.
    """
    if not isinstance(word.element, CT_Document):
        return "a damaged Word document (its main part holds no document)"
    styles = _related(word.part, RT.STYLES)
    if styles is not None and not isinstance(getattr(styles, "element", None), CT_Styles):
        return "a damaged Word document (its styles part holds no styles)"
    return ""


def _related(source: Any, reltype: str) -> Part | None:
    """Return the one part ``source`` relates to by ``reltype``, or None (none, or several)."""
    try:
        return source.part_related_by(reltype)
    except (KeyError, ValueError):
        return None


def _first_heading(blocks: list[_Block]) -> str:
    """Return the first ``Title`` paragraph's text, else the first heading's, else ""."""
    headings = [b for b in blocks if b.level]
    return next((b.text for b in headings if b.title), headings[0].text if headings else "")


def _sections(blocks: list[_Block], title: str) -> tuple[Section, ...]:
    """Return ``blocks`` as sections, a new one at each heading; those without text dropped.

    Text before the first heading is the introduction, headed ``title`` at level 1 with no
    anchor (as :func:`ingest.extract.extract` makes it); a ``Title`` paragraph reading
    ``title`` before any other heading continues it. Anchors: see :func:`_anchors`.
    """
    parts: list[tuple[str, int, list[str]]] = [(title, 1, [])]
    for block in blocks:
        if not block.level:
            parts[-1][2].append(block.text)
        elif not (block.title and len(parts) == 1 and block.text == title):
            parts.append((block.text, block.level, []))
    intro = "\n".join(parts[0][2])
    rest = [(heading, level, "\n".join(lines)) for heading, level, lines in parts[1:] if lines]
    reserved = {slugify(title)} if intro else set()  # the intro's id on kb's article page
    anchors = _anchors([heading for heading, _, _ in rest], reserved)
    sections = [Section(h, text, anchor, level)
                for (h, level, text), anchor in zip(rest, anchors, strict=True)]  # fmt: skip
    return (Section(title, intro, None, 1), *sections) if intro else tuple(sections)


def _anchors(headings: list[str], reserved: set[str]) -> list[str]:
    """Return each heading's slug, numbered ``-2``, ``-3``… where an earlier one (or
    ``reserved``) has it: ``["Setup", "Setup", "设置"]`` → ``["setup", "setup-2", "设置"]``.

    :func:`kb.text.slugify` keeps Chinese, Japanese and Korean characters (links quote them)
    and gives ``item`` for a heading of symbols only.
    """
    used = set(reserved)
    out: list[str] = []
    for heading in headings:
        slug = anchor = slugify(heading)
        n = 1
        while anchor in used:
            n += 1
            anchor = f"{slug}-{n}"
        used.add(anchor)
        out.append(anchor)
    return out


def _body(word: WordDocument) -> Iterator[_Block]:
    """Yield the headings and lines of text of a Word document's body, in document order."""
    lists = _ListCounter()
    numbering = _numbering(word)
    chains: dict[str | None, list[BaseStyle]] = {}  # by style id: a style's chain is read once
    body = word.element.body  # a CT_Document: see _misshapen
    for element in _blocks(body) if body is not None else ():
        if element.tag == _TBL:
            lists.reset()
            yield from (_Block(line) for line in _table_lines(element))
            continue
        lines = _paragraph_lines(element)
        style_id = element.style
        if style_id not in chains:
            chains[style_id] = _style_chain(word, style_id)
        if not lines or _is_contents_line(chains[style_id]):
            continue  # an empty paragraph does not end a list, nor does a contents line
        level, is_title = _heading_level(element, chains[style_id])
        place = None if level else _list_item(element, chains[style_id], numbering)
        if level:
            lists.reset()
            yield _Block(" ".join(lines), level, is_title)
        elif place is None:
            lists.reset()
            yield from (_Block(line) for line in lines)
        else:
            indent = "  " * place.depth
            yield _Block(f"{indent}{lists.marker(place)}{lines[0]}")
            yield from (_Block(f"{indent}  {line}") for line in lines[1:])


def _blocks(container: Any) -> Iterator[Any]:
    """Yield the paragraphs and tables (``w:p``, ``w:tbl``) of a body or a cell in order,
    those inside content controls too; a table of contents is passed over (it repeats the
    headings)."""
    for child in container.iterchildren():
        if child.tag in (_P, _TBL):
            yield child
        elif child.tag == _SDT and not any("contents" in v.lower() for v in _GALLERY(child)):
            for content in child.iterchildren(_SDT_CONTENT):
                yield from _blocks(content)
        elif child.tag == _CUSTOM_XML:
            yield from _blocks(child)


def _paragraph_lines(p: Any) -> list[str]:
    """Return the lines of paragraph ``p`` (split at its line breaks), normalised, empty ones
    dropped.

    The text is what the page shows: text inserted with tracked changes, in content controls
    and in fields is read; deleted text, ruby annotations and text boxes are not.
    """
    text = "".join(run.text for run in _RUNS(p))
    return [line for line in map(normalize, re.split(r"[\n\r]", text)) if line]


def _table_lines(tbl: Any) -> list[str]:
    """Return the rows of table ``tbl`` as lines, cells joined by ``" | "``; empty rows go.

    A cell merged across columns is one cell; one merged down rows is read in each of its
    rows, as python-docx reads it. A table in a cell follows the cell's row, as rows of its
    own. Each row is read once, so the time is linear in the table's size.
    """
    lines: list[str] = []
    above: dict[int, str] = {}  # the text of the row above's cells, by the grid column they start
    for tr in tbl.tr_lst:
        texts: list[str] = []
        starts: dict[int, str] = {}
        column = tr.grid_before
        for tc in tr.tc_lst:
            text = above.get(column, "") if tc.vMerge == "continue" else _cell_text(tc)
            texts.append(text)
            starts[column] = text
            column += tc.grid_span
        above = starts
        if any(texts):
            lines.append(" | ".join(texts))
        for tc in tr.tc_lst:
            for inner in _blocks(tc):
                if inner.tag == _TBL:
                    lines.extend(_table_lines(inner))
    return lines


def _cell_text(tc: Any) -> str:
    """Return the text of the paragraphs of cell ``tc`` on one line (tables in it left out)."""
    paragraphs = (p for p in _blocks(tc) if p.tag == _P)
    return " ".join(line for p in paragraphs for line in _paragraph_lines(p))


def _style_chain(word: WordDocument, style_id: str | None) -> list[BaseStyle]:
    """Return the paragraph style ``style_id`` (the default one if None or unknown) and the
    styles it is based on, nearest first."""
    chain: list[BaseStyle] = []
    style: BaseStyle | None = word.part.get_style(style_id, WD_STYLE_TYPE.PARAGRAPH)
    while style is not None and len(chain) < _MAX_BASES:
        if any(style.element is seen.element for seen in chain):
            break  # a damaged file's styles based on each other
        chain.append(style)
        style = getattr(style, "base_style", None)
    return chain


def _is_contents_line(styles: list[BaseStyle]) -> bool:
    """Whether a paragraph of these styles is a line of a table of contents (``TOC 1``…)."""
    return bool(styles) and _CONTENTS_STYLE.fullmatch(styles[0].name or "") is not None


def _heading_level(p: Any, styles: list[BaseStyle]) -> tuple[int, bool]:
    """Return the paragraph's heading level (0 for body text) and whether it is a ``Title``.

    The paragraph's own outline level decides first, then each style of its chain in turn:
    a built-in heading's name, ``Title``, or an outline level (``w:outlineLvl`` 0-8; 9 is body
    text). python-docx gives built-in styles their English names, whatever Word's language.
    """
    own = _outline_level(p)
    if own is not None:
        return own, False
    for style in styles:
        match = _HEADING_STYLE.fullmatch(style.name or "")
        if match:
            return int(match.group(1)), False
        if (style.name or "").lower() == "title":
            return 1, True
        level = _outline_level(style.element)
        if level is not None:
            return level, False
    return 0, False


def _outline_level(element: Any) -> int | None:
    """Return the heading level ``w:pPr/w:outlineLvl`` gives (0: body text), or None."""
    values = _OUTLINE_LEVEL(element)
    if not values:
        return None
    level = _level(values[0])
    return level + 1 if level is not None and level < 9 else 0


def _level(value: object) -> int | None:
    """Return an XML level attribute (``w:ilvl``, ``w:outlineLvl``: 0-9) as a number, or None."""
    text = str(value).strip()
    return int(text) if len(text) == 1 and text in "0123456789" else None


def _list_item(p: Any, styles: list[BaseStyle], numbering: CT_Numbering | None) -> _ListItem | None:
    """Return the paragraph's place in a list, or None if it is not a list item.

    A list item has numbering (``w:numPr`` on it or its styles; ``numId`` 0 takes it away)
    or a ``List Bullet``/``List Number`` style (``List Bullet 2``: one level deeper). Its
    marker is its numbering level's format, else its style's name says bullet or number.
    """
    elements = [p, *(s.element for s in styles)]
    num_id = next((str(v).strip() for e in elements for v in _NUM_ID(e)), "")
    ilvl = next((str(v).strip() for e in elements for v in _NUM_LEVEL(e)), "")
    named = next((m for s in styles if (m := _LIST_STYLE.fullmatch(s.name or ""))), None)
    numbered = num_id not in ("", "0")
    if not numbered and named is None:
        return None
    depth = min(_level(ilvl) or 0, 8)
    if not depth and named and named.group(2):
        depth = int(named.group(2)) - 1
    fmt = _number_format(numbering, num_id, depth) if numbered else ""
    if fmt:
        kind = None if fmt == "none" else fmt != "bullet"
    else:
        kind = bool(named and named.group(1).lower() == "number")
    list_id = num_id if numbered else named.group(0) if named else ""
    return _ListItem(list_id=list_id, depth=depth, numbered=kind)


def _numbering(word: WordDocument) -> CT_Numbering | None:
    """Return the document's numbering definitions (``w:numbering``), or None if it has none."""
    element = getattr(_related(word.part, RT.NUMBERING), "element", None)
    return element if isinstance(element, CT_Numbering) else None


def _number_format(numbering: CT_Numbering | None, num_id: str, ilvl: int) -> str:
    """Return the format of list ``num_id`` at level ``ilvl`` (``bullet``, ``decimal``…) or "".

    The list's override of the level comes first, then its abstract definition.
    """
    if numbering is None:
        return ""
    level = str(ilvl)
    found = _OVERRIDE_FORMAT(numbering, num=num_id, ilvl=level)
    abstract = _ABSTRACT_ID(numbering, num=num_id)
    if not found and abstract:
        found = _ABSTRACT_FORMAT(numbering, id=str(abstract[0]), ilvl=level)
    return str(found[0]) if found else ""


@dataclass
class _ListCounter:
    """The list and count of items open at each depth, in one run of list paragraphs."""

    counts: dict[int, tuple[str, int]] = field(default_factory=dict)

    def marker(self, item: _ListItem) -> str:
        """Return the item's marker (``"- "``, ``"3. "`` or ""), counting it; deeper lists end."""
        last, count = self.counts.get(item.depth, ("", 0))
        number = count + 1 if last == item.list_id else 1
        self.counts = {d: c for d, c in self.counts.items() if d < item.depth}
        self.counts[item.depth] = (item.list_id, number)
        if item.numbered is None:
            return ""
        return f"{number}. " if item.numbered else f"{BULLET} "

    def reset(self) -> None:
        """End the run of list paragraphs: the next list starts at 1."""
        self.counts = {}


def _core_properties(word: WordDocument) -> tuple[str, str]:
    """Return the core properties' title and description, "" where unset or unreadable.

    A file without core properties has none (python-docx would make up "Word Document").
    """
    part = _related(word.part.package, RT.CORE_PROPERTIES)
    if not isinstance(part, CorePropertiesPart) or not isinstance(part.element, CT_CoreProperties):
        return "", ""
    description = normalize(part.core_properties.comments or "")
    title = normalize(part.core_properties.title or "")
    return title, "" if description in _PLACEHOLDERS else description


def _reason(error: Exception) -> str:
    """Return one line saying why python-docx could not read a file."""
    message = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    detail = message.strip().splitlines()[0][:120] if message.strip() else "no detail"
    if isinstance(error, KeyError) and "[Content_Types].xml" in detail:
        return "a zip archive, but not a Word document (no [Content_Types].xml)"
    if "is not a Word file" in message:
        kind = message.rpartition("content type is ")[2].strip("'")[:120]
        return f"an Office file, but not a Word document ({kind})"
    if isinstance(error, etree.XMLSyntaxError):
        return f"a damaged Word document: broken XML ({detail})"
    kind = type(error).__name__
    kind = f"{type(error).__module__}.{kind}" if kind == "error" else kind  # zlib.error
    return f"a damaged Word document ({kind}: {detail})"
