"""Property-based fuzzing (hypothesis) of the parsers that read what strangers write: the HTML
extractor, the file readers (PDF, Word, Markdown, FAQ sheets), the ticket-export reader and the
citation verifier. No crash, no hang. (Damaged copies of real PDF and Word files are fuzzed in
``tests/test_pdf.py`` and ``tests/test_docx.py``; help-centre exports in
``tests/test_helpcentre.py``.)

Each example has a deadline of a few seconds: far above what any input needs, so exceeding it
means something went quadratic or looped, not that the machine was slow.
"""

import json
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.extract import extract
from ingest.sheets import read_faq_sheet
from ingest.sources import file_document
from ingest.tickets import read_tickets
from kb.citations import drop_unsupported, verify_citations
from kb.errors import KbError
from kb.models import Passage
from kb.redact import redact

FUZZ = settings(max_examples=150, deadline=timedelta(seconds=5),
                suppress_health_check=[HealthCheck.too_slow])  # fmt: skip

TAGS = [
    "html",
    "head",
    "body",
    "main",
    "article",
    "nav",
    "header",
    "footer",
    "script",
    "style",
    "h1",
    "h2",
    "h3",
    "p",
    "ul",
    "ol",
    "li",
    "table",
    "tr",
    "td",
    "th",
    "pre",
    "code",
    "a",
    "div",
    "span",
    "base",
    "meta",
    "link",
    "title",
    "br",
    "aside",
    "template",
    "svg",
]
JUNK = ["&amp;", "&#x0;", "&bogus;", "<!--", "-->", "<![CDATA[", "\x00", "\ufeff", "<", ">"]
ATTRS = ["id", "class", "href", "lang", "name", "content", "rel", "hidden", "aria-hidden", "style"]


@st.composite
def html(draw) -> str:
    """Tag soup: real tags and attributes, unbalanced, with text, entities and junk between."""
    parts = []
    for _ in range(draw(st.integers(0, 60))):
        kind = draw(st.integers(0, 4))
        if kind == 0:
            tag = draw(st.sampled_from(TAGS))
            attrs = " ".join(f'{draw(st.sampled_from(ATTRS))}="{draw(st.text(max_size=12))}"'
                             for _ in range(draw(st.integers(0, 3))))  # fmt: skip
            parts.append(f"<{tag} {attrs}>")
        elif kind == 1:
            parts.append(f"</{draw(st.sampled_from(TAGS))}>")
        elif kind == 2:
            parts.append(draw(st.sampled_from(JUNK)))
        else:
            parts.append(draw(st.text(max_size=40)))
    return "".join(parts)


@FUZZ
@given(html(), st.sampled_from([None, "https://help.example/a/b.html"]))
def test_the_extractor_takes_any_markup(markup, url):
    page = extract(markup, url)
    assert all(isinstance(s.text, str) for s in page.sections)
    assert all(link.startswith(("http://", "https://")) for link in page.links)


@FUZZ
@given(st.binary(max_size=2000))
def test_the_extractor_takes_any_bytes(data):
    extract(data, None)


MAGICS = [b"", b"%PDF-1.7\n", b"PK\x03\x04", b"\xef\xbb\xbf", b"<html>"]


@FUZZ
@given(st.sampled_from([".pdf", ".docx", ".md", ".html"]), st.sampled_from(MAGICS),
       st.binary(max_size=3000))  # fmt: skip
def test_every_file_reader_takes_any_bytes(suffix, magic, data):
    doc, reason = file_document(magic + data, suffix, doc_id="x", source="s", url=None,
                                max_bytes=2**20)  # fmt: skip
    assert (doc is None) == bool(reason) and "\n" not in reason


@FUZZ
@given(
    st.sampled_from(["Question,Answer", "问题,答案,分类", "question;answer", "Q,A,URL,ID"]),
    st.lists(st.lists(st.text(max_size=40), max_size=5), max_size=12),
    st.sampled_from(["utf-8", "utf-8-sig", "gbk", "utf-16"]),
)
def test_the_faq_sheet_reader_takes_any_csv(header, rows, encoding):
    lines = [header, *(",".join(json.dumps(c, ensure_ascii=False) for c in r) for r in rows)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "faq.csv"
        path.write_bytes("\n".join(lines).encode(encoding, errors="replace"))
        try:
            batch = read_faq_sheet(path)
        except KbError:
            return
        assert all(d.kind == "faq" and d.sections[0].text for d in batch.documents)


@FUZZ
@given(st.binary(max_size=2000))
def test_the_faq_sheet_reader_takes_any_xlsx_bytes(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "faq.xlsx"
        path.write_bytes(b"PK\x03\x04" + data)
        try:
            read_faq_sheet(path)
        except KbError:
            return


@st.composite
def ticket_export(draw) -> tuple[str, str]:
    """A .csv, .json or .jsonl export: sometimes well formed, often not."""
    suffix = draw(st.sampled_from([".csv", ".json", ".jsonl"]))
    fields = ["id", "subject", "description", "agent_reply", "status", "group", "priority",
              "created_at", "requester_email", draw(st.text(max_size=8))]  # fmt: skip
    values = st.one_of(st.text(max_size=60), st.integers(), st.none(), st.booleans(),
                       st.lists(st.text(max_size=5), max_size=3))  # fmt: skip
    records = draw(st.lists(st.dictionaries(st.sampled_from(fields), values, max_size=9),
                            max_size=8))  # fmt: skip
    if draw(st.booleans()):
        return suffix, draw(st.text(max_size=500))  # not an export at all
    if suffix == ".json":
        return suffix, json.dumps(records if draw(st.booleans()) else {"tickets": records})
    if suffix == ".jsonl":
        return suffix, "\n".join(json.dumps(r) for r in records)
    header = ",".join(fields[:9])
    rows = [",".join(json.dumps(str(r.get(f, ""))) for f in fields[:9]) for r in records]
    return suffix, "\n".join([header, *rows])


@FUZZ
@given(ticket_export())
def test_the_ticket_reader_takes_any_export(export):
    suffix, text = export
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"export{suffix}"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            batch = read_tickets(path)
        except KbError:
            return  # a clear, one-line error is the right answer to a bad export
        for doc in batch.documents:
            assert doc.kind == "ticket" and doc.sections


@FUZZ
@given(st.text(max_size=3000))
def test_the_redactor_takes_any_text(text):
    assert isinstance(redact(text).text, str)


def passage(n: int, text: str) -> Passage:
    return Passage(
        n, f"d{n}", 1, f"T{n}", f"https://h.example/d{n}", f"S{n}", text, "article", "en"
    )


@FUZZ
@given(st.text(max_size=1500), st.lists(st.text(min_size=1, max_size=300), min_size=1,
                                        max_size=4))  # fmt: skip
def test_the_citation_verifier_takes_any_model_output(answer, texts):
    given_passages = [passage(i + 1, t) for i, t in enumerate(texts)]
    text, citations = verify_citations(drop_unsupported(answer, given_passages), given_passages)
    numbers = {c.number for c in citations}
    assert numbers == set(range(1, len(citations) + 1))  # renumbered in order, no gaps
    # Every citation is marked where its offsets say; any other "[n]" is the passages' text.
    for c in citations:
        assert c.offsets and all(text[at:].startswith(f"[{c.number}]") for at in c.offsets)
