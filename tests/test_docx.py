"""Word documents (ingest/docx.py): sections, anchors, lists and tables as they read on the page;
damaged, foreign and hostile files refused with a one-line reason, never an exception.

Every file is made here with python-docx (or zipfile, for what is not a Word document): no
binary fixtures.
"""

import io
import time
import zipfile
from functools import cache

import docx
import openpyxl
import pytest
from docx.enum.style import WD_STYLE_TYPE
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import nsdecls, qn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from ingest.docx import read_docx
from ingest.extract import extract
from kb.models import Document

LIMIT = 50 * 2**20
W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
# A 1×1 GIF: the picture of a document without text.
GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00"
       b"\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")  # fmt: skip


def save(document) -> bytes:
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def read(data: bytes, doc_id: str = "guides/router") -> tuple[Document | None, str]:
    return read_docx(data, doc_id=doc_id, source="/docs", url=None, limit=LIMIT)


def outline_level(element, level: int) -> None:
    """Give a paragraph or style ``w:outlineLvl`` (0 = heading level 1), as WPS and Word do."""
    outline = OxmlElement("w:outlineLvl")
    outline.set(qn("w:val"), str(level))
    element.get_or_add_pPr().append(outline)


@cache
def guide() -> bytes:
    """An English guide: text before the first heading, sections, lists and a table."""
    d = docx.Document()
    props = d.core_properties
    props.title, props.subject, props.keywords = "Router guide", "Routers", "wifi, setup"
    props.comments = "How to set up the Lumio router"
    d.add_paragraph("Read this before you start.")
    d.add_paragraph("")  # empty paragraphs are dropped
    d.add_heading("Setup", 1)
    d.add_paragraph("Plug the router in.")
    d.add_paragraph("Open the app.", style="List Number")
    d.add_paragraph("Tap Add device.", style="List Number")
    d.add_paragraph("Hold the button for five seconds.", style="List Bullet 2")
    d.add_paragraph("")  # does not end the list
    d.add_paragraph("Wait for the blue light.", style="List Number")
    d.add_paragraph("Works with iOS and Android.", style="List Bullet")
    d.add_paragraph("Then, on the phone:")
    d.add_paragraph("Open Settings.", style="List Number")  # a new run counts from 1
    d.add_paragraph("Choose Wi-Fi.", style="List Number")
    d.add_heading("Plans", 2)
    table = d.add_table(rows=3, cols=3)
    for cell, text in zip(table.rows[0].cells, ("Plan", "Price", "Support"), strict=True):
        cell.text = text
    for cell, text in zip(table.rows[1].cells, ("Basic", "5 EUR", "Email"), strict=True):
        cell.text = text
    merged = table.cell(2, 0).merge(table.cell(2, 1))
    merged.text = "Pro: everything in Basic"
    table.cell(2, 2).text = "Phone"
    d.add_paragraph("Prices include VAT.")
    d.add_heading("Troubleshooting", 1)
    line = d.add_paragraph("If the light blinks red:")
    line.runs[0].add_break()
    line.add_run("restart the router.")
    d.add_heading("Setup", 2)  # the same heading again: its anchor is numbered
    d.add_paragraph("Run setup again from the app.")
    d.add_heading("Empty section", 2)  # no text: no section
    return save(d)


@cache
def chinese_guide() -> bytes:
    """A Chinese guide: a Title paragraph, built-in and WPS-style headings, a repeated one."""
    d = docx.Document()
    d.add_paragraph("路由器使用指南", style="Title")
    d.add_paragraph("本指南介绍如何设置路由器。")
    d.add_heading("常见问题", 1)
    d.add_paragraph("以下是用户最常问的问题。")
    wps_heading = d.styles.add_style("标题 2", WD_STYLE_TYPE.PARAGRAPH)  # as WPS names it
    outline_level(wps_heading.element, 1)
    d.add_paragraph("如何重置密码？", style=wps_heading)
    d.add_paragraph("按住复位键十秒。")
    d.add_heading("常见问题", 1)
    d.add_paragraph("更多问题请联系客服。")
    contact = d.add_paragraph("联系我们")  # a heading by its own outline level
    outline_level(contact._p, 2)
    d.add_paragraph("电话：400-123-4567")
    return save(d)


def test_headings_become_sections_with_unique_anchors():
    doc, reason = read(guide())
    assert doc is not None and reason == ""
    assert (doc.id, doc.title, doc.source, doc.url, doc.kind, doc.lang) == (
        "guides/router", "Router guide", "/docs", None, "article", None)  # fmt: skip
    outline = [(s.heading, s.anchor, s.level) for s in doc.sections]
    assert outline == [
        ("Router guide", None, 1),  # the text before the first heading, as HTML pages have it
        ("Setup", "setup", 1),
        ("Plans", "plans", 2),
        ("Troubleshooting", "troubleshooting", 1),
        ("Setup", "setup-2", 2),
    ]
    assert doc.sections[0].text == "Read this before you start."
    assert doc.sections[3].text == "If the light blinks red:\nrestart the router."
    # No section runs into the next: each holds only its own text.
    assert doc.sections[4].text == "Run setup again from the app."
    assert not any("Troubleshooting" in s.text or "Plans" in s.text for s in doc.sections)


def test_metadata_is_the_description_as_on_html_pages():
    doc, _ = read(guide())
    assert doc is not None and doc.meta == {"description": "How to set up the Lumio router"}
    bare, _ = read(chinese_guide())  # python-docx's own "generated by python-docx" is no one's
    assert bare is not None and bare.meta == {}


def test_lists_read_as_on_the_page():
    doc, _ = read(guide())
    assert doc is not None
    assert doc.sections[1].text.splitlines() == [
        "Plug the router in.",
        "1. Open the app.",
        "2. Tap Add device.",
        "  - Hold the button for five seconds.",
        "3. Wait for the blue light.",
        "- Works with iOS and Android.",
        "Then, on the phone:",
        "1. Open Settings.",
        "2. Choose Wi-Fi.",
    ]


def test_a_table_reads_as_the_same_table_on_an_html_page():
    doc, _ = read(guide())
    assert doc is not None
    lines = doc.sections[2].text.splitlines()
    assert lines == [
        "Plan | Price | Support",
        "Basic | 5 EUR | Email",
        "Pro: everything in Basic | Phone",  # merged across two columns: read once
        "Prices include VAT.",
    ]
    page = extract(
        "<main><h2>Plans</h2><table><tr><th>Plan</th><th>Price</th><th>Support</th></tr>"
        "<tr><td>Basic</td><td>5 EUR</td><td>Email</td></tr>"
        "<tr><td colspan=2>Pro: everything in Basic</td><td>Phone</td></tr></table></main>"
    )
    assert page.sections[-1].text.splitlines() == lines[:3]


def test_a_chinese_document_keeps_usable_unique_anchors():
    doc, reason = read(chinese_guide(), doc_id="指南/路由器")
    assert doc is not None, reason
    assert doc.title == "路由器使用指南"  # no core title: the Title paragraph
    outline = [(s.heading, s.anchor, s.level, s.text) for s in doc.sections]
    assert outline == [
        ("路由器使用指南", None, 1, "本指南介绍如何设置路由器。"),
        ("常见问题", "常见问题", 1, "以下是用户最常问的问题。"),
        ("如何重置密码？", "如何重置密码", 2, "按住复位键十秒。"),
        ("常见问题", "常见问题-2", 1, "更多问题请联系客服。"),
        ("联系我们", "联系我们", 3, "电话：400-123-4567"),
    ]


@pytest.mark.parametrize(
    ("build", "title"),
    [
        (lambda d: d.add_heading("Pairing the hub", 1), "Pairing the hub"),
        (lambda d: None, "router"),  # no heading at all: the last segment of the id
    ],
)
def test_without_a_title_the_first_heading_or_the_id_names_the_document(build, title):
    d = docx.Document()
    build(d)
    d.add_paragraph("Hold the button until the light blinks.")
    doc, _ = read(save(d))
    assert doc is not None and doc.title == title


def test_a_heading_with_the_title_text_does_not_take_the_introductions_anchor():
    d = docx.Document()
    d.core_properties.title = "Setup"
    d.add_paragraph("Before you begin, charge the hub.")
    d.add_heading("Setup", 1)
    d.add_paragraph("Open the app.")
    doc, _ = read(save(d))
    assert doc is not None
    # kb's article page gives the introduction the id "setup": the heading takes the next one.
    assert [(s.heading, s.anchor) for s in doc.sections] == [("Setup", None), ("Setup", "setup-2")]


def numbered(paragraph, num_id: int, ilvl: int = 0) -> None:
    """Number ``paragraph`` directly (``w:numPr``), as Word does for a list typed in Normal."""
    num_pr = OxmlElement("w:numPr")
    for tag, value in (("w:ilvl", ilvl), ("w:numId", num_id)):
        child = OxmlElement(tag)
        child.set(qn("w:val"), str(value))
        num_pr.append(child)
    paragraph._p.get_or_add_pPr().append(num_pr)


def test_numbering_on_the_paragraph_says_bullet_or_number():
    d = docx.Document()
    d.add_heading("Steps", 1)
    for text, num_id, ilvl in [("Unpack the hub.", 5, 0), ("Plug it in.", 5, 0),
                               ("Any socket will do.", 1, 1), ("Open the app.", 5, 0)]:  # fmt: skip
        numbered(d.add_paragraph(text), num_id, ilvl)  # numId 5 is decimal, 1 a bullet
    doc, _ = read(save(d))
    assert doc is not None
    assert doc.sections[0].text.splitlines() == [
        "1. Unpack the hub.", "2. Plug it in.", "  - Any socket will do.", "3. Open the app.",
    ]  # fmt: skip


def body_xml(document, xml: str) -> None:
    """Append raw WordprocessingML to the body of ``document``."""
    document.add_paragraph()._p.addnext(parse_xml(f"<w:body {nsdecls('w')}>{xml}</w:body>")[0])


def test_what_the_page_shows_is_read_and_nothing_else():
    d = docx.Document()
    body_xml(d, '<w:sdt><w:sdtPr><w:docPartObj><w:docPartGallery w:val="Table of Contents"/>'
                "</w:docPartObj></w:sdtPr><w:sdtContent><w:p><w:r><w:t>Returns 1</w:t></w:r>"
                "</w:p></w:sdtContent></w:sdt>")  # fmt: skip
    d.add_paragraph("Returns\t1", style=d.styles.add_style("toc 1", WD_STYLE_TYPE.PARAGRAPH))
    d.add_heading("Returns", 1)
    body_xml(d, "<w:p><w:r><w:t xml:space='preserve'>Returns within </w:t></w:r>"
                "<w:del w:id='1' w:author='a'><w:r><w:delText>30</w:delText></w:r></w:del>"
                "<w:ins w:id='2' w:author='a'><w:r><w:t>60</w:t></w:r></w:ins>"
                "<w:r><w:t xml:space='preserve'> days.</w:t></w:r></w:p>")  # fmt: skip
    body_xml(d, "<w:sdt><w:sdtPr/><w:sdtContent><w:p><w:r><w:t>Keep the receipt.</w:t></w:r>"
                "</w:p></w:sdtContent></w:sdt>")  # fmt: skip
    body_xml(d, "<w:p><w:r><w:ruby><w:rubyPr/><w:rt><w:r><w:t>tuì</w:t></w:r></w:rt>"
                "<w:rubyBase><w:r><w:t>退</w:t></w:r></w:rubyBase></w:ruby></w:r>"
                "<w:r><w:t>货政策</w:t></w:r></w:p>")  # fmt: skip
    doc, _ = read(save(d))
    assert doc is not None
    # Tables of contents are not read; the deleted "30" and the ruby's "tuì" are not either.
    assert [(s.heading, s.text) for s in doc.sections] == [
        ("Returns", "Returns within 60 days.\nKeep the receipt.\n退货政策")
    ]


def test_a_cell_merged_down_a_long_table_is_read_in_each_row_quickly():
    d = docx.Document()
    d.add_heading("Error codes", 1)
    table = d.add_table(rows=1000, cols=2)
    table.cell(0, 0).text = "Network"
    for n, row in enumerate(table.rows):
        row.cells[1].text = f"E{n}"
    for tr in table._tbl.tr_lst[1:]:  # after the text: python-docx's cells climb the merge
        tr.tc_lst[0].get_or_add_tcPr().append(OxmlElement("w:vMerge"))
    data = save(d)
    start = time.perf_counter()
    doc, _ = read(data)
    elapsed = time.perf_counter() - start
    assert doc is not None
    lines = doc.sections[0].text.splitlines()
    assert lines[:2] == ["Network | E0", "Network | E1"] and lines[-1] == "Network | E999"
    assert elapsed < 5  # python-docx's row.cells takes minutes: each row climbs the merge


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def zip_bomb() -> bytes:
    """A real guide with 8 MiB of zeros beside it: deflated about 1000 to one."""
    return zip_of({**members(guide()), "word/media/zeros.bin": bytes(8 * 2**20)})


def broken_xml() -> bytes:
    parts = members(guide())
    return zip_of({**parts, "word/document.xml": parts["word/document.xml"][:300]})


def unknown_zip_version() -> bytes:
    """The guide with its first central directory entry needing zip version 14.9."""
    data = bytearray(guide())
    entry = data.find(b"PK\x01\x02")
    data[entry + 6 : entry + 8] = (149).to_bytes(2, "little")
    return bytes(data)


def unknown_compression() -> bytes:
    """The guide with word/document.xml compressed, says its central directory, by method 99."""
    data = bytearray(guide())
    entry = data.find(b"PK\x01\x02")
    while data[entry + 46 : entry + 63] != b"word/document.xml":
        entry = data.find(b"PK\x01\x02", entry + 4)
    data[entry + 10 : entry + 12] = (99).to_bytes(2, "little")
    return bytes(data)


def with_part(name: str, xml: str) -> bytes:
    """The guide with its part ``name`` replaced by ``xml``, well-formed but the wrong part."""
    return zip_of({**members(guide()), name: xml.encode()})


def workbook() -> bytes:
    out = io.BytesIO()
    openpyxl.Workbook().save(out)
    return out.getvalue()


def picture_only() -> bytes:
    d = docx.Document()
    d.add_picture(io.BytesIO(GIF))
    d.add_paragraph("   ")
    return save(d)


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        pytest.param(lambda: b"%PDF-1.7 not a zip", "not a zip archive", id="not-zip"),
        pytest.param(lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504),
                     "a password-protected Word file, or an old .doc", id="doc-or-encrypted"),
        pytest.param(lambda: guide()[:3000], "not a zip archive", id="truncated"),
        pytest.param(unknown_zip_version, "not a zip archive", id="zip-version"),
        pytest.param(lambda: zip_of({"notes.txt": b"hello"}),
                     "a zip archive, but not a Word document", id="zip-of-text"),
        pytest.param(workbook, "an Office file, but not a Word document (application/vnd.",
                     id="xlsx"),
        pytest.param(zip_bomb, "word/media/zeros.bin is compressed", id="zip-bomb"),
        pytest.param(broken_xml, "a damaged Word document: broken XML", id="broken-xml"),
        pytest.param(unknown_compression, "a damaged Word document (NotImplementedError: ",
                     id="compression"),
        pytest.param(lambda: with_part("word/document.xml", f"<w:styles {W}/>"),
                     "a damaged Word document (its main part holds no document)",
                     id="wrong-main-part"),
        pytest.param(lambda: with_part("word/styles.xml", f"<w:document {W}/>"),
                     "a damaged Word document (its styles part holds no styles)",
                     id="wrong-styles-part"),
        pytest.param(picture_only, "no text in the document", id="picture"),
        pytest.param(lambda: save(docx.Document()), "no text in the document", id="empty"),
    ],
)  # fmt: skip
def test_a_file_that_cannot_be_read_gives_a_one_line_reason(build, expected):
    doc, reason = read(build())
    assert doc is None
    assert reason.startswith(expected) and "\n" not in reason and len(reason) <= 200


# The parts python-docx reads, the body most: the others are carried along unread.
PARTS = ["word/document.xml"] * 4 + ["word/styles.xml", "word/numbering.xml", "_rels/.rels",
         "word/_rels/document.xml.rels", "docProps/core.xml", "[Content_Types].xml"]  # fmt: skip
TAGS = ["w:p", "w:tbl", "w:tr", "w:tc", "w:r", "w:t", "w:sdt", "w:numPr", "w:gridSpan",
        "w:vMerge", "w:body", "w:style", "w:num"]  # fmt: skip
VALUES = ["", "x", "-1", "0", "9", "99999999999999999999", "continue", "Heading1", "none", '"']


@st.composite
def damaged_guide(draw) -> bytes:
    """The guide cut short, with bytes overwritten, or with a part's XML damaged and zipped
    again: elements removed, renamed or stripped of attributes, attributes given odd values."""
    data = guide()
    how = draw(st.sampled_from(["cut", "bytes", "text", "tree"]))
    if how == "cut":
        return data[: draw(st.integers(0, len(data)))]
    if how == "bytes":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            out[draw(st.integers(0, len(out) - 1))] = draw(st.integers(0, 255))
        return bytes(out)
    parts = members(data)
    name = draw(st.sampled_from(PARTS))
    if how == "text":
        xml = bytearray(parts[name])
        for _ in range(draw(st.integers(1, 6))):
            at = draw(st.integers(0, len(xml) - 1))
            end = at + draw(st.integers(0, 40))
            xml[at:end] = draw(st.sampled_from([b"", b"<", b">", b'"', b"9", b"</w:p>", b"\xff"]))
        return zip_of({**parts, name: bytes(xml)})
    root = etree.fromstring(parts[name])
    elements = [e for e in root.iter() if e.attrib] or [root]  # the ones that say something
    for _ in range(draw(st.integers(1, 6))):
        element = draw(st.sampled_from(elements))
        change = draw(st.sampled_from(["remove", "rename", "strip", "set"]))
        if change == "remove" and element.getparent() is not None:
            element.getparent().remove(element)
        elif change == "rename":
            element.tag = qn(draw(st.sampled_from(TAGS)))
        elif change == "strip":
            element.attrib.clear()
        elif change == "set":
            attribute = draw(st.sampled_from(["w:val", "w:numId", "w:ilvl", "w:styleId"]))
            element.set(qn(attribute), draw(st.sampled_from(VALUES)))
    return zip_of({**parts, name: etree.tostring(root)})


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_guide())
def test_a_damaged_file_never_raises(data):
    doc, reason = read(data)
    assert isinstance(doc, Document | None) and isinstance(reason, str)
    assert (doc is None) == bool(reason) and "\n" not in reason
