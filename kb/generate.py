"""Generators write an answer from numbered passages, citing them inline as ``[n]``.

One method: ``generate(question, passages)``. The extractive generator needs no language model;
an OpenAI-compatible one plugs in behind the same interface.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Protocol

import numpy as np

from kb.embedder import Embedder
from kb.marks import escape
from kb.models import Passage
from kb.text import cut, run_on, sentences, tokenize, words

_LIST_ITEM = re.compile(r"^(\d+\.|-)\s")
_WORDS = re.compile(r"\w+")
_CLAUSE_END = ",;、，；､ "


class Generator(ABC):
    """Writes an answer to ``question`` from ``passages``, citing passage i as ``[i+1]``.

    A passage's own bracketed numbers ("press [2]") are written escaped, ``\\[2\\]``, when
    quoted (see kb/marks.py), so that every bare ``[n]`` is a citation.
    """

    mode: str

    @abstractmethod
    def generate(self, question: str, passages: Sequence[Passage]) -> str:
        """Return the answer text with inline ``[n]`` citations."""

    def stream(self, question: str, passages: Sequence[Passage]) -> Iterator[str]:
        """Yield the answer text in pieces as it is written (by default, all at once)."""
        yield self.generate(question, passages)


class Rewriter(Protocol):
    """Makes a follow-up question standalone from the earlier ones (a language model can)."""

    def rewrite(self, question: str, history: Sequence[str]) -> str:
        """Return ``question`` rewritten to stand alone, given ``history`` (oldest first)."""
        ...


class FaqDrafter(Protocol):
    """Writes an FAQ entry from similar tickets (a language model can)."""

    def draft_faq(self, questions: Sequence[str], resolutions: Sequence[str]) -> tuple[str, str]:
        """Return the (question, answer) a cluster of tickets suggests."""
        ...


UNITS_KEPT = 20_000  # answer units' vectors an extractive generator keeps: ~30 MB at 384 dims


class UnitLookup(Protocol):
    """Answer units' vectors embedded beforehand (a snapshot's, see index/units.py)."""

    def find(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Return the vectors of those ``texts`` (as :func:`unit_text` writes them) it holds."""
        ...


def unit_text(section: str, unit: str) -> str:
    """Return the text an answer unit is embedded as: under its section heading, so a list
    of steps is found by what the steps are for."""
    return f"{section}: {unit}"


class ExtractiveGenerator(Generator):
    """Answers with the passages' own words: the sentence or list of steps that best matches.

    Units' vectors come from ``known`` when it holds them (see :meth:`reading`), else from the
    latest :data:`UNITS_KEPT` embedded here, else from the embedder.
    """

    mode = "extractive"

    def __init__(
        self, embedder: Embedder, max_words: int = 90, known: UnitLookup | None = None
    ) -> None:
        self.embedder = embedder
        self.max_words = max_words
        self.known = known
        self._units: OrderedDict[str, np.ndarray] = OrderedDict()  # text → vector, latest last
        self._lock = threading.Lock()

    def reading(self, known: UnitLookup | None) -> ExtractiveGenerator:
        """Return this generator reading units' vectors from ``known`` first (one snapshot's),
        sharing the vectors it keeps."""
        if known is self.known:
            return self
        view = ExtractiveGenerator(self.embedder, self.max_words, known)
        view._units, view._lock = self._units, self._lock
        return view

    def generate(self, question: str, passages: Sequence[Passage]) -> str:
        units = answer_units(passages, self.max_words)
        if not units:
            return ""
        q = self.embedder.embed([question], query=True)[0]
        vectors = self._vectors([unit_text(passages[i].section, text) for i, text in units])
        scores = unit_scores(question, units, vectors @ q)
        # The answer starts from the best page (the first passages are its own); another
        # page's passage may add to it, never replace it.
        lead = [k for k, (i, _) in enumerate(units) if passages[i].doc_id == passages[0].doc_id]
        return compose(units, scores, self.max_words, lead or None)

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Return the vectors of ``texts``: found in ``known``, or kept, or embedded. The latest
        :data:`UNITS_KEPT` units embedded here are kept, as the pages customers ask about most
        are answered from the same sentences again."""
        with self._lock:
            kept = {t: self._units[t] for t in texts if t in self._units}
            for t in kept:
                self._units.move_to_end(t)
        missing = list(dict.fromkeys(t for t in texts if t not in kept))
        if missing and self.known is not None:
            kept.update(self.known.find(missing))
            missing = [t for t in missing if t not in kept]
        if missing:
            made = self.embedder.embed(missing)
            with self._lock:
                for t, v in zip(missing, made, strict=True):
                    kept[t] = self._units[t] = v.copy()
                while len(self._units) > UNITS_KEPT:
                    self._units.popitem(last=False)
        return np.array([kept[t] for t in texts], dtype=np.float32).reshape(-1, self.embedder.dim)


_XREF = re.compile(
    r"^(see|follow|refer to|read|go to|for (more|further) (information|details)|more info"
    r"|learn more|related)\b|^(参见|请参阅|请参考|详见|参考)",
    re.I,
)
_TABLE_ROW = " | "


def is_fragment(sentence: str) -> bool:
    """Whether a sentence cannot stand alone in an answer.

    A bare cross-reference ("See Resetting a bulb.", "Follow Bulb not responding"), a line
    that only introduces what follows ("To do this:"), or a scrap of two words or fewer.
    """
    text = sentence.strip()
    if words(text) <= 2 or text.endswith((":", "：")):
        return True
    return bool(_XREF.match(text)) and words(text) <= 12


def table_sentences(lines: Sequence[str]) -> list[str]:
    """Return a table's data rows as sentences that name their columns (its header row).

    "Device | How to reset" over "Bulb | Switch it off and on five times" becomes
    "Device: Bulb; How to reset: Switch it off and on five times."; the header is never a
    sentence of its own.
    """
    header = [c.strip() for c in lines[0].split(_TABLE_ROW)]
    out = []
    for line in lines[1:]:
        cells = [c.strip() for c in line.split(_TABLE_ROW)]
        if len(cells) == len(header):
            pairs = [f"{h}: {c}" if h else c for h, c in zip(header, cells, strict=True) if c]
            out.append("; ".join(pairs).rstrip(".") + ".")
        else:
            out.append(line)
    return out


def answer_units(passages: Sequence[Passage], max_words: int = 90) -> list[tuple[int, str]]:
    """Return (passage index, unit) pairs: sentences, and whole lists of steps as one unit.

    A line introducing a list ("To reset the hub:") opens the list's unit. Questions, bare
    headings, table headers, bare cross-references and fragments cannot answer anything and
    are left out; a table's rows become sentences naming their columns. A unit longer than
    an answer may be (``max_words`` words) is cut at its clauses (see ``kb.text.cut``) into
    pieces of about a third of that, so an answer can quote the part that answers: a
    paragraph of Chinese run on with commas is one sentence.
    """
    units: list[tuple[int, str]] = []
    for i, p in enumerate(passages):
        headings = {p.title.casefold(), p.section.casefold()}
        steps: list[str] = []
        table: list[str] = []
        code = False
        lines = p.text.splitlines() + [""]
        for line in lines:
            if _TABLE_ROW in line:
                table.append(line.strip())
                continue
            if table:
                units.extend((i, s) for s in table_sentences(table) if not is_fragment(s))
                table = []
            item = line.strip()
            # A step is its whole line ("1. Open Settings. Choose Billing."), and the lines a
            # step introduces ("- Run this command:") follow it up to a sentence, as code does.
            if _LIST_ITEM.match(item):
                steps.append(item)
                code = item.endswith((":", "："))
                continue
            if code and item and not item.endswith((".", "!", "?", "。", "！", "？")):
                steps.append(item)
                continue
            code = False
            for s in sentences(line):
                if _LIST_ITEM.match(s):
                    steps.append(s)
                    continue
                if steps:
                    units.append((i, "\n".join(steps)))
                    steps = []
                if s.endswith((":", "：")) and not _LIST_ITEM.match(s):
                    steps = [s]  # an introduction: the steps that follow join it
                    continue
                if s.endswith(("?", "？")) or s.casefold() in headings or is_fragment(s):
                    continue
                units.append((i, s))
        if steps and any(_LIST_ITEM.match(s) for s in steps):
            units.append((i, "\n".join(steps)))
    return [
        (i, piece.strip())
        for i, unit in units
        for piece in (cut(unit, max(max_words // 3, 1)) if words(unit) > max_words else [unit])
        if piece.strip()
    ]


def unit_scores(
    question: str, units: Sequence[tuple[int, str]], similarity: np.ndarray
) -> np.ndarray:
    """Score units by similarity to the question, word overlap and their passage's rank."""
    q_tokens = set(tokenize(question))
    overlap = np.array(
        [len(q_tokens & set(tokenize(s))) / max(len(q_tokens), 1) for _, s in units],
        dtype=np.float32,
    )
    rank_prior = np.array([0.08 / (1 + i) for i, _ in units], dtype=np.float32)
    return similarity.astype(np.float32) + 0.15 * overlap + rank_prior


def compose(
    units: Sequence[tuple[int, str]],
    scores: np.ndarray,
    max_words: int,
    lead: Sequence[int] | None = None,
) -> str:
    """Return the best unit with the ones that follow it in its passage, cited.

    The units' own bracketed numbers are escaped, so the ``[n]`` marks added here are the
    only bare ones.

    The best unit is chosen among ``lead`` (indexes of units) when given. A second passage
    contributes its best unit when it scores nearly as well, so an answer that draws on two
    sources cites both.
    """
    candidates = list(lead) if lead else list(range(len(units)))
    best = max(candidates, key=lambda k: float(scores[k]))
    passage = units[best][0]
    picked = [best]
    budget = max_words - words(units[best][1])
    j = best + 1
    while j < len(units) and units[j][0] == passage and words(units[j][1]) <= budget:
        picked.append(j)
        budget -= words(units[j][1])
        j += 1
    # A sentence two documents share (a copy of a page, one text in two sources) is said once.
    said = {same_words(units[k][1]) for k in picked}
    other = [
        int(k)
        for k in np.argsort(-scores)
        if units[k][0] != passage and same_words(units[k][1]) not in said
    ]
    if other and scores[other[0]] >= 0.92 * scores[best] and words(units[other[0]][1]) <= budget:
        picked.append(other[0])
    groups: dict[int, list[str]] = {}
    for k in picked:
        groups.setdefault(units[k][0], []).append(units[k][1])
    # A unit cut at its clauses may end on a comma; the answer ends where the quote does.
    return "\n".join(
        f"{escape(_join(lines).rstrip(_CLAUSE_END))} [{p + 1}]" for p, lines in groups.items()
    )


def same_words(unit: str) -> str:
    """Return ``unit`` as compared for repeats: its words in order, case and spacing aside."""
    return " ".join(_WORDS.findall(unicodedata.normalize("NFKC", unit).casefold()))


def _join(lines: list[str]) -> str:
    out = lines[0]
    for line in lines[1:]:
        if _LIST_ITEM.match(line) or "\n" in out[-200:]:
            out += "\n" + line
        else:  # CJK runs on without spaces, as the pieces of a cut unit did in the source
            out = run_on([out, line])
    return out
