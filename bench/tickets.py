"""make bench-tickets: redaction recall and precision, redaction and near-duplicate search speed.

Recall is measured twice: on the demo's planted personal data, and per kind and language on
``tests/fixtures/pii/intl.json`` (made-up values in the formats of the five ticket languages
kb reads, one per text), where a value counts as found only when exactly it is replaced by its
kind's placeholder. Precision is the share of that fixture's clean texts left untouched.
"""

from __future__ import annotations

import csv
import itertools
import json
import random
import time
from pathlib import Path

from ingest.tickets import read_tickets
from kb.dedupe import similar_pairs
from kb.redact import PLACEHOLDERS, redact
from kb.text import tokenize

ROOT = Path(__file__).resolve().parent.parent
MULTILANG = ROOT.parent / "shared/data/tickets_multilang/tickets_5lang_4k_prefix.jsonl"
INTL = ROOT / "tests/fixtures/pii/intl.json"


def redacted_exactly(text: str, value: str, kind: str) -> bool:
    """Whether redacting ``text`` replaces exactly ``value``, by ``kind``'s placeholder."""
    return redact(text).text == text.replace(value, PLACEHOLDERS[kind])


def intl_scores(path: Path = INTL) -> tuple[dict[str, dict[str, tuple[int, int]]], float]:
    """Return (found, total) by kind and language on the fixture, and the clean texts' precision."""
    fixture = json.loads(path.read_text(encoding="utf-8"))
    table: dict[str, dict[str, tuple[int, int]]] = {}
    for case in fixture["cases"]:
        row = table.setdefault(case["kind"], {})
        found, total = row.get(case["lang"], (0, 0))
        hit = redacted_exactly(case["text"], case["value"], case["kind"])
        row[case["lang"]] = (found + hit, total + 1)
    clean = [c["text"] for c in fixture["clean"]]
    untouched = sum(redact(text).text == text for text in clean)
    return table, untouched / len(clean)


def print_intl_scores() -> None:
    """Print the fixture's recall table (kind × language) and its precision."""
    table, precision = intl_scores()
    langs = sorted({lang for row in table.values() for lang in row})
    print(f"redaction recall on {INTL.relative_to(ROOT)} (found/total):")
    print(f"  {'kind':<8}" + "".join(f"{lang:>9}" for lang in langs) + f"{'all':>9}")
    for kind, row in table.items():
        cells = [row.get(lang, (0, 0)) for lang in langs]
        found, total = sum(c[0] for c in cells), sum(c[1] for c in cells)
        print(
            f"  {kind:<8}"
            + "".join(f"{f'{a}/{b}':>9}" if b else f"{'-':>9}" for a, b in cells)
            + f"{found / total:>9.2f}"
        )
    print(f"  precision on clean texts: {precision:.2f}")


def main() -> None:
    with (ROOT / "demo/tickets.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    fields = [r[k] for r in rows for k in ("subject", "description", "agent_reply")]
    planted = json.loads((ROOT / "demo/tickets_pii.json").read_text())
    original = "\n\n".join(v for row in rows for v in row.values())
    redacted = redact(original).text
    present = {kind: [v for v in values if v in original] for kind, values in planted.items()}
    recall = {
        f"{kind} ({len(values)})": sum(v not in redacted for v in values) / len(values)
        for kind, values in present.items()
        if values
    }
    print(
        "redaction recall on demo/tickets.csv: "
        + ", ".join(f"{kind} {value:.2f}" for kind, value in recall.items())
    )
    print_intl_scores()
    copies = -(-10_000 // len(rows))
    t = time.perf_counter()
    for _ in range(copies):
        for text in fields:
            redact(text)
    print(f"redact: {copies * len(rows)} demo tickets in {time.perf_counter() - t:.2f}s")
    if not MULTILANG.is_file():
        print(f"skipping the rest: {MULTILANG} not found")
        return
    t = time.perf_counter()
    batch = read_tickets(MULTILANG)
    print(
        f"read_tickets: {MULTILANG.name} -> {len(batch.documents)} documents in "
        f"{time.perf_counter() - t:.2f}s"
    )
    with MULTILANG.open(encoding="utf-8") as f:
        tickets = [json.loads(line) for line in f if line.strip()]
    sets = [frozenset(tokenize(f"{x.get('subject') or ''} {x['body']}")) for x in tickets]
    rng = random.Random(7)
    many = [
        frozenset(tok for tok in sorted(s) if rng.random() > 0.1) | {f"copy{n}"}
        for n, s in enumerate(itertools.islice(itertools.cycle(sets), 20_000))
    ]
    t = time.perf_counter()
    pairs = similar_pairs(many, 0.8)
    print(
        f"near-duplicates: {len(many)} tickets, {len(pairs)} pairs in "
        f"{time.perf_counter() - t:.2f}s"
    )


if __name__ == "__main__":
    main()
