import json
from pathlib import Path

import pytest

from ingest.pipeline import IngestOptions, ingest_sources
from ingest.sources import read_source
from kb.errors import SourceError
from kb.store import Store


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def page(title: str, body: str) -> str:
    return f"<html lang='en'><body><main><h1>{title}</h1><p>{body}</p></main></body></html>"


def test_folder_reads_html_ids_from_paths_and_skips_the_rest(tmp_path: Path):
    write(tmp_path / "a.html", page("A", "alpha"))
    write(tmp_path / "sub" / "b.htm", page("B", "beta"))
    write(tmp_path / "notes.txt", "not html")
    write(tmp_path / "bin.html", b"\x89PNG\x00\x00binary")
    write(tmp_path / "empty.html", "<html><body><nav>menu</nav></body></html>")
    links = "".join(f"<li><a href='{i}.html'>Article number {i}</a></li>" for i in range(20))
    write(
        tmp_path / "index.html",
        f"<html><body><main><h1>Help</h1><ul>{links}</ul></main></body></html>",
    )
    batch = read_source(str(tmp_path))
    assert sorted(d.id for d in batch.documents) == ["a", "sub/b"]
    assert dict(batch.skipped) == {
        "bin.html": "binary content, not HTML",
        "empty.html": "no text in the page",
        "index.html": "a page of links, not an article",
        "notes.txt": "not a format kb reads",
    }


def test_jsonl_keeps_ids_urls_and_extra_fields(tmp_path: Path):
    lines = [
        {"id": "q1", "title": "T1", "text": "Line one\nLine two", "url": "https://x.example/1"},
        {"id": 7, "text": "Untitled first line\nmore", "tags": ["a"]},
    ]
    path = write(tmp_path / "c.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    docs = read_source(str(path)).documents
    assert [(d.id, d.title, d.url) for d in docs] == [
        ("q1", "T1", "https://x.example/1"),
        ("7", "Untitled first line", None),
    ]
    assert docs[1].meta == {"tags": ["a"]}


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"id": "1", "text": "ok"}\nnot json\n', "c.jsonl:2: not valid JSON"),
        ('{"id": "1"}\n', "'text' must be a non-empty string"),
        ('{"text": "x"}\n', "'id' is missing"),
        ('["a"]\n', "expected a JSON object"),
        ('{"id": "1", "text": "a"}\n{"id": "1", "text": "b"}\n', "duplicate id '1'"),
        ("\n\n", "no documents"),
    ],
)
def test_bad_jsonl_is_one_clear_error(tmp_path: Path, content: str, message: str):
    path = write(tmp_path / "c.jsonl", content)
    with pytest.raises(SourceError, match=message):
        read_source(str(path))


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing", None, "no such file or folder"),
        ("emptydir", "", "no HTML, Markdown, PDF or Word documents"),
        ("file.txt", "x", "expected a folder, an .html, .md, .pdf, .docx or .jsonl file"),
        ("file.pdf", "x", "not a PDF"),
        ("old.doc", "x", "a Word 97-2003 .doc: save it as .docx"),
        ("bin.html", b"\x00\x01\x02", "binary content"),
    ],
)
def test_bad_sources_are_clear_errors(tmp_path: Path, name: str, content, message: str):
    path = tmp_path / name
    if content == "":
        path.mkdir()
    elif content is not None:
        write(path, content)
    with pytest.raises(SourceError, match=message):
        read_source(str(path))


def test_reingest_reports_changes_and_removes_vanished_documents(tmp_path: Path):
    site = tmp_path / "site"
    write(site / "a.html", page("A", "alpha"))
    write(site / "b.html", page("B", "beta"))
    store = Store(tmp_path / "kb.sqlite3")
    first = ingest_sources(store, [str(site)], options=IngestOptions(chunk_words=100))
    assert (first.added, first.updated, first.unchanged, first.removed) == (2, 0, 0, 0)
    write(site / "a.html", page("A", "alpha changed"))
    (site / "b.html").unlink()
    write(site / "c.html", page("C", "gamma"))
    second = ingest_sources(store, [str(site)], options=IngestOptions(chunk_words=100))
    assert (second.added, second.updated, second.unchanged, second.removed) == (1, 1, 0, 1)
    assert store.document_ids() == {"a", "c"}


def test_a_bad_source_stores_nothing(tmp_path: Path):
    site = tmp_path / "site"
    write(site / "a.html", page("A", "alpha"))
    store = Store(tmp_path / "kb.sqlite3")
    ingest_sources(store, [str(site)], options=IngestOptions(chunk_words=100))
    with pytest.raises(SourceError):
        ingest_sources(
            store,
            [str(site / "a.html"), str(tmp_path / "nope")],
            options=IngestOptions(chunk_words=100),
        )
    assert store.document_ids() == {"a"}


def test_markdown_files_become_documents_with_sections(tmp_path: Path):
    write(
        tmp_path / "guides" / "wifi.md",
        "---\ntitle: Wi-Fi requirements\n---\nThe hub needs 2.4 GHz.\n\n"
        "## Router settings\n\n| Band | Works |\n|---|---|\n| 2.4 GHz | yes |\n\n"
        "```\nchannel = 6\n```\n",
    )
    (doc,) = read_source(str(tmp_path)).documents
    assert doc.id == "guides/wifi" and doc.title == "Wi-Fi requirements"
    assert [s.heading for s in doc.sections] == ["Wi-Fi requirements", "Router settings"]
    assert "Band | Works" in doc.sections[1].text and "channel = 6" in doc.sections[1].text


@pytest.mark.parametrize("canonical", ["javascript:alert(1)", "/relative/page", "data:text/html,x"])
def test_only_absolute_http_urls_survive_from_files(tmp_path: Path, canonical: str):
    head = f"<link rel='canonical' href='{canonical}'>"
    write(
        tmp_path / "a.html",
        f"<html><head>{head}</head><body><main><h1>A</h1><p>alpha</p></main></body></html>",
    )
    (doc,) = read_source(str(tmp_path)).documents
    assert doc.url is None
    good = "<link rel='canonical' href='https://help.example.com/a?utm_source=x'>"
    write(
        tmp_path / "a.html",
        f"<html><head>{good}</head><body><main><h1>A</h1><p>alpha</p></main></body></html>",
    )
    (doc,) = read_source(str(tmp_path)).documents
    assert doc.url == "https://help.example.com/a"
    lines = json.dumps({"id": "1", "text": "x", "url": canonical})
    assert read_source(str(write(tmp_path / "d.jsonl", lines))).documents[0].url is None
