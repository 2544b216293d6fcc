"""Issue 14, personal data in international formats: bracketed trunk prefixes, numbers with no
trunk 0 (Spain, Portugal), 00 prefixes, and IBANs in any case, across the five ticket languages
kb reads (en, de, fr, es, pt). ``make bench-tickets`` prints the same fixture's recall table.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from bench.tickets import INTL, intl_scores, redacted_exactly
from ingest.tickets import read_tickets
from kb.redact import iban_ok, redact
from tests.conftest import FIXTURES
from tests.test_faults import run_kb

FIXTURE = json.loads(INTL.read_text(encoding="utf-8"))
CASE = FIXTURES / "cases" / "pii-intl-phone-lowercase-iban" / "tickets.csv"
LANGUAGES = {"en", "de", "fr", "es", "pt"}
KINDS = {"email", "phone", "card", "iban", "address", "name"}
# What the handed case's tickets.csv stored in clear.
HANDED = ("+44 (0)20 7946 0958", "gb82west12345698765432")


def test_the_fixture_covers_every_kind_in_every_ticket_language():
    covered = {(c["lang"], c["kind"]) for c in FIXTURE["cases"]}
    assert covered == {(lang, kind) for lang in LANGUAGES for kind in KINDS}
    assert all(c["value"] in c["text"] for c in FIXTURE["cases"])
    assert {c["lang"] for c in FIXTURE["clean"]} == LANGUAGES


CASE_IDS = [f"{c['lang']}-{c['kind']}-{c['value']}" for c in FIXTURE["cases"]]


@pytest.mark.parametrize("case", FIXTURE["cases"], ids=CASE_IDS)
def test_each_value_is_replaced_exactly_by_its_placeholder(case):
    assert redacted_exactly(case["text"], case["value"], case["kind"]), redact(case["text"]).text


@pytest.mark.parametrize("text", [c["text"] for c in FIXTURE["clean"]])
def test_clean_text_stays_as_it_is(text):
    assert redact(text).text == text


def test_recall_is_whole_for_every_kind_and_language_and_precision_too():
    table, precision = intl_scores()
    missed = {(kind, lang): cell for kind, row in table.items() for lang, cell in row.items()
              if cell[0] != cell[1]}  # fmt: skip
    assert missed == {} and precision == 1.0


@pytest.mark.parametrize(
    "text",
    [
        "gb82west1234569876543",  # one character short of a British IBAN
        "Use code ab12 this week and that coupon again.",
        "zz12 abcd efgh ijkl mnop",  # no such country, and not written in capitals
    ],
)
def test_iban_shaped_words_that_are_not_ibans_stay(text):
    assert redact(text).text == text


def test_iban_check_takes_any_case_and_the_country_length():
    assert iban_ok("gb82west12345698765432") and iban_ok("Gb82 West 1234 5698 7654 32")
    assert not iban_ok("GB82WEST1234569876543")  # mod-97 aside, 21 is not a British length
    assert iban_ok("XK051212012345678906")  # Kosovo, in the registry


def test_the_handed_tickets_keep_no_phone_or_iban():
    batch = read_tickets(CASE)
    stored = "\n".join(s.text for d in batch.documents for s in d.sections)
    assert len(batch.documents) == 4
    for value in HANDED:
        assert value not in stored
    assert batch.redactions["phone"] == 9 and batch.redactions["iban"] == 2


def test_ingesting_the_handed_export_stores_and_embeds_no_phone_or_iban(tmp_path: Path):
    home = tmp_path / "home"
    r = run_kb(home, "ingest", str(CASE))
    assert r.returncode == 0, r.stderr
    assert "2 iban" in r.stdout and "9 phone" in r.stdout
    conn = sqlite3.connect(home / "kb.sqlite3")
    try:
        chunks = "\n".join(t for (t,) in conn.execute("SELECT text FROM chunks"))
    finally:
        conn.close()
    for value in (*HANDED, "+44(0)20", "(0)20 7946"):
        assert value not in chunks
    assert "or on [PHONE], mobile [PHONE]" in chunks and "iban [IBAN]." in chunks
