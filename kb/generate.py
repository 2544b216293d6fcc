"""Generators write an answer from numbered passages, citing them inline as ``[n]``.

One method: ``generate(question, passages)``. The extractive generator needs no language model;
an OpenAI-compatible one plugs in behind the same interface.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence

import numpy as np

from index.embedding import Embedder
from kb.models import Passage
from kb.text import sentences, tokenize, words

_LIST_ITEM = re.compile(r"^(\d+\.|-)\s")


class Generator(ABC):
    """Writes an answer to ``question`` from ``passages``, citing passage i as ``[i+1]``."""

    mode: str

    @abstractmethod
    def generate(self, question: str, passages: Sequence[Passage]) -> str:
        """Return the answer text with inline ``[n]`` citations."""

    def stream(self, question: str, passages: Sequence[Passage]) -> Iterator[str]:
        """Yield the answer text in pieces as it is written (by default, all at once)."""
        yield self.generate(question, passages)


class ExtractiveGenerator(Generator):
    """Answers with the passages' own words: the sentence or list of steps that best matches."""

    mode = "extractive"

    def __init__(self, embedder: Embedder, max_words: int = 90) -> None:
        self.embedder = embedder
        self.max_words = max_words

    def generate(self, question: str, passages: Sequence[Passage]) -> str:
        units = answer_units(passages)
        if not units:
            return ""
        q = self.embedder.embed([question], query=True)[0]
        # Each unit is embedded under its section heading, so a list of steps is found by
        # what the steps are for.
        vectors = self.embedder.embed([f"{passages[i].section}: {text}" for i, text in units])
        scores = unit_scores(question, units, vectors @ q)
        return compose(units, scores, self.max_words)


def answer_units(passages: Sequence[Passage]) -> list[tuple[int, str]]:
    """Return (passage index, unit) pairs: sentences, and whole lists of steps as one unit.

    Questions and bare headings cannot answer anything and are left out.
    """
    units = []
    for i, p in enumerate(passages):
        headings = {p.title.casefold(), p.section.casefold()}
        steps: list[str] = []
        for s in sentences(p.text):
            if _LIST_ITEM.match(s):
                steps.append(s)
                continue
            if steps:
                units.append((i, "\n".join(steps)))
                steps = []
            if s.endswith(("?", "？")) or s.casefold() in headings:
                continue
            units.append((i, s))
        if steps:
            units.append((i, "\n".join(steps)))
    return units


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


def compose(units: Sequence[tuple[int, str]], scores: np.ndarray, max_words: int) -> str:
    """Return the best unit with the ones that follow it in its passage, cited.

    A second passage contributes its best unit when it scores nearly as well, so an answer
    that draws on two sources cites both.
    """
    best = int(np.argmax(scores))
    passage = units[best][0]
    picked = [best]
    budget = max_words - words(units[best][1])
    j = best + 1
    while j < len(units) and units[j][0] == passage and words(units[j][1]) <= budget:
        picked.append(j)
        budget -= words(units[j][1])
        j += 1
    other = [int(k) for k in np.argsort(-scores) if units[k][0] != passage]
    if other and scores[other[0]] >= 0.92 * scores[best] and words(units[other[0]][1]) <= budget:
        picked.append(other[0])
    groups: dict[int, list[str]] = {}
    for k in picked:
        groups.setdefault(units[k][0], []).append(units[k][1])
    return "\n".join(f"{_join(lines)} [{p + 1}]" for p, lines in groups.items())


def _join(lines: list[str]) -> str:
    out = lines[0]
    for line in lines[1:]:
        out += ("\n" if _LIST_ITEM.match(line) or "\n" in out[-200:] else " ") + line
    return out
