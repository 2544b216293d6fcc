"""Pure text helpers: normalisation, hashing, BM25 tokens, sentences."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache

import Stemmer

_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+", re.UNICODE)
# Han, Hiragana, Katakana, Hangul: scripts written without spaces between words.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")

# A small English stop list: words that carry no topic in support questions.
_STOP_LIST = """
a an and are as at be been but by can could do does did for from had has have how i if
in into is it its me my of on or our so that the their them then there these they this
to too us was we were what when where which who why will with would you your yours i'm
it's im should shall am any
"""
STOPWORDS = frozenset(_STOP_LIST.split())


def normalize(text: str) -> str:
    """Return ``text`` in NFKC form with runs of whitespace folded to one space."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def content_hash(*parts: str) -> str:
    """Return a short stable hash of the given strings."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def has_cjk(text: str) -> bool:
    """Return whether ``text`` contains characters of a script written without spaces."""
    return _CJK.search(text) is not None


def tokenize(text: str) -> list[str]:
    """Return BM25 tokens: stemmed lower-case words without stop words; CJK as character bigrams."""
    tokens: list[str] = []
    for word in _WORD.findall(unicodedata.normalize("NFKC", text).lower()):
        if has_cjk(word):
            tokens.extend(_cjk_tokens(word))
        elif word not in STOPWORDS:
            tokens.append(word)
    return _stem(tokens)


def _stem(tokens: list[str]) -> list[str]:
    stemmer = _stemmer()
    return [t if has_cjk(t) else stemmer.stemWord(t) for t in tokens]


def _cjk_tokens(word: str) -> list[str]:
    """Split a word mixing CJK and other characters; CJK runs become overlapping bigrams."""
    out: list[str] = []
    for run in re.findall(rf"{_CJK.pattern}+|[^{_CJK.pattern[1:-1]}]+", word):
        if not has_cjk(run):
            if run not in STOPWORDS:
                out.append(run)
        elif len(run) == 1:
            out.append(run)
        else:
            out.extend(run[i : i + 2] for i in range(len(run) - 1))
    return out


# A sentence ends at . ! ? after a non-digit (so "1. Open" stays whole), before a capital.
_SENTENCE_END = re.compile(r"(?<=[^\d\s.][.!?])\s+(?=[\"'(\[]?[A-Z0-9\u4e00-\u9fff])|(?<=[。！？])")


def sentences(text: str) -> list[str]:
    """Split ``text`` into sentences; each line (list item, table row) is at least one sentence."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        out.extend(s.strip() for s in _SENTENCE_END.split(line) if s.strip())
    return out


def words(text: str) -> int:
    """Return the number of words in ``text``, counting each CJK character as one."""
    return len(_WORD.findall(_CJK.sub(" ", text))) + len(_CJK.findall(text))


def slugify(text: str, max_len: int = 80) -> str:
    """Return a lower-case ASCII-ish slug of ``text`` for ids and anchors."""
    text = unicodedata.normalize("NFKC", text).lower()
    slug = re.sub(r"[^\w]+", "-", text, flags=re.UNICODE).strip("-")
    return slug[:max_len].strip("-") or "item"


_NAME = re.compile(r"(?<![\w-])([^\W_]*[A-Z][\w]*)")
_NOT_NAMES = frozenset({"ok", "okay", "i", "i'm"})


def names(text: str) -> list[str]:
    """Return the words of ``text`` written as names: "HomeKit", "API", "Alexa" mid-sentence.

    A capital that only opens a sentence does not make a name, and text written mostly in
    capitals has none. Scripts without case have none either.
    """
    letters = [c for c in text if c.isalpha()]
    if letters and sum(c.isupper() for c in letters) > len(letters) / 2:
        return []
    out: list[str] = []
    for sentence in re.split(r"(?<=[.!?;:])\s+|\n", text):
        for i, match in enumerate(_NAME.finditer(sentence.strip())):
            word = match.group(1)
            opens = i == 0 and match.start() == 0 and not any(c.isupper() for c in word[1:])
            if not opens and len(word) > 1 and word.lower() not in _NOT_NAMES | STOPWORDS:
                out.append(word)
    return list(dict.fromkeys(out))
