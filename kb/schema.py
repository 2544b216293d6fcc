"""The JSON forms of hits and answers, shared by the API and the CLI's ``--json``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from kb.models import Answer, Hit


def snippet(text: str, n: int = 200) -> str:
    """Return the first ``n`` characters of ``text`` on one line."""
    line = " ".join(text.split())
    return line if len(line) <= n else line[: n - 1].rstrip() + "…"


def hit_json(hit: Hit) -> dict[str, Any]:
    """Return the JSON form of a search hit."""
    p = hit.passage
    return {
        "doc_id": p.doc_id,
        "title": p.title,
        "url": p.url,
        "section": p.section,
        "snippet": snippet(p.text, 300),
        "score": round(hit.score, 4),
        "kind": p.kind,
        "lang": p.lang,
        "duplicates": list(hit.duplicates),
    }


def answer_json(answer: Answer) -> dict[str, Any]:
    """Return the JSON form of an answer."""
    return {
        "question": answer.question,
        "answer": answer.text,
        "citations": [
            {**asdict(c), "duplicates": list(c.duplicates), "offsets": list(c.offsets)}
            for c in answer.citations
        ],
        "confidence": answer.confidence,
        "refused": answer.refused,
        "mode": answer.mode,
        "fallback": answer.fallback,
        "missing": list(answer.missing),
        "escalation": asdict(answer.escalation) if answer.escalation else None,
        "related": [hit_json(h) for h in answer.related] if answer.refused else [],
    }
