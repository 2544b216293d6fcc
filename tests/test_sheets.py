"""FAQ spreadsheets (.csv, .xlsx) with English or Chinese headers, through the whole path."""

from pathlib import Path

import openpyxl
import pytest

from kb.config import load_settings
from kb.usecases.bootstrap import build
from tests.test_cli import run_kb

ROWS = [
    ("How do I pair the hub with my phone?", "Open the app, tap Add device and hold the hub's "
     "button for five seconds until it blinks blue.", "Setup", "https://help.example/pair"),
    ("Can I return a bulb after 30 days?", "Returns are accepted within 60 days of delivery "
     "with the receipt.", "Orders", ""),
    ("Why does my bulb flicker?", "Flickering usually means the dimmer on the wall switch is "
     "not compatible; set it to full brightness.", "Troubleshooting", ""),
]  # fmt: skip


def write_csv(path: Path, header: tuple[str, ...], rows, encoding: str = "utf-8-sig") -> Path:
    lines = [",".join(header)] + [",".join(f'"{c}"' for c in row) for row in rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def write_xlsx(path: Path, header: tuple[str, ...], rows) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    book.save(path)
    return path


@pytest.fixture
def kb(tmp_path, embedder):
    return build(load_settings({"home": tmp_path / "home"}, environ={}), embedder=embedder)


@pytest.mark.parametrize(
    ("name", "header", "encoding"),
    [
        ("faq.csv", ("Question", "Answer", "Category", "URL"), "utf-8-sig"),
        ("常见问题.csv", ("问题", "答案", "分类", "链接"), "gbk"),  # as Excel saves it in Chinese
        ("faq.xlsx", ("Question", "Answer", "Category", "Link"), None),
        ("常见问题.xlsx", ("问题", "答案", "分类", "链接"), None),
    ],
)
def test_a_sheet_becomes_faq_entries_found_and_cited(kb, tmp_path, name, header, encoding):
    path = tmp_path / name
    if encoding:
        write_csv(path, header, ROWS, encoding)
    else:
        write_xlsx(path, header, ROWS)
    report = kb.ingestion.ingest([str(path)])
    assert report.added == 3
    hits = kb.retrieval.search("my light bulb keeps flickering", k=3)
    assert hits[0].passage.title == "Why does my bulb flicker?" and hits[0].passage.kind == "faq"
    answer = kb.answering.answer("how do I connect the hub to my phone?")
    assert not answer.refused and answer.citations[0].url == "https://help.example/pair"
    stored = kb.documents.document(hits[0].passage.doc_id)
    assert stored is not None and stored.meta == {"category": "Troubleshooting"}


def test_reimporting_changes_only_what_changed_in_the_sheet(kb, tmp_path):
    path = write_csv(tmp_path / "faq.csv", ("Question", "Answer"), [r[:2] for r in ROWS])
    assert kb.ingestion.ingest([str(path)]).added == 3
    again = kb.ingestion.ingest([str(path)])
    assert (again.added, again.updated, again.removed, again.chunks_embedded) == (0, 0, 0, 0)
    assert again.unchanged == 3 and not again.index_changed
    edited = [ROWS[0][:2], (ROWS[1][0], "Returns are accepted within 90 days.")]  # one gone
    write_csv(path, ("Question", "Answer"), edited)
    changed = kb.ingestion.ingest([str(path)])
    assert (changed.added, changed.updated, changed.removed) == (0, 1, 1)
    hits = kb.retrieval.search("return a bulb", k=1)
    assert "90 days" in hits[0].passage.text


def test_columns_can_be_named_and_a_ticket_export_is_still_a_ticket_export(tmp_path):
    from ingest.pipeline import is_ticket_export
    from ingest.sheets import is_faq_sheet

    german = write_csv(tmp_path / "de.csv", ("Frage", "Antwort"), [r[:2] for r in ROWS])
    assert not is_faq_sheet(german) and is_faq_sheet(german, {"question": "Frage",
                                                              "answer": "Antwort"})  # fmt: skip
    tickets = write_csv(tmp_path / "t.csv", ("id", "status", "question", "answer"),
                        [("1", "solved", "q", "a")])  # fmt: skip
    assert not is_faq_sheet(tickets) and is_ticket_export(tickets)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("broken.xlsx", b"PK\x03\x04 not really a workbook", "is not a readable .xlsx workbook"),
        ("empty.csv", "Question,Answer\r\n", "no FAQ entries in empty.csv"),
    ],
)
def test_a_bad_sheet_is_one_line_and_stores_nothing(tmp_path, name, content, message):
    home = tmp_path / "home"
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = run_kb("ingest", str(path), home=home)
    assert result.returncode != 0 and result.stderr.startswith("kb: error: ")
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (home / "index").exists()  # nothing published


def test_a_long_utf8_sheet_is_still_read_by_its_header(tmp_path, kb):
    """The header is read from the file's first 64 KiB: a cut inside a character is not text."""
    rows = [(f"问题 {n}：怎样连接集线器？", "打开应用，点击添加设备。" * 40) for n in range(120)]
    path = write_csv(tmp_path / "长表.csv", ("问题", "答案"), rows)
    assert path.stat().st_size > 65536
    try:
        path.read_bytes()[:65536].decode("utf-8-sig")
        split = False
    except UnicodeDecodeError:
        split = True
    assert split  # the 64 KiB cut falls inside a character, as it did before the fix
    assert kb.ingestion.ingest([str(path)]).added == 120
