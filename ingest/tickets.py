"""Ticket exports → documents: each solved ticket's question and agent answer, PII redacted.

Reads .csv (Zendesk, Freshdesk and similar exports), .json and .jsonl. Columns are found by
name (see ``DEFAULT_MAPPING``) or named by the caller. Only solved or closed tickets with an
agent answer are kept; near-duplicate tickets become one document that lists the others.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.sheets import HEADERS as SHEET_FIELDS
from ingest.sources import Batch, json_object
from kb.dedupe import connected_groups, same_owner_pairs, similar_pairs
from kb.errors import SourceError
from kb.models import Document, Section
from kb.redact import redact
from kb.text import normalize, tokenize

# Canonical field → accepted column names, best first; matched ignoring case, spaces and "_".
DEFAULT_MAPPING: dict[str, tuple[str, ...]] = {
    "id": ("id", "ticket_id", "Ticket ID", "ticket", "ticket number", "number", "_id"),
    "subject": ("subject", "title", "summary"),
    "body": ("description", "body", "question", "message", "text", "content", "first message"),
    "answer": (
        "agent_reply",
        "answer",
        "resolution",
        "public_reply",
        "agent_response",
        "reply",
        "response",
        "solution",
        "last agent reply",
    ),
    "status": ("status", "ticket status", "state"),
    "queue": ("group", "queue", "department", "team", "assigned group"),
    "priority": ("priority", "urgency"),
    "type": ("type", "ticket type", "ticket_type"),
    "language": ("language", "lang", "locale"),
    "tags": ("tags", "labels", "tag"),
    "created_at": ("created_at", "Created at", "created", "created time", "creation date", "date"),
    # Who asked: never stored; used to link a customer's re-sent tickets and, for the name, to
    # redact it wherever it appears.
    "email": ("requester_email", "requester email", "email", "e-mail", "contact email", "from"),
    "requester": ("requester_name", "requester", "full name", "contact name", "customer name"),
}

RESOLVED = frozenset({"solved", "closed", "resolved"})

# Near-duplicates, by the Jaccard similarity of the subject+body token sets (``tokenize``:
# stemmed words without stop words): any two tickets this alike are one (copies, templates) ...
DUPLICATE_THRESHOLD = 0.8
# ... and so are two from the same requester this alike: a customer re-sending a reworded
# ticket. Unrelated tickets on the same topic score under 0.3 in the demo and multilang data.
SAME_REQUESTER_THRESHOLD = 0.5

_LANGUAGE_NAMES = {
    "english": "en",
    "german": "de",
    "deutsch": "de",
    "spanish": "es",
    "español": "es",
    "french": "fr",
    "français": "fr",
    "portuguese": "pt",
    "português": "pt",
    "italian": "it",
    "italiano": "it",
    "dutch": "nl",
    "nederlands": "nl",
}


@dataclass(frozen=True)
class Ticket:
    """One kept ticket, already redacted, before it becomes a document."""

    id: str
    title: str
    question: str
    answer: str
    lang: str | None
    meta: dict[str, Any]


def parse_mapping(text: str) -> dict[str, str]:
    """Return the column mapping written as ``field=Column,field=Column``."""
    mapping: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        field, sep, column = part.partition("=")
        field, column = field.strip().lower(), column.strip()
        if not sep or not field or not column:
            raise SourceError(
                f"bad column mapping {part.strip()!r}: expected field=Column, "
                "e.g. subject=Title,body=Question"
            )
        if field not in DEFAULT_MAPPING and field not in SHEET_FIELDS:
            known = ", ".join(dict.fromkeys([*DEFAULT_MAPPING, *SHEET_FIELDS]))
            raise SourceError(f"unknown field {field!r} in column mapping; known: {known}")
        if field in mapping:
            raise SourceError(f"field {field!r} is mapped twice")
        mapping[field] = column
    if not mapping:
        raise SourceError("empty column mapping: expected field=Column, e.g. body=Question")
    return mapping


def read_tickets(
    path: Path,
    mapping: Mapping[str, str] | None = None,
    *,
    threshold: float = DUPLICATE_THRESHOLD,
) -> Batch:
    """Read a ticket export: one redacted document per solved ticket or near-duplicate group."""
    records, columns = load_records(path)
    fields = resolve_columns(columns, mapping or {}, path.name)
    batch = Batch(source=str(path.resolve()))
    tickets: list[Ticket] = []
    requesters: list[str] = []
    seen: set[str] = set()
    for number, record in enumerate(records, start=1):
        raw_id = _value(record, fields.get("id")) or str(number)
        reason = _unusable(record, fields)
        if not reason and raw_id in seen:
            reason = "duplicate ticket id"
        if reason:
            batch.skipped.append((f"ticket {raw_id}", reason))
            continue
        seen.add(raw_id)
        ticket, counts = make_ticket(raw_id, record, fields)
        batch.redactions.update(counts)
        tickets.append(ticket)
        requester = _value(record, fields.get("email")) or _value(record, fields.get("requester"))
        requesters.append(requester.lower())
    if not tickets:
        raise SourceError(
            f"no usable tickets in {path.name}: {len(records)} read, "
            "none solved or closed with an agent answer"
        )
    token_sets = [frozenset(tokenize(f"{t.title} {t.question}")) for t in tickets]
    pairs = similar_pairs(token_sets, threshold)
    pairs += same_owner_pairs(token_sets, requesters, SAME_REQUESTER_THRESHOLD)
    for group in connected_groups(len(tickets), pairs):
        members = [tickets[i] for i in group]
        # The longest answer wins (a duplicate's reply is often "see your other ticket"), then
        # the earliest; min() keeps the first of equals, so file order breaks the last ties.
        keep = min(members, key=lambda t: (-len(t.answer), t.meta["created_at"] or "~"))
        others = [t for t in members if t is not keep]
        for other in others:
            batch.skipped.append((f"ticket {other.id}", f"near-duplicate of ticket/{keep.id}"))
        meta = dict(keep.meta)
        if others:
            meta["duplicates"] = [t.id for t in others]
            meta["group_size"] = len(members)
        batch.documents.append(ticket_document(keep, meta, batch.source))
    return batch


def load_records(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Return the records of a .csv, .json or .jsonl export and the column names seen."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json", ".jsonl"):
        raise SourceError(f"cannot read tickets from {path.name}: expected .csv, .json or .jsonl")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise SourceError(f"{path.name} is not UTF-8 text") from None
    except OSError as e:
        raise SourceError(f"cannot read {path}: {e.strerror or e}") from None
    if suffix == ".csv":
        return _csv_records(text, path.name)
    if suffix == ".json":
        records = _json_records(text, path.name)
    else:
        records = _jsonl_records(text, path.name)
    columns = list(dict.fromkeys(k for record in records for k in record))
    return records, columns


def _csv_records(text: str, name: str) -> tuple[list[dict[str, Any]], list[str]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        records = [{k: v for k, v in row.items() if k is not None} for row in reader]
    except csv.Error as e:
        raise SourceError(f"{name}:{reader.line_num}: not valid CSV ({e})") from None
    return records, [c for c in reader.fieldnames or [] if c]


def _json_records(text: str, name: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SourceError(f"{name}:{e.lineno}: not valid JSON ({e.msg})") from None
    if isinstance(data, dict) and isinstance(data.get("tickets"), list):
        data = data["tickets"]
    if not isinstance(data, list):
        raise SourceError(f"{name}: expected a list of tickets or an object with a 'tickets' list")
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise SourceError(f"{name}: ticket {number} is not a JSON object")
    return data


def _jsonl_records(text: str, name: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            records.append(json_object(line, f"{name}:{number}"))
    return records


def _column_key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "_", name.strip().lower())


def resolve_columns(
    columns: Sequence[str], mapping: Mapping[str, str], name: str
) -> dict[str, str]:
    """Return canonical field → column, from ``mapping`` first, then ``DEFAULT_MAPPING``."""
    by_key = {_column_key(c): c for c in reversed(columns)}
    seen = ", ".join(columns) or "none"
    fields: dict[str, str] = {}
    for field, wanted in mapping.items():
        column = by_key.get(_column_key(wanted))
        if column is None:
            raise SourceError(f"{name}: no column {wanted!r} for {field} (columns: {seen})")
        fields[field] = column
    for field, accepted in DEFAULT_MAPPING.items():
        if field in fields:
            continue
        for candidate in accepted:
            column = by_key.get(_column_key(candidate))
            if column is not None and column not in fields.values():
                fields[field] = column
                break
    for required in ("body", "answer"):
        if required not in fields:
            raise SourceError(
                f"{name}: no {required} column found (columns: {seen}); "
                f"name one with a mapping such as {required}=<column>"
            )
    return fields


def _value(record: Mapping[str, Any], column: str | None) -> str:
    """Return a field as stripped text; empty when the column or value is missing."""
    if column is None:
        return ""
    value = record.get(column)
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value if v is not None)
    return str(value).strip()


def _unusable(record: Mapping[str, Any], fields: Mapping[str, str]) -> str:
    """Return why a ticket is not kept, or "" if it is."""
    if "status" in fields:
        status = _value(record, fields["status"]).lower()
        if status not in RESOLVED:
            return f"status {status or 'empty'}"
    if not _value(record, fields["answer"]):
        return "no agent answer"
    if not _value(record, fields["body"]) and not _value(record, fields.get("subject")):
        return "no question text"
    return ""


def make_ticket(
    ticket_id: str, record: Mapping[str, Any], fields: Mapping[str, str]
) -> tuple[Ticket, Counter[str]]:
    """Return a kept ticket with subject, body and answer redacted, and the redaction counts."""
    requester = _value(record, fields.get("requester"))
    names = [requester] if " " in requester and "@" not in requester else []
    counts: Counter[str] = Counter()
    parts = []
    for field in ("subject", "body", "answer"):
        redaction = redact(_value(record, fields.get(field)), names)
        counts.update(redaction.counts)
        parts.append(_clean(redaction.text))
    subject, body, answer = parts
    status = _value(record, fields.get("status")).lower() or None
    meta: dict[str, Any] = {
        "queue": _value(record, fields.get("queue")) or None,
        "priority": _value(record, fields.get("priority")) or None,
        "type": _value(record, fields.get("type")) or None,
        "tags": parse_tags(record.get(fields["tags"]) if "tags" in fields else None),
        "created_at": _value(record, fields.get("created_at")) or None,
        "status": status,
    }
    ticket = Ticket(
        id=ticket_id,
        title=normalize(subject) or _first_words(body),
        question=body or normalize(subject),
        answer=answer,
        lang=language_code(_value(record, fields.get("language"))),
        meta=meta,
    )
    return ticket, counts


def _clean(text: str) -> str:
    return "\n".join(normalize(line) for line in text.splitlines() if line.strip())


def _first_words(text: str, count: int = 12) -> str:
    words = normalize(text).split()
    return " ".join(words[:count]) + ("…" if len(words) > count else "")


def parse_tags(value: Any) -> list[str]:
    """Return tags given as a list, or as a comma- or space-separated string."""
    if value is None:
        return []
    if isinstance(value, list):
        items = [str(v).strip() for v in value]
    else:
        text = str(value)
        items = text.split(",") if "," in text else text.split()
    return [item.strip() for item in items if item.strip()]


def language_code(value: str) -> str | None:
    """Return a language tag such as ``en`` or ``pt-br`` for a code or an English name."""
    value = value.strip().lower().replace("_", "-")
    if not value:
        return None
    return _LANGUAGE_NAMES.get(value, value)


def ticket_document(ticket: Ticket, meta: dict[str, Any], source: str) -> Document:
    """Return the document for a kept ticket: a Question and a Resolution section."""
    return Document(
        id=f"ticket/{ticket.id}",
        title=ticket.title,
        sections=(
            Section("Question", ticket.question, "question", 2),
            Section("Resolution", ticket.answer, "resolution", 2),
        ),
        source=source,
        url=None,
        kind="ticket",
        lang=ticket.lang,
        meta=meta,
    )


@dataclass(frozen=True)
class Labelled:
    """A request's text (redacted) with its labels, for training a router."""

    text: str
    labels: dict[str, str]
    lang: str | None


def labelled_tickets(
    path: Path, fields_wanted: Sequence[str] = ("queue", "priority"),
    mapping: Mapping[str, str] | None = None,
) -> list[Labelled]:  # fmt: skip
    """Read every ticket of an export that has all of ``fields_wanted``, whatever its status.

    Routing learns from what customers wrote, so any ticket with a queue counts, answered or
    not; the text is redacted like a stored ticket's.
    """
    records, columns = load_records(path)
    by_key = {_column_key(c): c for c in columns}
    fields = {}
    for field in ("subject", "body", "language", *fields_wanted):
        wanted = (mapping or {}).get(field)
        accepted = (wanted,) if wanted else DEFAULT_MAPPING.get(field, (field,))
        column = next((by_key[_column_key(c)] for c in accepted if _column_key(c) in by_key), None)
        if column is not None:
            fields[field] = column
    missing = [f for f in ("body", *fields_wanted) if f not in fields]
    if missing:
        raise SourceError(f"{path.name}: no {', '.join(missing)} column (columns: "
                          f"{', '.join(columns) or 'none'})")  # fmt: skip
    out = []
    for record in records:
        text = _clean(f"{_value(record, fields.get('subject'))}\n{_value(record, fields['body'])}")
        labels = {f: _value(record, fields[f]) for f in fields_wanted}
        if text and all(labels.values()):
            lang = language_code(_value(record, fields.get("language")))
            out.append(Labelled(redact(text).text, labels, lang))
    return out
