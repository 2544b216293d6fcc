"""Zendesk Help Center exports (the articles JSON): what is kept, what is left out and why."""

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.chunking import chunk_sections
from ingest.helpcentre import is_helpcentre_export, read_helpcentre_export
from ingest.language import with_language
from ingest.pipeline import store_batches
from kb.errors import SourceError
from kb.models import Section
from kb.store import Store

ENGLISH = {
    "id": 360001,
    "url": "https://help.example.com/api/v2/help_center/en-us/articles/360001.json",
    "html_url": "https://help.example.com/hc/en-us/articles/360001-Reset-your-password",
    "title": "Reset your password",
    "body": (
        "<p>If you forgot your password, reset it.</p>"
        '<h2 id="h_01HA">From the app</h2><p>Open <strong>Settings</strong>, then tap'
        " <em>Reset password</em>.</p>"
        '<h2 id="h_01HB">From the web</h2><ol><li>Open the sign-in page.</li>'
        "<li>Click <a href='/hc/en-us/articles/2'>Forgot password</a>.</li></ol>"
    ),
    "locale": "en-us",
    "source_locale": "en-us",
    "author_id": 1,
    "draft": False,
    "outdated": False,
    "promoted": False,
    "position": 0,
    "section_id": 123,
    "user_segment_id": None,
    "label_names": ["password", "account"],
    "created_at": "2023-01-05T08:00:00Z",
    "edited_at": "2024-03-01T10:00:00Z",
    "updated_at": "2024-05-01T10:00:00Z",
}
CHINESE = {
    **ENGLISH,
    "html_url": "https://help.example.com/hc/zh-cn/articles/360001",
    "title": "重置密码",
    "body": (
        "<p>忘记密码时，可以重置。</p>"
        '<h2 id="h_app">在应用中重置</h2><p>打开设置，点击重置密码。</p>'
        '<h2 id="h_web">在网页上重置</h2><p>打开登录页面，点击忘记密码。</p>'
    ),
    "locale": "zh-cn",
    "label_names": ["password"],
    "edited_at": "2024-03-02T18:00:00+08:00",
}
TRADITIONAL = {**CHINESE, "id": 360002, "locale": "zh-tw", "title": "重設密碼",
               "html_url": "https://help.example.com/hc/zh-tw/articles/360002",
               "body": "<p>打開設定，點擊重設密碼。</p>", "label_names": []}  # fmt: skip
DRAFT = {**ENGLISH, "id": 11, "title": "New plans (coming soon)", "draft": True}
RESTRICTED = {**ENGLISH, "id": 12, "title": "Refund override (agents)", "user_segment_id": 9001}
EMPTY = {**ENGLISH, "id": 13, "title": "Placeholder", "body": None}
AGAIN = {**ENGLISH, "title": "Reset your password (copy)"}


def export(path: Path, articles: list[Any], **extra: Any) -> Path:
    """Write ``articles`` as the Help Center API's list response and return the path."""
    page = {"articles": articles, "next_page": None, "previous_page": None, "count": len(articles)}
    path.write_text(json.dumps({**page, **extra}), encoding="utf-8")
    return path


def test_articles_become_documents_with_sections_anchors_url_lang_and_date(tmp_path):
    path = export(tmp_path / "articles.json", [ENGLISH, CHINESE, TRADITIONAL])
    batch = read_helpcentre_export(path)
    assert batch.source == str(path.resolve()) and batch.skipped == []
    english, chinese, traditional = batch.documents
    assert english.id == "hc/en-us/360001" and english.title == "Reset your password"
    assert english.sections == (
        Section("Reset your password", "If you forgot your password, reset it.", None, 1),
        Section("From the app", "Open Settings, then tap Reset password.", "h_01HA", 2),
        Section("From the web", "1. Open the sign-in page.\n2. Click Forgot password.",
                "h_01HB", 2),
    )  # fmt: skip
    assert english.url == ENGLISH["html_url"] and english.kind == "article"
    assert english.lang == "en"
    assert english.meta == {
        "zendesk_id": 360001,
        "locale": "en-us",
        "updated_at": "2024-03-01T10:00:00+00:00",  # edited_at: what the help centre shows
        "section_id": 123,
        "labels": ["password", "account"],
    }
    assert chinese.id == "hc/zh-cn/360001" and chinese.title == "重置密码"
    assert [(s.heading, s.anchor) for s in chinese.sections] == [
        ("重置密码", None), ("在应用中重置", "h_app"), ("在网页上重置", "h_web")]  # fmt: skip
    assert chinese.sections[1].text == "打开设置，点击重置密码。"
    assert chinese.url == "https://help.example.com/hc/zh-cn/articles/360001"
    assert chinese.lang == "zh-Hans" and with_language(chinese).lang == "zh-Hans"
    assert chinese.meta["updated_at"] == "2024-03-02T10:00:00+00:00"  # in UTC
    assert chinese.meta["labels"] == "password"  # one label, as a page's kb:labels is stored
    assert chinese.meta["locale"] == "zh-cn"
    assert traditional.lang == "zh-Hant" and "labels" not in traditional.meta


def test_the_id_survives_a_title_edit_and_differs_per_translation(tmp_path):
    first = read_helpcentre_export(export(tmp_path / "a.json", [ENGLISH, CHINESE])).documents
    edited = {**ENGLISH, "title": "Change or reset your password"}
    second = read_helpcentre_export(export(tmp_path / "b.json", [edited])).documents
    assert [d.id for d in first] == ["hc/en-us/360001", "hc/zh-cn/360001"]
    assert second[0].id == first[0].id and second[0].title == "Change or reset your password"
    no_locale = {k: v for k, v in ENGLISH.items() if k != "locale"}
    (doc,) = read_helpcentre_export(export(tmp_path / "c.json", [no_locale])).documents
    assert doc.id == "hc/360001" and doc.lang is None and "locale" not in doc.meta


def test_what_visitors_cannot_read_or_kb_cannot_use_is_left_out_with_a_reason(tmp_path):
    articles = [
        ENGLISH,
        DRAFT,
        RESTRICTED,
        {**ENGLISH, "id": 14, "title": "Beta", "user_segment_ids": [77]},
        {**ENGLISH, "id": 15, "title": "Old pricing", "status": "archived"},
        {**ENGLISH, "id": 16, "title": "Half done", "draft": "yes"},  # not plainly false
        EMPTY,
        {**ENGLISH, "id": 17, "title": "Blank", "body": "<p> </p><div></div>"},
        AGAIN,
        "not an article",
        {**ENGLISH, "id": None, "title": "Lost"},
        {**ENGLISH, "id": "abc", "title": "Odd id"},
        {**ENGLISH, "id": 18, "title": None},
        {**ENGLISH, "id": 19, "title": "  "},
        {**ENGLISH, "id": 20, "title": "Published", "status": "published", "draft": "false"},
    ]
    batch = read_helpcentre_export(export(tmp_path / "articles.json", articles))
    assert [d.id for d in batch.documents] == ["hc/en-us/360001", "hc/en-us/20"]
    assert batch.skipped == [
        ("New plans (coming soon)", "a draft"),
        ("Refund override (agents)", "restricted to a user segment (signed-in users or agents "
                                      "only)"),
        ("Beta", "restricted to a user segment (signed-in users or agents only)"),
        ("Old pricing", "status archived: not published"),
        ("Half done", "a draft"),
        ("Placeholder", "no text in the body"),
        ("Blank", "no text in the body"),
        ("Reset your password (copy)", "duplicate of hc/en-us/360001"),
        ("articles[9]", "not a JSON object"),
        ("Lost", "no id"),
        ("Odd id", "an id that is not a number"),
        ("article 18", "no title"),
        ("article 19", "no title"),
    ]  # fmt: skip


def test_a_body_with_its_own_article_and_h1_is_still_headed_by_the_title(tmp_path):
    body = ("<article><h1>Overview</h1><p>Plans differ in seats.</p>"
            '<h2 id="seats">Seats</h2><p>Pro has ten.</p></article>')  # fmt: skip
    article = {**ENGLISH, "title": "Compare plans", "body": body}
    (doc,) = read_helpcentre_export(export(tmp_path / "articles.json", [article])).documents
    assert doc.title == "Compare plans"
    assert [(s.heading, s.anchor, s.text) for s in doc.sections] == [
        ("Compare plans", None, "Plans differ in seats."),
        ("Seats", "seats", "Pro has ten."),
    ]


def test_hostile_fields_are_dropped_not_raised(tmp_path):
    article = {
        **ENGLISH,
        "title": "Bad \ud800 title <script>",  # a lone surrogate is valid JSON
        "body": "<h2>Steps</h2><p>Do \ud800 it.</p>",
        "html_url": "javascript:alert(1)",
        "locale": "../../etc",
        "edited_at": "yesterday",
        "updated_at": None,
        "created_at": "2024-13-45",
        "section_id": "not a number",
        "label_names": ["ok", 3, None, " ok ", ""],
    }
    (doc,) = read_helpcentre_export(export(tmp_path / "articles.json", [article])).documents
    assert doc.id == "hc/360001" and doc.title == "Bad ? title <script>"
    assert doc.url is None and doc.lang is None
    assert doc.meta == {"zendesk_id": 360001, "labels": "ok"}
    for url in ("http://[::1", "https://help.example.com/a b", "ftp://help.example.com/x"):
        (doc,) = read_helpcentre_export(
            export(tmp_path / "articles.json", [{**ENGLISH, "html_url": url}])
        ).documents
        assert doc.url is None, url


def test_stored_documents_keep_their_meta_and_anchors_and_leave_when_unpublished(tmp_path):
    path = export(tmp_path / "articles.json", [ENGLISH, CHINESE])
    store = Store(tmp_path / "kb.sqlite3")

    def ingest() -> Any:
        batch = read_helpcentre_export(path)
        batch.documents = [with_language(d) for d in batch.documents]
        return store_batches(store, [batch], chunk_words=200)

    assert ingest().added == 2
    stored = store.get_document("hc/en-us/360001")
    assert stored is not None and stored.meta["updated_at"] == "2024-03-01T10:00:00+00:00"
    assert [s.anchor for s in stored.sections] == [None, "h_01HA", "h_01HB"]
    assert ingest().unchanged == 2
    export(path, [{**ENGLISH, "draft": True}, CHINESE])  # the English article is unpublished
    report = ingest()
    assert (report.removed, report.unchanged) == (1, 1)
    assert store.document_ids(str(path.resolve())) == {"hc/zh-cn/360001"}


def test_chunks_carry_the_section_anchors(tmp_path):
    (doc,) = read_helpcentre_export(export(tmp_path / "a.json", [ENGLISH])).documents
    chunks = chunk_sections(doc.id, doc.sections, 200)
    assert [(c.section, c.anchor) for c in chunks] == [
        ("Reset your password", None),
        ("From the app", "h_01HA"),
        ("From the web", "h_01HB"),
    ]


def test_is_helpcentre_export_sniffs_the_top_level_keys(tmp_path):
    assert is_helpcentre_export(export(tmp_path / "articles.json", [ENGLISH]))
    later = tmp_path / "later.json"  # "articles" after other keys, with a byte-order mark
    later.write_bytes(b"\xef\xbb\xbf" + json.dumps({"count": 1, "meta": {"a": [1, {"b": "}"}]},
                                                  "articles": []}).encode())  # fmt: skip
    assert is_helpcentre_export(later)
    tickets = [{"id": 1, "subject": "Printer jams", "description": "It jams.",
                "agent_reply": "Clean the roller.", "status": "solved",
                "articles": [360001]}]  # fmt: skip
    as_list = tmp_path / "tickets.json"
    as_list.write_text(json.dumps(tickets))
    as_object = tmp_path / "export.json"
    as_object.write_text(json.dumps({"tickets": tickets, "count": 1}))
    quoted = tmp_path / "quoted.json"
    quoted.write_text(json.dumps({"tickets": [{"subject": 'say "articles": [] here'}]}))
    jsonl = tmp_path / "articles.jsonl"
    jsonl.write_text(json.dumps({"articles": [ENGLISH]}) + "\n")
    csv = tmp_path / "articles.csv"
    csv.write_text("articles,title\n1,Reset\n")
    folder = tmp_path / "folder.json"
    folder.mkdir()
    for path in (as_list, as_object, quoted, jsonl, csv, folder, tmp_path / "missing.json"):
        assert not is_helpcentre_export(path), path.name


def test_the_sniff_reads_only_the_head_of_a_big_file(tmp_path):
    path = tmp_path / "tickets.json"
    filler = [{"subject": "x" * 100, "articles": [1]}] * 20_000  # about 2.6 MB
    path.write_text(json.dumps({"tickets": filler, "articles": []}))
    assert not is_helpcentre_export(path)  # a key after the first MiB is not looked for


NOT_AN_EXPORT = r"^articles\.json: expected an object with an 'articles' list"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"articles": [', r"^articles\.json:1:15: not valid JSON \(Expecting value\)$"),
        (b'{"articles": []}\n{"articles": []}',
         r"^articles\.json:2:1: not valid JSON \(Extra data"),
        (b'{"articles": ["caf\xe9"]}', r"^articles\.json is not UTF-8 text \(byte 18\)$"),
        (b"[1, 2]", NOT_AN_EXPORT),
        (b'{"articles": {"id": 1}}', NOT_AN_EXPORT),
        (b'{"articles": []}', r"^no articles in articles\.json: its 'articles' list is empty$"),
        (json.dumps({"articles": [DRAFT, DRAFT, RESTRICTED, 7]}).encode(),
         r"^no published articles in articles\.json: 2 drafts, 1 restricted, "
         r"1 item not an object$"),
        (b"[" * 100_000, r"^articles\.json: not valid JSON \(nested too deeply\)$"),
        (b'{"articles": [' + b"1" * 5000 + b"]}", r"^articles\.json: not valid JSON \(Exceeds"),
    ],
)  # fmt: skip
def test_whole_file_problems_are_one_line_source_errors(tmp_path, content, message):
    path = tmp_path / "articles.json"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=message) as e:
        read_helpcentre_export(path)
    assert "\n" not in e.value.message


def test_an_unreadable_file_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="cannot read .*missing.json"):
        read_helpcentre_export(tmp_path / "missing.json")


# Fuzzing: any JSON under "articles", and articles with any field values, read or refused.
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
KEYS = st.sampled_from(["articles", "tickets", "id"]) | st.text(max_size=8)  # nested "articles"
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)  # fmt: skip
HTML = st.lists(
    st.sampled_from(["<h1>", "<h2 id='a'>", "</h2>", "<p>", "</p>", "<article>", "</article>",
                     "<a href='/x'>", "</a>", "<nav>", "</main>", "</body>", "<!--", "&amp;",
                     "\x00", "\ud800", "Reset", "重置密码", " "]) | st.text(max_size=30),
    max_size=25,
).map("".join)  # fmt: skip
# Fields a published, public article may hold anything in: it is still read.
FIELDS = {
    "locale": st.sampled_from(["en-us", "zh-cn", "zh-tw", "und", "", "EN_us", "../x"])
    | st.text(max_size=8),
    "html_url": st.sampled_from(["https://help.example.com/hc/a/1", "http://[::1",
                                 "javascript:x", "https://a b/", "https://a.b/\ud800"])
    | st.text(max_size=30),
    "label_names": st.lists(st.text(max_size=8) | JSON, max_size=4) | JSON,
    "edited_at": st.sampled_from(["2024-03-01T10:00:00Z", "0001-01-01T00:00:00+05:00",
                                  "9999-12-31T23:59:59-05:00", "2024-02-30"]) | JSON,
    "updated_at": st.text(max_size=30) | JSON,
    "section_id": JSON,
}  # fmt: skip
BODY = st.tuples(HTML, st.text(min_size=1, max_size=30), HTML).map(lambda parts: "".join(parts))
PUBLISHED = st.fixed_dictionaries(
    {
        "id": st.integers(0, 10**6),
        "title": st.text(max_size=30).map("Article {}".format),
        "body": BODY.map("<p>Restart the router.</p>{}".format),
    },
    optional={
        **FIELDS,
        "draft": st.sampled_from([None, False, 0, "false"]),
        "status": st.just("published"),
        "user_segment_id": st.none(),
        "user_segment_ids": st.just([]),
    },
)  # fmt: skip
ANY_ARTICLE = st.fixed_dictionaries(
    {
        "id": st.integers(-5, 2**64) | st.sampled_from(["1", "", " 7 ", "x", "9" * 30]) | JSON,
        "title": st.text(max_size=30) | JSON,
        "body": BODY | HTML | JSON,
    },
    optional={
        **FIELDS,
        **{k: JSON for k in ("draft", "status", "archived", "user_segment_id", "user_segment_ids")},
    },
)

# A published article with one field saying it is not for everyone (or not plainly that it is).
HIDING = {
    "draft": st.sampled_from([True, 1, "true", "yes", [], {}]) | st.floats(allow_nan=True),
    "status": st.sampled_from(["draft", "archived", "unpublished", ""]) | JSON,
    "archived": st.sampled_from([True, "1"]),
    "user_segment_id": st.integers() | st.text(max_size=5) | st.just([]),
    "user_segment_ids": st.lists(st.integers(), min_size=1, max_size=3) | st.just({}),
}
HIDDEN = st.tuples(PUBLISHED, st.sampled_from(sorted(HIDING))).flatmap(
    lambda pair: HIDING[pair[1]].map(lambda value: {**pair[0], pair[1]: value})
)


def mostly(usual: st.SearchStrategy[Any], *odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``usual`` half the time, else one of ``odd``: so many articles get far enough to be read."""
    return st.sampled_from([usual] * len(odd) + list(odd)).flatmap(lambda chosen: chosen)


@st.composite
def exports(draw) -> tuple[bytes, Any]:
    """An export file's bytes and the value they hold (None when not valid JSON)."""
    articles = draw(st.lists(mostly(PUBLISHED, HIDDEN, ANY_ARTICLE, JSON), max_size=6))
    shape = draw(st.sampled_from(["export"] * 3 + ["tickets", "any"]))
    if shape == "export":
        data: Any = {"articles": articles}
    elif shape == "tickets":  # a ticket export whose tickets name articles: not an export
        data = {"tickets": [{"id": 1, "articles": articles}], "count": 1}
    else:
        data = draw(JSON)
    if isinstance(data, dict) and draw(st.booleans()):
        data = {**draw(st.dictionaries(KEYS, JSON, max_size=3)), **data}
    text = json.dumps(data, ensure_ascii=draw(st.sampled_from([True, True, True, False])))
    raw = text.encode("utf-8", "surrogatepass")  # lone surrogates make it not UTF-8
    if draw(st.sampled_from([0] * 9 + [1])):
        return raw[: draw(st.integers(0, len(raw) - 1))], None  # cut short
    return raw, data


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exports())
def test_any_export_is_read_or_refused_in_one_line(export_file):
    raw, data = export_file
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.json"
        path.write_bytes(raw)
        sniffed = is_helpcentre_export(path)
        if data is not None:
            assert sniffed == (isinstance(data, dict) and "articles" in data)
        try:
            batch = read_helpcentre_export(path)
        except SourceError as e:
            assert e.message and "\n" not in e.message
            return
    assert isinstance(data, dict)
    assert len(batch.documents) + len(batch.skipped) == len(data["articles"])
    assert len({d.id for d in batch.documents}) == len(batch.documents)
    for doc in batch.documents:
        assert doc.id.startswith("hc/") and doc.kind == "article" and doc.title and doc.sections
        read_from = [a for a in data["articles"] if _id(a) == doc.meta["zendesk_id"]]
        assert any(map(_public, read_from)), read_from
        assert doc.url is None or doc.url.startswith(("http://", "https://"))
        assert isinstance(doc.meta["zendesk_id"], int)
        json.dumps(doc.meta)
        doc.title.encode("utf-8")
        for section in doc.sections:
            (section.heading + section.text).encode("utf-8")  # storable: no lone surrogates
        with_language(doc)  # the pipeline's next step takes it


def _id(article: Any) -> int | None:
    raw = article.get("id") if isinstance(article, dict) else None
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        return None
    try:
        return int(str(raw).strip())
    except ValueError:
        return None


def _public(article: dict[str, Any]) -> bool:
    """Whether the article says plainly that it is published and open to every visitor."""
    off = [None, False, 0, "", "false", "no", "0", "null"]
    flags = [v.strip().lower() if isinstance(v, str) else v
             for v in (article.get("draft"), article.get("archived"))]  # fmt: skip
    return (
        all(f in off for f in flags)
        and _status(article.get("status")) in (None, "published")
        and article.get("user_segment_id") is None
        and article.get("user_segment_ids") in (None, [])
    )


def _status(status: Any) -> Any:
    return status.strip().lower() if isinstance(status, str) else status
