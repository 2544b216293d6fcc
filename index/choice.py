"""Which embedding model a knowledge base gets, from the languages of its passages. Pure.

all-MiniLM-L6-v2 reads English only; multilingual-e5-small reads about a hundred languages,
English included, a little less well on English help centres. So MiniLM unless a meaningful
share of the passages is in languages it cannot read: then e5, which serves both halves of a
mixed help centre (translated pages beside untranslated English ones).

The share is a twentieth (``MULTILINGUAL_SHARE``). Under MiniLM a question in a language it
cannot read gets BM25 alone (``index.fusion.dense_weight_for``), and its readers are the ones
who write in that language: a Chinese help centre whose longest manuals are still untranslated
(the KiCad docs in Chinese are 17% Chinese by passages) is read in Chinese. Passages whose
language is unknown (a few words, a table of numbers) count for neither side.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from index.embedding import languages_of

AUTO = "auto"
DEFAULT_MODEL = "all-MiniLM-L6-v2"
MULTILINGUAL_MODEL = "multilingual-e5-small"
MULTILINGUAL_SHARE = 0.05


@dataclass(frozen=True)
class ModelChoice:
    """The embedding model for a knowledge base and why: ``chosen: 83% of passages are zh``."""

    model: str
    reason: str


def choose_model(
    languages: Mapping[str | None, int],
    setting: str = AUTO,
    *,
    multilingual_installed: bool = True,
) -> ModelChoice:
    """Return the model for passages counted by language tag (``{"zh-Hant": 830, "en": 170}``).

    The reason names languages by primary subtag: ``chosen: 83% of passages are zh``.

    ``setting`` is ``KB_EMBED_MODEL``: any value but ``auto`` is used as it is. Without the
    multilingual model installed, auto keeps MiniLM and says what to install.
    """
    if setting.strip().lower() != AUTO:
        return ModelChoice(setting, "set by KB_EMBED_MODEL")
    readable = languages_of(DEFAULT_MODEL)
    by_primary: Counter[str] = Counter()  # zh-Hant and zh-Hans are zh to a model
    for tag, count in languages.items():
        if tag:
            by_primary[_primary(tag)] += count
    known = sum(by_primary.values())
    if not known:
        return ModelChoice(DEFAULT_MODEL, "chosen: no passage's language is known")
    unreadable = Counter({t: n for t, n in by_primary.items() if t not in readable})
    share = sum(unreadable.values()) / known
    if share < MULTILINGUAL_SHARE:
        named = " and ".join(sorted(readable))
        reason = f"chosen: {1 - share:.0%} of passages are {named}"
        if unreadable:
            reason += (
                f" ({_languages(unreadable)}: {share:.0%}, under the {MULTILINGUAL_SHARE:.0%}"
                f" that calls for {MULTILINGUAL_MODEL})"
            )
        return ModelChoice(DEFAULT_MODEL, reason)
    reason = f"chosen: {share:.0%} of passages are {_languages(unreadable)}"
    if not multilingual_installed:
        return ModelChoice(
            DEFAULT_MODEL,
            f"{reason}, but {MULTILINGUAL_MODEL} is not installed: pip install 'kb[multilingual]'",
        )
    return ModelChoice(MULTILINGUAL_MODEL, reason)


def _primary(tag: str) -> str:
    return tag.split("-")[0].lower()


def _languages(counts: Counter[str], most: int = 3) -> str:
    """``zh``, ``zh and ja``, ``zh, ja, ko and 2 more``."""
    names = [t for t, _ in counts.most_common()]
    if len(names) > most:
        names = [*names[:most], f"{len(names) - most} more"]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
