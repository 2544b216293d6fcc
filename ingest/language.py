"""Each document's language: what its page declares, checked against what its text is written in.

A declared tag (``<html lang>``, ``xml:lang``, front matter, a JSONL ``lang`` field) wins,
normalised to its primary subtag (``en-US`` → ``en``; Chinese keeps its script, ``zh-TW`` →
``zh-Hant``). It loses when the text is plainly in another script: help centres put
untranslated English articles under their Chinese template (``<html lang="zh-CN">``) and
translated ones under an English one. Without a tag, the text decides: Chinese, Japanese and
Korean by their scripts (kana make Japanese, hangul Korean, Han alone Chinese), everything else
by py3langid, a small, maintained naive-Bayes identifier of 97 languages (lingua is more
accurate on short texts but ships about 100 MB of models; a whole document is not short).
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from functools import lru_cache
from typing import Any

from kb.models import Document

log = logging.getLogger("kb")

_TAG = re.compile(r"^([A-Za-z]{2,3})(?:-([A-Za-z0-9]{1,8}))*$")
_HAN_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_KANA_RANGES = "\u3040-\u30ff\u31f0-\u31ff"
_HANGUL_RANGES = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"
_HAN = re.compile(f"[{_HAN_RANGES}]")
_KANA = re.compile(f"[{_KANA_RANGES}]")
_HANGUL = re.compile(f"[{_HANGUL_RANGES}]")
_CJK = re.compile(f"[{_HAN_RANGES}{_KANA_RANGES}{_HANGUL_RANGES}]")
_OTHER_WORD = re.compile(f"[^\\W\\d_{_HAN_RANGES}{_KANA_RANGES}{_HANGUL_RANGES}]+")
CJK_SHARE = 0.5  # share of words (see cjk_share) above which a text is written in CJK
CJK_LANGUAGES = frozenset({"zh", "ja", "ko", "yue"})
# Tags older pages still use for today's: Hebrew, Indonesian, Yiddish, Chinese.
_LEGACY = {"iw": "he", "in": "id", "ji": "yi", "cmn": "zh", "zho": "zh", "chi": "zh"}
_HANT_REGIONS = frozenset({"tw", "hk", "mo"})
_HANS_REGIONS = frozenset({"cn", "sg", "my"})
# Common characters written one way in Simplified Chinese and another in Traditional.
_SIMPLIFIED = set(
    "这个们说时会来对为国发设账号请码务费电页开关问题订单认证删击钮录显连线网络选择户"
)
_TRADITIONAL = set(
    "這個們說時會來對為國發設帳號請碼務費電頁開關問題訂單認證刪擊鈕錄顯連線網絡選擇戶"
)
_TRADITIONAL -= _SIMPLIFIED
_SIMPLIFIED -= _TRADITIONAL
SAMPLE_CHARS = 3000  # text a document's language is detected from
MIN_CONFIDENCE = 0.5  # py3langid's probability below which a text has no language
MIN_LETTERS = 12  # fewer letters than this ("OK", "v2.1") tell no language


def language_tag(raw: Any) -> str | None:
    """Return a declared language tag normalised: ``en-US`` → ``en``, ``zh_TW`` → ``zh-Hant``.

    Chinese keeps its script (``zh-Hant``, ``zh-Hans``) when the tag names it or a region that
    implies it, else is ``zh``. Anything that is not a tag (empty, ``und``, ``*``) is None.
    """
    if not isinstance(raw, str):
        return None
    tag = raw.strip().replace("_", "-")
    match = _TAG.match(tag)
    if match is None:
        return None
    parts = tag.lower().split("-")
    primary = _LEGACY.get(parts[0], parts[0])
    if primary in ("und", "mul", "zxx", "mis"):
        return None
    if primary != "zh":
        return primary
    if "hant" in parts[1:] or _HANT_REGIONS & set(parts[1:]):
        return "zh-Hant"
    if "hans" in parts[1:] or _HANS_REGIONS & set(parts[1:]):
        return "zh-Hans"
    return "zh"


def primary(tag: str | None) -> str:
    """Return a tag's primary subtag, lower-case (``zh-Hant`` → ``zh``), or "" for None."""
    return (tag or "").split("-")[0].lower()


def chinese_script(text: str) -> str | None:
    """Return ``Hant`` or ``Hans`` when Chinese ``text`` shows which script it is, else None."""
    traditional = sum(c in _TRADITIONAL for c in text)
    simplified = sum(c in _SIMPLIFIED for c in text)
    if traditional == simplified:
        return None
    return "Hant" if traditional > simplified else "Hans"


def cjk_share(text: str) -> float:
    """Return the share of ``text``'s words that are CJK, each CJK character counting as one word.

    A CJK character carries about a word's meaning, so a Chinese sentence naming an English
    product ("在 HomeKit App 中打开设置": 7 of 9) is Chinese. 0 for text without letters.
    """
    cjk = len(_CJK.findall(text))
    other = len(_OTHER_WORD.findall(text))
    return cjk / (cjk + other) if cjk + other else 0.0


def detect_language(text: str) -> str | None:
    """Return the language ``text`` is written in, as a tag, or None when it cannot be told.

    Mostly-CJK text is told by script; other text by py3langid when it is at least
    ``MIN_CONFIDENCE`` sure (a word or two is not enough).
    """
    sample = text[:SAMPLE_CHARS]
    if cjk_share(sample) >= CJK_SHARE:
        return _cjk_language(sample)
    if _letters(sample) < MIN_LETTERS:
        return None
    identifier = _identifier()
    if identifier is None:
        return None
    language, confidence = identifier.classify(sample)
    if confidence < MIN_CONFIDENCE:
        return None
    # py3langid tells Chinese, Japanese and Korean apart less well than their scripts do (it
    # calls formal Traditional Chinese Cantonese, yue).
    return _cjk_language(sample) if language in CJK_LANGUAGES else language_tag(language)


def _cjk_language(text: str) -> str:
    """Hangul makes Korean, kana Japanese, Han alone Chinese (with its script when it shows)."""
    if _HANGUL.search(text):
        return "ko"
    if len(_KANA.findall(text)) >= 0.05 * len(_HAN.findall(text)) + 1:
        return "ja"
    script = chinese_script(text)
    return f"zh-{script}" if script else "zh"


@lru_cache(maxsize=1)
def _identifier() -> Any:
    """py3langid's identifier (loaded once, about a second), or None if it is not installed."""
    try:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier
    except ImportError:  # a dependency, but an install that lacks it still ingests
        log.warning("py3langid is not installed: languages not declared stay unknown")
        return None
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def document_language(doc: Document) -> str | None:
    """Return the language of ``doc``: its declared tag unless its text's script says otherwise.

    A declared CJK language over text that is not mostly CJK, or a declared other language over
    text that mostly is, gives way to detection; so does a bare ``zh`` to the script its text
    shows. Tickets, which say their language in an export column, keep it.
    """
    declared = language_tag(doc.lang)
    if doc.kind == "ticket" and declared:
        return declared
    text = "\n".join([doc.title, *(s.text for s in doc.sections)])[:SAMPLE_CHARS]
    if declared is None:
        return detect_language(text)
    written_in_cjk = cjk_share(text) >= CJK_SHARE
    if (primary(declared) in CJK_LANGUAGES) != written_in_cjk and _letters(text) >= MIN_LETTERS:
        return detect_language(text) or declared
    if declared == "zh":
        script = chinese_script(text)
        return f"zh-{script}" if script else declared
    return declared


def _letters(text: str) -> int:
    return sum(c.isalpha() for c in text)


def with_language(doc: Document) -> Document:
    """Return ``doc`` with its language filled in and normalised (see :func:`document_language`)."""
    lang = document_language(doc)
    return doc if lang == doc.lang else replace(doc, lang=lang)
