"""What support teams have, through the whole path: PDF manuals, Word files, FAQ sheets and
help-centre exports, from a folder or a crawl; re-imports; bad files that change nothing."""

import json
from pathlib import Path

import pytest

from tests.documents import docx_bytes, pdf_bytes, zip_bomb
from tests.sites import serve_folder
from tests.test_cli import run_kb
from web import create_app

PAGES = [
    ["Getting started", "Unpack the hub and plug it into the router with the network cable.",
     "Pairing the app", "Open the app, tap Add device and hold the hub's button for five seconds."],
    ["Specifications", "Power supply by model:",
     [["Model", "Voltage", "Warranty"], ["X200", "12 V", "2 years"], ["X300", "24 V", "3 years"]]],
    ["Troubleshooting", "If the status light is red, restart the hub and wait two minutes."],
]  # fmt: skip
OUTLINE = [("Getting started", 1, 0), ("Pairing the app", 2, 0), ("Specifications", 1, 1),
           ("Troubleshooting", 1, 2)]  # fmt: skip


GUIDE = [
    ("p", "This guide covers the router's first setup."),
    ("h1", "Connect the router"),
    ("numbers", ["Plug the router into the wall socket.", "Connect the grey cable to the modem.",
                 "Wait until the power light turns solid green."]),
    ("h1", "Wi-Fi channels"),
    ("p", "The router picks a channel by itself. Channels by band:"),
    ("table", [["Band", "Channels", "Range"], ["2.4 GHz", "1 to 13", "long"],
               ["5 GHz", "36 to 140", "short"]]),
    ("h1", "Parental controls"),
    ("bullets", ["Block sites by category.", "Pause the internet at bedtime."]),
]  # fmt: skip


def manual(pages=PAGES) -> bytes:
    return pdf_bytes(pages, outline=OUTLINE[: len(pages) + 1], title="Hub manual")


@pytest.fixture
def home(settings) -> Path:
    return settings.home  # the home of conftest's kb


def test_a_pdf_manual_is_found_and_cited_at_its_page_which_kb_shows(kb, home, tmp_path, embedder):
    folder = tmp_path / "manuals"
    folder.mkdir()
    (folder / "hub.pdf").write_bytes(manual())
    assert kb.ingestion.ingest([str(folder)]).added == 1
    answer = kb.answering.answer("what voltage does the X300 need?")
    assert not answer.refused
    assert answer.citations[0].url == "/articles/hub#page=2"
    assert answer.citations[0].section == "Specifications"
    page = create_app({"home": home}, embedder).test_client().get("/articles/hub").text
    assert 'id="page=2"' in page and "X300 24 V 3 years" in page and "Page 2" in page


def test_reimporting_a_pdf_embeds_nothing_and_a_changed_page_updates_it(kb, tmp_path):
    folder = tmp_path / "manuals"
    folder.mkdir()
    (folder / "hub.pdf").write_bytes(manual())
    (folder / "old.pdf").write_bytes(manual(PAGES[2:]))
    assert kb.ingestion.ingest([str(folder)]).added == 2
    again = kb.ingestion.ingest([str(folder)])
    assert (again.added, again.updated, again.removed, again.chunks_embedded) == (0, 0, 0, 0)
    edited = [*PAGES[:2], ["Troubleshooting", "If the status light is red, hold reset for ten"
                           " seconds."]]  # fmt: skip
    (folder / "hub.pdf").write_bytes(manual(edited))
    (folder / "old.pdf").unlink()
    changed = kb.ingestion.ingest([str(folder)])
    assert (changed.added, changed.updated, changed.removed) == (0, 1, 1)
    assert 0 < changed.chunks_embedded < 4  # the changed page, not the whole manual
    hit = kb.retrieval.search("status light is red", k=1)[0]
    assert "ten seconds" in hit.passage.text and hit.passage.url == "/articles/hub#page=3"


def test_a_crawl_reads_the_pdfs_its_pages_link_to_within_its_scope(kb, tmp_path):
    site = tmp_path / "site"
    (site / "help").mkdir(parents=True)
    (site / "help" / "index.html").write_text(
        "<html><head><title>Help</title></head><body><main><h1>Help centre</h1>"
        "<p>Everything about the hub, the app and your account, in one place.</p>"
        "<p>Read the <a href='hub.pdf'>hub manual</a> or the <a href='/outside.pdf'>other one"
        "</a>.</p></main></body></html>"
    )
    (site / "help" / "hub.pdf").write_bytes(manual())
    (site / "outside.pdf").write_bytes(manual(PAGES[2:]))
    with serve_folder(site) as base:
        report = kb.ingestion.ingest([f"{base}/help/index.html"])
        assert report.added == 2  # the page and the manual; the PDF out of scope is not read
        answer = kb.answering.answer("what voltage does the X300 need?")
        assert answer.citations[0].url == f"{base}/help/hub.pdf#page=2"


def test_a_word_file_is_cited_at_its_section_in_kb_s_copy(kb, home, tmp_path, embedder):
    folder = tmp_path / "guides"
    folder.mkdir()
    (folder / "router.docx").write_bytes(docx_bytes("Router guide", GUIDE))
    assert kb.ingestion.ingest([str(folder)]).added == 1
    answer = kb.answering.answer("which channels does the 5 GHz band use?")
    assert answer.citations[0].url == "/articles/router#wi-fi-channels"
    page = create_app({"home": home}, embedder).test_client().get("/articles/router").text
    assert 'id="wi-fi-channels"' in page and "5 GHz | 36 to 140 | short" in page
    assert "1. Plug the router into the wall socket." in page
    again = kb.ingestion.ingest([str(folder)])
    assert (again.unchanged, again.chunks_embedded) == (1, 0)
    edited = [*GUIDE[:-1], ("bullets", ["Block sites by category.", "Set a daily time limit."])]
    (folder / "router.docx").write_bytes(docx_bytes("Router guide", edited))
    changed = kb.ingestion.ingest([str(folder)])
    assert changed.updated == 1 and 0 < changed.chunks_embedded < 3
    assert "daily time limit" in kb.retrieval.search("daily time limit", k=1)[0].passage.text


def test_a_crawled_word_file_is_read_and_cited_at_kb_s_copy_of_its_section(kb, tmp_path):
    site = tmp_path / "site"
    (site / "help").mkdir(parents=True)
    (site / "help" / "index.html").write_text(
        "<html><head><title>Help</title></head><body><main><h1>Help centre</h1>"
        "<p>Everything about the router, the app and your account, in one place.</p>"
        "<p>Download the <a href='router.docx'>router guide</a>.</p></main></body></html>"
    )
    (site / "help" / "router.docx").write_bytes(docx_bytes("Router guide", GUIDE))
    with serve_folder(site) as base:
        assert kb.ingestion.ingest([f"{base}/help/index.html"]).added == 2
        answer = kb.answering.answer("which channels does the 5 GHz band use?")
    url = answer.citations[0].url
    assert url.startswith("/articles/") and url.endswith("/help/router#wi-fi-channels")
    stored = kb.documents.document(answer.citations[0].doc_id)
    assert stored is not None and stored.url == f"{base}/help/router.docx"  # the "original"


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("damaged.pdf", lambda: manual()[:700], "damaged PDF"),
        ("locked.pdf", lambda: pdf_bytes(PAGES, user_password="secret"), "encrypted: it needs"),
        ("fake.pdf", lambda: b"<html>not a pdf</html>", "not a PDF"),
        ("report.docx", lambda: b"plain text saved as .docx", "not a zip archive"),
        ("bomb.docx", zip_bomb, "compressed"),
        ("bomb.xlsx", lambda: zip_bomb("xl/workbook.xml"), "compressed"),
        ("big.pdf", None, "200 MiB, more than the 100 MiB a file may have"),
    ],
    ids=["damaged", "encrypted", "not-a-pdf", "docx-not-a-zip", "docx-bomb", "xlsx-bomb", "200MB"],
)
def test_a_bad_file_is_one_line_exits_non_zero_and_keeps_what_is_stored(
    kb, home, tmp_path, name, make, message
):
    good = tmp_path / "good"
    good.mkdir()
    (good / "hub.pdf").write_bytes(manual())
    kb.ingestion.ingest([str(good)])
    version = kb.retrieval.searcher().version
    path = tmp_path / name
    if make is None:
        with path.open("wb") as f:
            f.truncate(200 * 2**20)  # sparse: 200 MB on paper, nothing on disk
    else:
        path.write_bytes(make())
    result = run_kb("ingest", str(path), home=home)
    assert result.returncode != 0 and result.stderr.startswith("kb: error: ")
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert kb.retrieval.searcher().version == version
    assert kb.retrieval.search("X300 voltage", k=1)[0].passage.doc_id == "hub"


def zendesk_export(*articles: dict) -> str:
    return json.dumps({"articles": list(articles), "next_page": None, "count": len(articles)})


def zendesk_article(number: int, title: str, body: str, locale: str = "en-us", **extra) -> dict:
    return {"id": number, "title": title, "body": body, "locale": locale, "draft": False,
            "html_url": f"https://help.example.com/hc/{locale}/articles/{number}",
            "updated_at": "2024-03-01T10:00:00Z", "edited_at": "2024-02-20T09:30:00Z",
            "section_id": 7, "user_segment_id": None, "label_names": ["hub"], **extra}  # fmt: skip


def test_a_help_centre_export_keeps_each_article_s_url_locale_and_date(kb, tmp_path):
    export = tmp_path / "zendesk.json"
    export.write_text(zendesk_export(
        zendesk_article(101, "Reset the hub", "<p>How to start again.</p><h2 id='factory'>"
                        "Factory reset</h2><p>Hold the reset pin for ten seconds until the light"
                        " blinks white.</p>"),
        zendesk_article(102, "重置集线器", "<p>开始之前。</p><h2 id='reset'>恢复出厂设置</h2>"
                        "<p>用针按住复位孔十秒钟，直到指示灯闪烁白色。</p>", locale="zh-cn"),
        zendesk_article(103, "Unreleased hub", "<p>The hub 2 ships in May.</p>", draft=True),
        zendesk_article(104, "Agents only", "<p>Escalate to tier two.</p>", user_segment_id=9),
    ))  # fmt: skip
    report = kb.ingestion.ingest([str(export)])
    assert report.added == 2 and len(report.skipped) == 2
    answer = kb.answering.answer("how long must I hold the reset pin?")
    assert answer.citations[0].url == "https://help.example.com/hc/en-us/articles/101#factory"
    hits = kb.retrieval.search("恢复出厂设置 复位孔", k=1)
    assert hits[0].passage.doc_id == "hc/zh-cn/102" and hits[0].passage.lang.startswith("zh")
    dated = kb.documents.updated_times(["hc/en-us/101"])
    assert dated == {"hc/en-us/101": "2024-02-20T09:30:00+00:00"}  # the article's own date
    found = {h.passage.doc_id for h in kb.retrieval.search("hub 2 ships in May; tier two", k=5)}
    assert found <= {"hc/en-us/101", "hc/zh-cn/102"}  # no draft, nothing for agents only
