"""PDF manuals: pages, outline headings, tables, running headers, and every kind of bad file."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.pdf import drop_running_lines, paragraphs, read_pdf, table_rows
from tests.documents import pdf_bytes, scanned_pdf_bytes

WRAPPED = ("Unpack the hub and plug it into the router with the network cable that came in",
           "the box. The light on the front turns blue after about a minute.")  # fmt: skip
PAGES = [
    ["Getting started", *WRAPPED, "Pairing the app", "Open the app and tap Add device,"],
    ["then hold the button for five seconds until the light blinks.", "Specifications",
     [["Model", "Voltage", "Warranty"], ["X200", "12 V", "2 years"], ["X300", "24 V", "3 years"]]],
    ["Troubleshooting", "If the light is red, restart the hub and wait two minutes."],
    ["Warranty claims", "Send the receipt and the serial number to the support team."],
]  # fmt: skip
OUTLINE = [("Getting started", 1, 0), ("Pairing the app", 2, 0), ("Specifications", 1, 1),
           ("Troubleshooting", 1, 2), ("Warranty claims", 1, 3)]  # fmt: skip


def read(data: bytes):
    return read_pdf(data, doc_id="manuals/hub", source="s", url=None)


def test_outline_entries_head_sections_that_each_lie_on_one_page():
    doc, reason = read(pdf_bytes(PAGES, outline=OUTLINE, title="Hub manual", header="Hub manual"))
    assert reason == "" and doc is not None and doc.title == "Hub manual"
    shown = [(s.anchor, s.heading, s.level) for s in doc.sections]
    assert shown == [
        ("page=1", "Getting started", 1),
        ("page=1", "Pairing the app", 2),
        ("page=2", "Pairing the app", 2),  # goes on over the page break, under its heading
        ("page=2", "Specifications", 1),
        ("page=3", "Troubleshooting", 1),
        ("page=4", "Warranty claims", 1),
    ]
    texts = {(s.anchor, s.heading): s.text for s in doc.sections}
    assert texts["page=1", "Getting started"] == " ".join(WRAPPED)  # wrapped lines joined
    assert texts["page=2", "Specifications"].splitlines() == [
        "Model Voltage Warranty", "X200 12 V 2 years", "X300 24 V 3 years"]  # fmt: skip
    assert not any("Hub manual" in s.text for s in doc.sections)  # the running header is gone
    assert doc.meta == {"pages": 4}


def test_without_an_outline_each_page_is_a_section_under_the_title():
    doc, _ = read(pdf_bytes(PAGES[2:], title="Troubleshooting guide"))
    assert doc is not None
    assert [(s.anchor, s.heading) for s in doc.sections] == [
        ("page=1", "Troubleshooting guide"), ("page=2", "Troubleshooting guide")]  # fmt: skip


def test_a_chinese_manual_keeps_its_headings_and_joins_lines_without_spaces():
    lines = ["第一章 连接集线器",
             "打开应用，点击添加设备，然后按住集线器背面的按钮五秒钟，直到指示灯",
             "闪烁蓝色。"]  # fmt: skip
    doc, _ = read(pdf_bytes([lines], outline=[("连接集线器", 1, 0)], cjk=True, title="说明书"))
    assert doc is not None and doc.title == "说明书"
    (section,) = doc.sections
    assert section.heading == "连接集线器" and section.anchor == "page=1"
    assert (
        section.text
        == "打开应用，点击添加设备，然后按住集线器背面的按钮五秒钟，直到指示灯闪烁蓝色。"
    )


def test_a_pdf_with_only_an_owner_password_is_read():
    doc, reason = read(pdf_bytes(PAGES, outline=OUTLINE, owner_password="boss"))
    assert reason == "" and doc is not None and len(doc.sections) == 6


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (pdf_bytes(PAGES, user_password="secret"), "encrypted: it needs a password"),
        (scanned_pdf_bytes(3), "no text layer on its 3 pages (scanned? kb does no OCR)"),
        (b"<html><body>Not a PDF</body></html>", "not a PDF (no %PDF- header)"),
        (b"", "not a PDF (no %PDF- header)"),
        (b"%PDF-1.7\n" + b"\xff" * 500, "damaged PDF"),
        (pdf_bytes(PAGES)[:900], "damaged PDF"),
    ],
    ids=["encrypted", "scanned", "html", "empty", "garbage", "truncated"],
)
def test_a_bad_pdf_has_a_one_line_reason_and_no_document(data, reason):
    doc, why = read(data)
    assert doc is None and why.startswith(reason) and "\n" not in why


def test_running_lines_go_and_numbered_lines_that_repeat_on_three_pages_too():
    pages = [["Manual 1 / 6", "Install", "Text one."], ["Manual 2 / 6", "Text two."],
             ["Text three.", "7"], ["Chapter 3: Tools 5", "Text four."],
             ["Chapter 3: Tools 6", "Text five.", "Manual 5 / 6"],
             ["Chapter 3: Tools 7", "Text six."]]  # fmt: skip
    assert drop_running_lines(pages) == [["Install", "Text one."], ["Text two."],
                                         ["Text three."], ["Text four."], ["Text five."],
                                         ["Text six."]]  # fmt: skip
    once = [["Chapter 3: Tools 5", "Text."], ["Other.", "Text."], ["More.", "Text."]]
    assert drop_running_lines(once) == once  # a numbered line seen once is text


def test_table_rows_line_up_and_justified_prose_does_not():
    lines = ["Model     Voltage     Warranty", "X200      12 V        2 years",
             "and users can    access their mail       through IMAP.",
             "All services are accessible using the same    password."]  # fmt: skip
    assert table_rows(lines) == {0, 1}


def test_paragraphs_join_wrapped_lines_but_not_list_items_or_short_lines():
    lines = ["Start by making sure that the system is up to date and that", "it has power.",
             "• Open the lid", "• Press the button", "", "Short line", "Another one"]  # fmt: skip
    assert paragraphs(lines) == [
        "Start by making sure that the system is up to date and that it has power.",
        "• Open the lid", "• Press the button", "Short line", "Another one"]  # fmt: skip


VALID = pdf_bytes(PAGES[:2], outline=OUTLINE[:3], title="Hub manual")


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    cut=st.integers(min_value=0, max_value=len(VALID)),
    flips=st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=8),
)
def test_any_damage_to_a_pdf_gives_a_document_or_a_reason_never_an_exception(cut, flips):
    data = bytearray(VALID[:cut] if cut > 20 else VALID)
    for at, value in flips:
        if at < len(data):
            data[at] = value
    doc, reason = read(bytes(data))
    assert (doc is None) == bool(reason) and "\n" not in reason
