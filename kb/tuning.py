"""Training pairs for domain adaptation of the embedding model, the held-out split, the
figures and the rule for promoting a tuned model. Pure: no model, no store.

A pair is (question, passage): what a customer might type, and the passage that answers it.
A knowledge base has such pairs already, written by its own editors and customers:

* ``title``: a page's title → the start of the page (an FAQ entry's title is its question);
* ``heading``: a section's heading → the start of the section;
* ``ticket``: a resolved ticket's question → its resolution;
* ``helpful``: a question a customer rated helpful → the passage the answer cited.

The passage is its text without the title and heading kb puts before it when it embeds it
(:func:`kb.store.embedding_text`): with them, a heading would find its own words and the model
would learn nothing. A heading that several pages share ("Options", "See also") names none of
them: it is prefixed with its page's title, and left out if that is still not unique.

Pairs are held out by document (a stable hash of its id), so no page is both learnt and
tested: the held-out figures say how the model does on pages it has not been trained on.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from kb.store import IndexRow

HELD_OUT_SHARE = 0.2  # of documents
MIN_WORDS = 5  # a passage shorter than this teaches nothing
MIN_TRAIN = 32  # pairs; fewer and the model would learn noise
MIN_HELD_OUT = 10
PASSAGE_CHARS = 1200  # training reads the start of a passage (index.tuning.MAX_TOKENS)


@dataclass(frozen=True)
class Pair:
    """A question and the passage that answers it, from document ``doc_id``."""

    question: str
    passage: str
    doc_id: str
    kind: str  # "title", "heading", "ticket" or "helpful"


@dataclass(frozen=True)
class Figures:
    """How well a model finds the passage of each held-out question among the corpus.

    ``mrr_at_10`` is the mean reciprocal rank of the right passage (0 past rank 10);
    ``hit_at_1``/``hit_at_5`` the share of questions with it first / in the first five.
    """

    questions: int
    corpus: int
    mrr_at_10: float
    hit_at_1: float
    hit_at_5: float

    def to_dict(self) -> dict[str, Any]:
        """The figures as JSON, rounded to three places."""
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}

    def line(self) -> str:
        """One line: ``MRR@10 0.612, hit@1 0.500, hit@5 0.750``."""
        return f"MRR@10 {self.mrr_at_10:.3f}, hit@1 {self.hit_at_1:.3f}, hit@5 {self.hit_at_5:.3f}"


def _words(text: str) -> int:
    """Count words, a CJK character counting as one (a Chinese passage has no spaces)."""
    cjk = len(re.findall(r"[\u3400-\u9fff\uf900-\ufaff]", text))
    return len(re.findall(r"[^\W\u3400-\u9fff\uf900-\ufaff]+", text)) + cjk // 2


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def pairs_from_rows(rows: Sequence[IndexRow]) -> list[Pair]:
    """Return the title, heading and ticket pairs of the stored chunks ``rows`` (in store
    order: by document, then position), one per question, never two alike."""
    candidates: list[Pair] = []
    seen_sections: set[tuple[str, str]] = set()
    titled: set[str] = set()
    tickets: dict[str, dict[str, str]] = {}
    for row in rows:
        text = row.text.strip()
        if row.kind == "ticket":
            part = tickets.setdefault(row.doc_id, {})
            name = (row.anchor or row.section).lower()
            part[name] = f"{part.get(name, '')}\n{text}".strip()
            continue
        if _words(text) < MIN_WORDS:
            continue
        if row.doc_id not in titled and row.title.strip():
            titled.add(row.doc_id)
            candidates.append(Pair(row.title.strip(), text[:PASSAGE_CHARS], row.doc_id, "title"))
        section = row.section.strip()
        if section and section != row.title.strip() and (row.doc_id, section) not in seen_sections:
            seen_sections.add((row.doc_id, section))
            candidates.append(Pair(section, text[:PASSAGE_CHARS], row.doc_id, "heading"))
    for doc_id, part in tickets.items():
        question, resolution = part.get("question", ""), part.get("resolution", "")
        if question and _words(resolution) >= MIN_WORDS:
            candidates.append(Pair(question[:PASSAGE_CHARS], resolution[:PASSAGE_CHARS],
                                   doc_id, "ticket"))  # fmt: skip
    return _unambiguous(candidates, {r.doc_id: r.title.strip() for r in rows})


def _unambiguous(pairs: Sequence[Pair], titles: dict[str, str]) -> list[Pair]:
    """Keep one pair per question: a heading several pages share takes its page's title
    first; a question still shared by different passages is dropped."""
    counts = Counter(_key(p.question) for p in pairs)
    named = [
        Pair(f"{titles.get(p.doc_id, '')}: {p.question}", p.passage, p.doc_id, p.kind)
        if p.kind == "heading" and counts[_key(p.question)] > 1
        else p
        for p in pairs
    ]
    passages: dict[str, set[str]] = {}
    for p in named:
        passages.setdefault(_key(p.question), set()).add(_key(p.passage))
    kept, seen = [], set()
    for p in named:
        key = _key(p.question)
        if len(passages[key]) == 1 and key not in seen:
            seen.add(key)
            kept.append(p)
    return kept


def helpful_pairs(voted: Iterable[tuple[str, str, str]]) -> list[Pair]:
    """Return the pairs of questions rated helpful: ``voted`` gives (question, doc_id, the
    cited passage's text) per helpful vote; a question is kept once, with its first passage."""
    pairs, seen = [], set()
    for question, doc_id, passage in voted:
        key = _key(question)
        if key and key not in seen and _words(passage) >= MIN_WORDS:
            seen.add(key)
            pairs.append(Pair(question.strip(), passage.strip()[:PASSAGE_CHARS], doc_id,
                              "helpful"))  # fmt: skip
    return pairs


def held_out(doc_id: str, share: float = HELD_OUT_SHARE) -> bool:
    """Whether document ``doc_id`` is in the held-out slice (stable over runs and hosts)."""
    digest = hashlib.sha256(doc_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


def split(pairs: Sequence[Pair], share: float = HELD_OUT_SHARE) -> tuple[list[Pair], list[Pair]]:
    """Return (training pairs, held-out pairs), held out by document (:func:`held_out`)."""
    train = [p for p in pairs if not held_out(p.doc_id, share)]
    return train, [p for p in pairs if held_out(p.doc_id, share)]


def figures(ranked: Sequence[Sequence[int]], right: Sequence[int], corpus: int) -> Figures:
    """Return the figures of ranked results: ``ranked[i]`` are corpus indexes best first (at
    least ten) for question ``i``, whose passage is ``right[i]``."""
    n = len(right)
    ranks = [next((r + 1 for r, j in enumerate(row[:10]) if j == want), None)
             for row, want in zip(ranked, right, strict=True)]  # fmt: skip
    return Figures(
        questions=n,
        corpus=corpus,
        mrr_at_10=sum(1 / r for r in ranks if r) / n if n else 0.0,
        hit_at_1=sum(r == 1 for r in ranks) / n if n else 0.0,
        hit_at_5=sum(r is not None and r <= 5 for r in ranks) / n if n else 0.0,
    )


def better(before: Figures, after: Figures, min_gain: float) -> tuple[bool, str]:
    """Whether ``after`` beats ``before`` on the held-out pairs, and why (one line).

    It does when its MRR@10 is higher by at least ``min_gain`` (absolute) and its hit@5 is
    not lower: a model that ranks the right passage higher on average but loses it from the
    first five for some questions is not an improvement a customer would see.
    """
    gain = after.mrr_at_10 - before.mrr_at_10
    change = f"held-out MRR@10 {before.mrr_at_10:.3f} → {after.mrr_at_10:.3f}"
    if after.hit_at_5 < before.hit_at_5 - 1e-9:
        return False, f"held-out hit@5 fell {before.hit_at_5:.3f} → {after.hit_at_5:.3f}"
    if gain < min_gain - 1e-9:
        return False, f"{change}: less than the {min_gain:.3f} needed"
    return True, change
