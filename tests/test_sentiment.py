"""Sentiment on a labelled fixture of support messages (tests/fixtures/sentiment.jsonl).

48 English messages written and labelled by hand (16 negative, 16 neutral, 16 positive), and 8
in other languages that must come back unknown. The accuracy is measured, printed by
``make bench-tickets`` and stated in the README; this test keeps it from sliding.
"""

import json
from pathlib import Path

from kb.sentiment import is_english, sentiment

FIXTURE = Path(__file__).parent / "fixtures" / "sentiment.jsonl"
ROWS = [json.loads(line) for line in FIXTURE.read_text().splitlines()]


def accuracy() -> tuple[float, dict[str, float]]:
    english = [r for r in ROWS if r["label"] != "unknown"]
    right = [sentiment(r["text"]).label == r["label"] for r in english]
    per_label = {
        label: sum(ok for ok, r in zip(right, english, strict=True) if r["label"] == label)
        / sum(r["label"] == label for r in english)
        for label in ("negative", "neutral", "positive")
    }
    return sum(right) / len(right), per_label


def test_english_sentiment_accuracy_on_the_labelled_fixture():
    overall, per_label = accuracy()
    assert overall >= 0.75, (overall, per_label)
    assert min(per_label.values()) >= 0.5, per_label


def test_other_languages_are_unknown_not_guessed():
    others = [r for r in ROWS if r["label"] == "unknown"]
    assert len(others) == 8
    assert all(sentiment(r["text"]).label == "unknown" for r in others)
    assert sentiment("Vielen Dank!", lang="de").label == "unknown"
    assert sentiment("Thanks a lot, brilliant!", lang="en").label == "positive"


def test_english_is_told_from_other_languages():
    assert is_english("Where is my parcel? It has not arrived.")
    assert not is_english("Wo bleibt meine Bestellung? Sie ist nicht angekommen.")
    assert not is_english("")


def test_scores_are_bounded_and_signed():
    bad, good = sentiment("This is awful and I hate it"), sentiment("This is wonderful, thanks")
    assert -1 <= bad.score < 0 < good.score <= 1
