"""Citations an answer may keep: only to passages it was given, each backed by their text.

Whatever wrote the answer (the extractive generator or a language model), its ``[n]`` marks
are checked here against the passages it was handed: marks to passages it was not given are
dropped and the rest renumbered in order of use (:func:`verify_citations`), and sentences no
cited passage supports are dropped (:func:`drop_unsupported`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from kb.marks import MARK as _MARK
from kb.marks import escape, resolve
from kb.models import Citation, Passage
from kb.text import run_on, sentences, tokenize


def verify_citations(
    text: str,
    passages: Sequence[Passage],
    duplicates: Mapping[int, tuple[str, ...]] | None = None,
) -> tuple[str, list[Citation]]:
    """Drop citations to passages that were not given; renumber the rest in order of use.

    ``text`` has the sources' own bracketed numbers escaped (see kb/marks.py). Returns the
    text as the customer reads it, those brackets written plainly, and one citation per
    passage cited in it with the offsets of its marks, so no citation can point at a passage
    the answer was not given and no text is mistaken for one. ``duplicates`` gives, by chunk
    id, the URLs of pages with the same text as a passage's page.
    """
    numbering: dict[int, int] = {}

    def renumber(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if not 1 <= n <= len(passages):
            return ""
        numbering.setdefault(n, len(numbering) + 1)
        return f"[{numbering[n]}]"

    cleaned = _MARK.sub(renumber, text)
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", cleaned)).strip()
    plain, marks = resolve(cleaned)
    citations = []
    for original, number in numbering.items():
        p = passages[original - 1]
        citations.append(
            Citation(
                number=number,
                doc_id=p.doc_id,
                doc_version=p.doc_version,
                title=p.title,
                url=p.url,
                section=p.section,
                quote=supporting_quote(cleaned, number, p.text),
                duplicates=(duplicates or {}).get(p.chunk_id, ()),
                offsets=tuple(at for at, n in marks if n == number),
            )
        )
    return plain, citations


_CLOSERS = ".,;:!?。，；：！？、 "


def supporting_quote(answer: str, number: int, passage_text: str, max_chars: int = 300) -> str:
    """Return the passage sentences the answer repeats before citation ``[number]``.

    When it repeats only part of one (a clause of a long sentence), that part. ``answer`` has
    the passage's own bracketed numbers escaped (see kb/marks.py).
    """
    before = _MARK.split(answer.split(f"[{number}]")[0])
    cited_spans = [seg for seg in before[-1:] if seg.strip()]
    passage_sentences = sentences(passage_text)
    quoted = [s for s in passage_sentences if any(escape(s) in span for span in cited_spans)]
    # A span after an earlier mark starts with that sentence's end ("[1]. Enter …").
    lines = [line.strip().lstrip(_CLOSERS) for span in cited_spans for line in span.splitlines()]
    parts = [line for line in lines if line and line in escape(passage_text)]
    quote = (
        " ".join(quoted)
        or resolve(" ".join(parts))[0]
        or (passage_sentences[0] if passage_sentences else passage_text)
    )
    return quote if len(quote) <= max_chars else quote[: max_chars - 1].rstrip() + "…"


def supported(sentence: str, passage_text: str, min_share: float = 0.5) -> bool:
    """Return whether most content words of ``sentence`` appear in ``passage_text``."""
    words = set(tokenize(_MARK.sub(" ", sentence)))
    if not words:
        return True
    return len(words & set(tokenize(passage_text))) / len(words) >= min_share


def drop_unsupported(text: str, passages: Sequence[Passage]) -> str:
    """Keep the sentences that the passages they cite (or, uncited, any passage) support.

    A passage's label echoed back ("[1] Reset your password — On the web") says nothing and
    goes too.
    """
    text = re.sub(
        rf"([.!?。！？])\s*((?:{_MARK.pattern}\s*)+)",
        lambda m: f" {m.group(2).strip()}{m.group(1)} ",
        text,
    )
    labels = {_bare(f"{p.title} — {p.section}") for p in passages}
    labels |= {_bare(p.title) for p in passages} | {_bare(p.section) for p in passages}
    lines = []
    for line in text.splitlines():  # a step or a code line stays a line of its own
        kept = []
        for sentence in sentences(line):
            if _bare(sentence) in labels:
                continue
            cited = [int(n) for n in _MARK.findall(sentence) if 1 <= int(n) <= len(passages)]
            sources = [passages[n - 1] for n in cited] if cited else list(passages)
            phantom_only = not cited and _MARK.search(sentence)
            if not phantom_only and any(supported(sentence, p.text) for p in sources):
                kept.append(sentence)
        if kept:
            lines.append(run_on(kept))
    return "\n".join(lines)


def _bare(text: str) -> str:
    """``text`` without citation marks, punctuation at its ends, case or extra space."""
    return " ".join(_MARK.sub(" ", text).split()).strip(" .:—-").casefold()
