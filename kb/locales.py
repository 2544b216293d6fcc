"""The languages kb speaks: which one a text is in, and kb's own sentences translated into it.

The catalogues are gettext ones under ``kb/translations`` (``.po`` kept in git, ``.mo`` compiled
by ``make translations``); the web pages read the same catalogue through Flask-Babel. The core
reads it with the standard library, so it depends on no web framework.
"""

from __future__ import annotations

import gettext
import re
from functools import cache
from pathlib import Path

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
DOMAIN = "messages"
DEFAULT = "en"
LOCALES = ("en", "zh")  # zh is Simplified Chinese; Traditional falls back to it
HTML_LANG = {"en": "en", "zh": "zh-Hans"}

_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")


def text_language(text: str) -> str | None:
    """Return the language ``text``'s script shows (``zh``, ``ja``, ``ko``, ``en``), else None.

    Cheap on purpose: any kana is Japanese, any Hangul Korean, any other Han character Chinese;
    Latin letters alone count as English, the only Latin-script language with a catalogue.
    """
    if _KANA.search(text):
        return "ja"
    if _HANGUL.search(text):
        return "ko"
    if _HAN.search(text):
        return "zh"
    return "en" if _LATIN.search(text) else None


def supported(tag: str | None) -> str | None:
    """Return the catalogue for a language tag (``zh-CN``, ``zh_Hant``, ``en-GB``), else None."""
    if not tag:
        return None
    primary = re.split(r"[-_]", tag.strip().lower(), maxsplit=1)[0]
    return primary if primary in LOCALES else None


@cache
def translations(locale: str) -> gettext.NullTranslations:
    """Return the compiled catalogue for ``locale`` (English, the msgids, when there is none)."""
    return gettext.translation(DOMAIN, TRANSLATIONS, [locale], fallback=True)


def translate(locale: str | None, message: str, **values: str) -> str:
    """Return ``message`` in ``locale`` (English when unsupported), ``%(name)s`` filled in."""
    text = translations(supported(locale) or DEFAULT).gettext(message)
    return text % values if values else text


def _(message: str) -> str:
    """Mark ``message`` for the catalogue without translating it (pybabel extracts ``_``)."""
    return message
