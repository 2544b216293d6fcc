import csv
import itertools
import json
from pathlib import Path

import pytest

from ingest.tickets import parse_mapping, read_tickets
from kb.dedupe import jaccard, similar_pairs
from kb.errors import SourceError
from kb.models import Document
from kb.text import tokenize

ROOT = Path(__file__).resolve().parent.parent
DEMO_CSV = ROOT / "demo" / "tickets.csv"
MULTILANG = Path(__file__).resolve().parents[2] / "shared/data/tickets_multilang"
MULTILANG_4K = MULTILANG / "tickets_5lang_4k_prefix.jsonl"
DUPLICATES = {"10657": "10637", "10838": "10811", "11372": "11360"}


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def all_text(doc: Document) -> str:
    return "\n".join([doc.title, *(s.text for s in doc.sections), json.dumps(doc.meta)])


def need_multilang() -> None:
    if not MULTILANG_4K.exists():
        pytest.skip(f"shared multilingual ticket sample not found at {MULTILANG_4K}")


@pytest.fixture(scope="module")
def demo_rows() -> list[dict[str, str]]:
    with DEMO_CSV.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def test_demo_keeps_solved_and_closed_tickets_with_answers(demo_rows):
    batch = read_tickets(DEMO_CSV)
    resolved = {
        r["id"] for r in demo_rows if r["status"] in ("solved", "closed") and r["agent_reply"]
    }
    ids = {d.id.removeprefix("ticket/") for d in batch.documents}
    assert ids == resolved - set(DUPLICATES)
    skipped = dict(batch.skipped)
    for row in demo_rows:
        if row["id"] not in resolved:
            assert skipped[f"ticket {row['id']}"] == f"status {row['status']}"
    assert skipped["ticket 11688"] == "status open"
    assert skipped["ticket 11456"] == "status pending"
    assert batch.source == str(DEMO_CSV.resolve())


def test_demo_documents_have_kind_sections_lang_and_meta():
    docs = {d.id: d for d in read_tickets(DEMO_CSV).documents}
    assert {d.kind for d in docs.values()} == {"ticket"}
    assert {d.lang for d in docs.values()} == {"en", "de", "es", "fr"}
    doc = docs["ticket/10412"]
    assert doc.title == "Can't log in - account locked"
    assert [(s.heading, s.anchor, s.level) for s in doc.sections] == [
        ("Question", "question", 2),
        ("Resolution", "resolution", 2),
    ]
    assert doc.sections[0].text.startswith("I tried my password a few times")
    assert doc.sections[1].text.startswith("Hi, after 5 incorrect attempts")
    assert doc.url is None and doc.source == str(DEMO_CSV.resolve())
    assert doc.meta == {
        "queue": "Account",
        "priority": "normal",
        "type": "incident",
        "tags": ["login", "locked", "password"],
        "created_at": "2026-01-03T10:21:14Z",
        "status": "closed",
    }
    assert docs["ticket/10766"].lang == "es"
    assert docs["ticket/10911"].meta["queue"] == "Billing"
    assert docs["ticket/11132"].lang == "fr"


def test_demo_documents_hold_no_planted_personal_data():
    batch = read_tickets(DEMO_CSV)
    planted = json.loads((ROOT / "demo" / "tickets_pii.json").read_text(encoding="utf-8"))
    texts = [all_text(d) for d in batch.documents]
    for key in ("emails", "cards", "ibans", "phones", "addresses", "names"):
        leaks = [item for item in planted[key] for text in texts if item in text]
        assert leaks == [], key
    for kind in ("card", "iban", "phone", "address", "name"):
        assert batch.redactions[kind] >= 1
    assert "[CARD]" in all_text(next(d for d in batch.documents if d.id == "ticket/10492"))
    assert not any("requester_email" in d.meta or "email" in d.meta for d in batch.documents)


def test_demo_near_duplicates_become_one_document():
    batch = read_tickets(DEMO_CSV)
    docs = {d.id: d for d in batch.documents}
    skipped = dict(batch.skipped)
    for duplicate, original in DUPLICATES.items():
        assert f"ticket/{duplicate}" not in docs
        assert docs[f"ticket/{original}"].meta["duplicates"] == [duplicate]
        assert docs[f"ticket/{original}"].meta["group_size"] == 2
        assert skipped[f"ticket {duplicate}"] == f"near-duplicate of ticket/{original}"
    grouped = [d.id for d in docs.values() if "duplicates" in d.meta]
    assert sorted(grouped) == sorted(f"ticket/{o}" for o in DUPLICATES.values())


def test_identical_text_is_grouped_and_a_rewording_only_from_the_same_requester(tmp_path):
    question = "The hub light is solid blue and the app says hub offline since the new router"
    rows = [
        {"id": "1", "status": "solved", "subject": "Hub offline", "body": question,
         "answer": "Hold the button for 5 seconds.", "email": "a@example.com"},
        {"id": "2", "status": "solved", "subject": "Hub offline", "body": question + " came",
         "answer": "Hold the hub button for 5 seconds, then change network.",
         "email": "b@example.com"},
        {"id": "3", "status": "solved", "subject": "Hub not online",
         "body": "Since a new router arrived my hub light is solid blue, app shows it offline",
         "answer": "Change the network.", "email": "c@example.com"},
    ]  # fmt: skip
    batch = read_tickets(write_csv(tmp_path / "t.csv", rows))
    docs = {d.id: d for d in batch.documents}
    assert set(docs) == {"ticket/2", "ticket/3"}
    assert docs["ticket/2"].meta["duplicates"] == ["1"]
    assert "duplicates" not in docs["ticket/3"].meta
    rows[2]["email"] = "A@example.com"  # the same requester rewording the first ticket
    (doc,) = read_tickets(write_csv(tmp_path / "t.csv", rows)).documents
    assert doc.id == "ticket/2"
    assert doc.meta["duplicates"] == ["1", "3"] and doc.meta["group_size"] == 3


def test_multilang_sample_reads_with_the_default_mapping():
    need_multilang()
    batch = read_tickets(MULTILANG_4K)
    lines = sum(1 for line in MULTILANG_4K.read_text(encoding="utf-8").splitlines() if line)
    grouped = sum(1 for _, reason in batch.skipped if reason.startswith("near-duplicate"))
    print(f"{len(batch.documents)} documents, {grouped} near-duplicates, {batch.redactions}")
    assert len(batch.documents) + len(batch.skipped) == lines
    assert all(reason.startswith("near-duplicate") for _, reason in batch.skipped)
    assert {d.lang for d in batch.documents} == {"en", "de", "es", "fr", "pt"}
    doc = batch.documents[0]
    assert doc.kind == "ticket" and doc.id.startswith("ticket/t4k-")
    assert doc.meta["queue"] and doc.meta["priority"] and doc.meta["type"]
    assert isinstance(doc.meta["tags"], list) and doc.meta["tags"]
    assert doc.meta["status"] is None
    assert all(d.sections[1].text for d in batch.documents)


def test_similar_pairs_equals_brute_force():
    need_multilang()
    with MULTILANG_4K.open(encoding="utf-8") as f:
        tickets = [json.loads(line) for line in f if line.strip()]
    sets = [frozenset(tokenize(f"{t.get('subject') or ''} {t['body']}")) for t in tickets]
    sample = sets[:600]
    for threshold in (0.8, 0.5, 0.3):
        brute = [
            (i, j)
            for i, j in itertools.combinations(range(len(sample)), 2)
            if sample[i] and sample[j] and jaccard(sample[i], sample[j]) >= threshold
        ]
        assert similar_pairs(sample, threshold) == brute


def test_json_list_and_object_forms(tmp_path):
    tickets = [
        {"ticket_id": 7, "title": "Bulb flickers", "question": "My bulb flickers on a dimmer.",
         "resolution": "Dimmers are not supported.", "state": "Resolved",
         "tags": "bulb, dimmer", "lang": "en_GB"},
        {"ticket_id": 8, "title": "Hub", "question": "Hub?", "resolution": "", "state": "Closed"},
        {"ticket_id": 9, "title": "Open one", "question": "Still open", "resolution": "Soon",
         "state": "new"},
    ]  # fmt: skip
    as_list = read_tickets(write(tmp_path / "a.json", json.dumps(tickets)))
    as_object = read_tickets(write(tmp_path / "b.json", json.dumps({"tickets": tickets})))
    for batch in (as_list, as_object):
        (doc,) = batch.documents
        assert doc.id == "ticket/7" and doc.title == "Bulb flickers"
        assert doc.lang == "en-gb" and doc.meta["tags"] == ["bulb", "dimmer"]
        assert doc.meta["status"] == "resolved"
        assert batch.skipped == [("ticket 8", "no agent answer"), ("ticket 9", "status new")]


def test_jsonl_with_list_tags_and_body_fallback_title(tmp_path):
    body = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    lines = [{"id": "x1", "body": body, "answer": "Done.", "tags": ["a", "b"], "language": "DE"}]
    batch = read_tickets(write(tmp_path / "t.jsonl", "\n".join(map(json.dumps, lines)) + "\n"))
    (doc,) = batch.documents
    assert doc.title == "one two three four five six seven eight nine ten eleven twelve…"
    assert doc.meta["tags"] == ["a", "b"] and doc.lang == "de"


def test_csv_with_bom_crlf_embedded_newlines_and_space_separated_tags(tmp_path):
    text = (
        "Ticket ID,Subject,Description,Resolution,Status,Group,Created at,Tags,Full name\r\n"
        '42,Refund,"Where is my refund?\r\nI returned it last week, Jane Doe here.",'
        '"Refunds take 5-10 days.",Solved,Billing,2026-01-01,refund return,Jane Doe\r\n'
    )
    batch = read_tickets(write(tmp_path / "export.csv", b"\xef\xbb\xbf" + text.encode()))
    (doc,) = batch.documents
    assert doc.id == "ticket/42"
    assert doc.sections[0].text == "Where is my refund?\nI returned it last week, [NAME] here."
    assert doc.meta["queue"] == "Billing" and doc.meta["tags"] == ["refund", "return"]
    assert doc.meta["created_at"] == "2026-01-01" and doc.lang is None
    assert batch.redactions == {"name": 1}


def test_custom_mapping(tmp_path):
    rows = [
        {"Ref": "1", "Description": "Category: pairing", "Question": "How do I pair a bulb?",
         "Answer": "internal: see KB-12", "Reply": "Use + › Add device."},
    ]  # fmt: skip
    path = write_csv(tmp_path / "faq.csv", rows)
    (doc,) = read_tickets(path).documents
    assert [s.text for s in doc.sections] == ["Category: pairing", "internal: see KB-12"]
    (doc,) = read_tickets(path, mapping={"body": "Question", "answer": "Reply"}).documents
    assert doc.id == "ticket/1"
    assert [s.text for s in doc.sections] == ["How do I pair a bulb?", "Use + › Add device."]
    mapping = parse_mapping("id=Ref,body=question,answer=REPLY")
    (doc,) = read_tickets(path, mapping=mapping).documents
    assert doc.sections[1].text == "Use + › Add device."
    with pytest.raises(SourceError, match=r"no column 'Response' for answer \(columns: Ref, "):
        read_tickets(path, mapping={"body": "Question", "answer": "Response"})


def test_parse_mapping():
    assert parse_mapping("subject=Title,body=Question") == {"subject": "Title", "body": "Question"}
    assert parse_mapping(" Answer = Agent reply , ") == {"answer": "Agent reply"}


@pytest.mark.parametrize(
    "text, message",
    [
        ("subject", "bad column mapping 'subject'"),
        ("=Title", "bad column mapping '=Title'"),
        ("body=", "bad column mapping 'body='"),
        ("colour=Red", "unknown field 'colour'"),
        ("body=A,body=B", "'body' is mapped twice"),
        (" , ", "empty column mapping"),
    ],
)
def test_parse_mapping_rejects_bad_forms(text: str, message: str):
    with pytest.raises(SourceError, match=message):
        parse_mapping(text)


def test_csv_without_answer_column_names_the_columns(tmp_path):
    path = write_csv(tmp_path / "t.csv", [{"id": "1", "subject": "S", "description": "D"}])
    with pytest.raises(SourceError) as e:
        read_tickets(path)
    message = e.value.message
    assert message == (
        "t.csv: no answer column found (columns: id, subject, description); "
        "name one with a mapping such as answer=<column>"
    )
    assert "\n" not in message


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("t.json", '[\n{"id": 1},\n{"id": 2,,}\n]', r"t.json:3: not valid JSON"),
        ("t.json", '{"items": []}', "expected a list of tickets or an object with a 'tickets'"),
        ("t.json", "[1, 2]", "ticket 1 is not a JSON object"),
        ("t.jsonl", '{"body": "a", "answer": "b"}\n{oops\n', r"t.jsonl:2: not valid JSON"),
        ("t.jsonl", '["a"]\n', r"t.jsonl:1: expected a JSON object"),
        ("t.jsonl", "\n\n", "no body column found"),
        ("t.csv", b"id,body,answer\n1,\xff\xfe,x\n", "t.csv is not UTF-8 text"),
        ("t.csv", "id,body,answer,status\n1,q,a,open\n2,q,,solved\n", "no usable tickets in t.csv"),
        ("t.txt", "id,body,answer\n", "expected .csv, .json or .jsonl"),
    ],
)
def test_bad_exports_are_one_clear_error(tmp_path, name: str, content: str | bytes, message: str):
    path = write(tmp_path / name, content)
    with pytest.raises(SourceError, match=message) as e:
        read_tickets(path)
    assert "\n" not in e.value.message


def test_unreadable_file_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="cannot read .*missing.csv"):
        read_tickets(tmp_path / "missing.csv")
