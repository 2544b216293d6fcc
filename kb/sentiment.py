"""Sentiment of tickets, questions and feedback: negative, neutral or positive, with a score.

VADER (the ``vaderSentiment`` package: a lexicon and rules tuned for short social text, MIT,
shipped inside the wheel) scores English. It cannot read other languages, so text that is
not English is marked ``unknown`` rather than guessed. English is recognised by its function
words, which every English sentence of any length is full of and other languages are not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

THRESHOLD = 0.05  # VADER's own cut-offs on the compound score
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_FUNCTION_WORDS = """
a about after all am an and any are as at be because been but by can could did do does for
from get got had has have how i if in into is it its just me my no not now of on or our out
please so still that the their them then there they this to too up was we what when where
which why will with would you your
"""
_ENGLISH = frozenset(_FUNCTION_WORDS.split())
# Function words and greetings of German, Spanish, French, Portuguese, Italian and Dutch that
# English does not share.
_OTHER_WORDS = """
und der die das ist nicht ich sie wir ein eine mit auf für bitte danke dank vielen hallo
el la los las que y es por para con una del muy gracias hola estoy
le les et est pas je vous nous une des du pour avec merci bonjour très
o os um uma não com para obrigado olá você
il gli che sono per grazie ciao
het een niet ik bedankt
"""
_OTHER = frozenset(_OTHER_WORDS.split())
_LATIN = re.compile(r"[a-zà-öø-ÿĀ-ž]+")  # Latin letters, accented ones included


@dataclass(frozen=True)
class Sentiment:
    """A label (negative, neutral, positive or unknown) and VADER's compound score in [-1, 1]."""

    label: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "score": round(self.score, 3)}


def is_english(text: str) -> bool:
    """Whether ``text`` reads as English rather than another language.

    Words are weighed as evidence: English function words for English; the function words
    of the other common support languages, words with their accented letters, and letters
    outside the Latin alphabet against it. Text with no evidence either way (a short "Awesome,
    setup took two minutes.") counts as English, the language VADER reads.
    """
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return False
    english = other = 0
    for w in words:
        if not w.isascii() and not _LATIN.fullmatch(w):
            other += 1
        elif w in _ENGLISH:
            english += 1
        elif w in _OTHER or not w.isascii():
            other += 1
    return english >= other


@lru_cache(maxsize=1)
def _analyzer() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def sentiment(text: str, lang: str | None = None) -> Sentiment:
    """Score ``text``; ``lang`` (when known) overrides the English check."""
    english = (lang or "").split("-")[0].lower() == "en" if lang else is_english(text)
    if not english or not text.strip():
        return Sentiment("unknown", 0.0)
    score = float(_analyzer().polarity_scores(text)["compound"])
    label = "positive" if score >= THRESHOLD else "negative" if score <= -THRESHOLD else "neutral"
    return Sentiment(label, score)
