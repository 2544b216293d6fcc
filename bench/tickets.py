"""make bench-tickets: redaction and near-duplicate search speed on ticket-sized text."""

from __future__ import annotations

import csv
import itertools
import json
import random
import time
from pathlib import Path

from ingest.dedupe import similar_pairs
from ingest.redact import redact
from ingest.tickets import read_tickets
from kb.text import tokenize

ROOT = Path(__file__).resolve().parent.parent
MULTILANG = ROOT.parent / "shared/data/tickets_multilang/tickets_5lang_4k_prefix.jsonl"


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
