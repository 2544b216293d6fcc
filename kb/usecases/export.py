"""Training data for improving the models, from what support already knows.

``finetune``: OpenAI chat-format JSONL (``{"messages": [system, user, assistant]}``) from
resolved tickets and from answers customers rated helpful. ``pairs``: (query, relevant
passage) JSONL for fine-tuning the embedding model, from the same sources and accepted FAQs.
Ticket text was redacted when it was ingested; feedback when it was stored. Each example goes
to train or validation by a hash of its id, so the split is stable across runs.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.errors import InvalidInput

if TYPE_CHECKING:
    from kb.usecases.bootstrap import Services

_MARK = re.compile(r"\s*\[\d{1,3}\]")


def _examples(kb: Services) -> Iterator[tuple[str, str, str, str]]:
    """(id, question, answer, source) from tickets, helpful answers and accepted FAQs."""
    with kb.stores.journal() as journal:
        feedback = journal.feedback(1_000_000)
    with kb.stores.open() as store:
        for doc in store.documents_of_kind("ticket"):
            parts = {s.anchor: s.text for s in doc.sections}
            if parts.get("resolution"):
                question = f"{doc.title}\n{parts.get('question', '')}".strip()
                yield doc.id, question, parts["resolution"], "ticket"
        for f in feedback:
            if f.rating > 0 and f.target == "answer" and f.answer:
                yield f"feedback/{f.id}", f.query, f.answer, "helpful_answer"
        for doc in store.documents_of_kind("faq"):
            for s in doc.sections:
                yield doc.id, s.heading, s.text, "faq"


def _split(example_id: str, validation_share: float) -> str:
    bucket = int(hashlib.blake2b(example_id.encode(), digest_size=4).hexdigest(), 16) % 10_000
    return "validation" if bucket < validation_share * 10_000 else "train"


def export(kb: Services, kind: str, out: Path, validation_share: float = 0.1) -> dict[str, Any]:
    """Write ``kind`` (finetune or pairs) to ``out``/{kind}-{train,validation}.jsonl."""
    if kind not in ("finetune", "pairs"):
        raise InvalidInput("export kind must be finetune or pairs")
    if not 0 <= validation_share < 1:
        raise InvalidInput("validation share must be at least 0 and below 1")
    out.mkdir(parents=True, exist_ok=True)
    system = (f"You answer customer questions for {kb.settings.product_name}, briefly and "
              "only from what you know to be true.")  # fmt: skip
    counts = {"train": 0, "validation": 0}
    sources: dict[str, int] = {}
    with ExitStack() as stack:
        files = {part: stack.enter_context(open(out / f"{kind}-{part}.jsonl", "w",
                                                encoding="utf-8"))
                 for part in ("train", "validation")}  # fmt: skip
        for example_id, question, answer, source in _examples(kb):
            if kind == "finetune" and source == "faq":
                continue  # FAQs are the help centre's own words: retrieval data, not style
            if kind == "finetune":
                row: dict[str, Any] = {"messages": [
                    {"role": "system", "content": system},
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": answer},
                ]}  # fmt: skip
            else:
                row = {"query": question, "passage": _MARK.sub("", answer), "source": source}
            part = _split(example_id, validation_share)
            files[part].write(json.dumps(row, ensure_ascii=False) + "\n")
            counts[part] += 1
            sources[source] = sources.get(source, 0) + 1
    return {"kind": kind, "out": str(out), **counts, "sources": sources}
