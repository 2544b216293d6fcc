"""Pure text helpers: normalisation, hashing, BM25 tokens, sentences."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

import Stemmer

if TYPE_CHECKING:
    from kb.models import Section

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
    """Return ``text`` in NFC form with runs of whitespace folded to one space.

    Text is kept as written: full-width punctuation ("，", "（"), "…" and the like are what a
    Chinese or Japanese reader expects quoted back, in the script it was written in. Matching
    folds them in :func:`tokenize`, so "Ｗｉ－Ｆｉ" still finds "Wi-Fi" and "帳號" finds "帐号".
    """
    return _SPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


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


def script(text: str) -> str:
    """Return ``"cjk"`` for text with Chinese, Japanese or Korean characters, else ``"other"``.

    Models and tokenizers treat the two apart, so scores are compared within a script.
    """
    return "cjk" if has_cjk(text) else "other"


def run_on(pieces: Sequence[str]) -> str:
    """Join sentences of one line: with a space, but none between two pieces of CJK text.

    ``["Open Settings.", "Choose Billing."]`` → ``"Open Settings. Choose Billing."``;
    ``["更新期间请不要断电,", "固件更新通常需要五分钟"]`` → one run without a space.
    """
    out = ""
    for piece in pieces:
        gap = "" if not out or (has_cjk(piece[:1]) and has_cjk(out[-2:])) else " "
        out += gap + piece
    return out


# Changes whenever what tokenize returns for some text would: an index of tokens from another
# version no longer matches the queries' tokens.
TOKENIZER = "2: NFKC, lower case, OpenCC t2s and 账→帐, English stems, CJK character bigrams"


def tokenize(text: str) -> list[str]:
    """Return BM25 tokens: stemmed lower-case words without stop words; CJK as character bigrams.

    Text is folded first, so what a reader takes for the same word is one token: full- and
    half-width forms are one (NFKC: "ＷｉＦｉ" is "wifi") and so are Traditional and Simplified
    Chinese (OpenCC's character conversion t2s: "帳號" is "帐号"). Index and query are folded alike.
    """
    tokens: list[str] = []
    for word in _WORD.findall(_fold(text)):
        if has_cjk(word):
            tokens.extend(_cjk_tokens(word))
        elif word not in STOPWORDS:
            tokens.append(word)
    return _stem(tokens)


_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Simplified Chinese writes an account 账 (账户, 账号) but often 帐 too, the form t2s gives for
# Traditional 帳 (帳戶): one character for both, so the three spellings of "account" meet.
_VARIANTS = str.maketrans({"账": "帐"})


def _fold(text: str) -> str:
    """Return ``text`` as it is matched: NFKC, lower case, Chinese in Simplified characters."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _simplified()(text).translate(_VARIANTS) if _HAN.search(text) else text


@lru_cache(maxsize=1)
def _simplified() -> Callable[[str], str]:
    """OpenCC's Traditional-to-Simplified converter, its dictionaries read once per process."""
    import opencc  # only text with Chinese characters needs it

    return opencc.OpenCC("t2s").convert


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


# A sentence ends at . ! ? after a non-digit (so "1. Open" stays whole), before a capital or
# a CJK character; at 。！？ (full- or half-width, as NFKC leaves them); at ! ? after CJK.
_C = _CJK.pattern[1:-1]
_SENTENCE_END = re.compile(
    rf"(?<=[^\d\s.][.!?])\s+(?=[\"'(\[]?[A-Z0-9{_C}])|(?<=[。！？｡])|(?<=[{_C}][!?])(?![!?])"
)


def sentences(text: str) -> list[str]:
    """Split ``text`` into sentences; each line (list item, table row) is at least one sentence."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        out.extend(s.strip() for s in _SENTENCE_END.split(line) if s.strip())
    return out


# Where a text too long for its purpose may be cut, strongest break first: sentence ends,
# semicolons, commas and colons, enumeration commas (、), spaces. Full-width marks always
# break; their half-width forms (NFKC makes "，" ",") only before a space or next to CJK, so
# "1,000", "10:30" and "http://" stay whole.
def _after(full: str, half: str) -> re.Pattern[str]:
    return re.compile(rf"[{full}]\s*|[{half}]\s+|(?<=[{_C}])[{half}]|[{half}](?=[{_C}])")


_BREAKS = (
    re.compile(r"\n\s*"),
    _SENTENCE_END,
    _after("；﹔", ";"),
    _after("，：﹐﹕", ",:"),
    _after("、､﹑", "、"),
    re.compile(r"\s+"),
)
# The last resort: a CJK character, a run of word characters, or one other character.
_ATOM = re.compile(rf"(?:[{_C}]|[^\W{_C}]+|[^\w\s])\s*|\s+")


def cut(text: str, max_words: int) -> list[str]:
    """Return ``text`` in consecutive pieces of at most ``max_words`` words (see :func:`words`).

    Each piece ends at the strongest break that lets the pieces fit: a line end, a sentence
    end, then a semicolon, a comma or colon, an enumeration comma, a space, and only then
    anywhere between two characters. Pieces are about equal in size, not full ones and a scrap, and
    keep their own spaces: joined, they are ``text``.
    """
    return _cut(text, max_words, 0)


def _cut(text: str, max_words: int, level: int) -> list[str]:
    if words(text) <= max_words:
        return [text]
    if level == len(_BREAKS):
        return _balanced(_ATOM.findall(text), max_words)
    at = [m.end() for m in _BREAKS[level].finditer(text) if 0 < m.end() < len(text)]
    parts = [text[i:j] for i, j in zip([0, *at], [*at, len(text)], strict=True)]
    if len(parts) == 1:
        return _cut(text, max_words, level + 1)
    fitting = [piece for part in parts for piece in _cut(part, max_words, level + 1)]
    return _balanced(fitting, max_words)


def _balanced(parts: list[str], max_words: int) -> list[str]:
    """Join consecutive ``parts`` (each within the limit) into pieces of about equal size.

    A piece ends where the next part would cross the limit, or would end nearer the next
    multiple of the ideal size (the total over the fewest pieces) past it than before it.
    """
    sizes = [words(p) for p in parts]
    total = sum(sizes)
    target = total / -(-total // max_words) if total else max_words
    out: list[str] = []
    current, size, done = "", 0, 0
    for part, n in zip(parts, sizes, strict=True):
        if current and (size + n > max_words or done + size + n / 2 > target * (len(out) + 1)):
            out.append(current)
            current, size, done = "", 0, done + size
        current += part
        size += n
    return [*out, current] if current else out


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
# A quantity ("3A", "300V", "3V3", "5GHz", "2FA") or a designator ("F1", "A4", "D0") is
# capitalised without naming anything a help centre has to mention.
_VALUE = re.compile(r"\d[\d.,]*[^\W\d_]{0,3}\d*|[^\W\d_]\d{1,2}")


def _name(word: str) -> str | None:
    """Return what names something in a capitalised ``word``, leaving out its values:
    "12V_AUX" → "AUX", "300V" → None."""
    parts = [part for part in word.split("_") if part and not _VALUE.fullmatch(part)]
    name = "_".join(parts)
    if len(name) > 1 and any(c.isupper() for c in name) and name.lower() not in _NOT_NAMES:
        return name
    return None


def names(text: str) -> list[str]:
    """Return the words of ``text`` written as names: "HomeKit", "API", "Alexa" mid-sentence.

    A capital that only opens a sentence does not make a name, and text written mostly in
    capitals has none. Chinese, Japanese and Korean have no capitals, but the Latin words a
    question in them carries are names when capitalised, wherever they stand ("HomeKit可以用吗",
    "支持 Alexa 吗"): only the English phrases among them have sentences to open.
    """
    letters = [c for c in text if c.isalpha()]
    if letters and sum(c.isupper() for c in letters) > len(letters) / 2:
        return []
    if not has_cjk(text):
        return _latin_names(text)
    out: list[str] = []
    for segment in _NOT_CJK.findall(text):
        words = _WORD.findall(segment)
        if len(words) == 1:
            if name := _name(words[0]):
                out.append(name)
        else:
            out.extend(_latin_names(segment))
    return list(dict.fromkeys(out))


_NOT_CJK = re.compile(rf"[^{_C}]+")


def _latin_names(text: str) -> list[str]:
    out: list[str] = []
    for sentence in re.split(r"(?<=[.!?;:])\s+|\n", text):
        for i, match in enumerate(_NAME.finditer(sentence.strip())):
            word = match.group(1)
            opens = i == 0 and match.start() == 0 and not any(c.isupper() for c in word[1:])
            if not opens and (name := _name(word)) and name.lower() not in STOPWORDS:
                out.append(name)
    return list(dict.fromkeys(out))


def text_key(sections: Sequence[Section]) -> str:
    """Return what makes a document's main content itself: its sections' headings and text.

    Two pages with equal keys show the same article (a print copy, a URL with a menu
    parameter), whatever their titles, URLs or anchors. Spacing aside, so a document rebuilt
    from its stored chunks has the key it was read with.
    """
    return content_hash(*(f"{normalize(s.heading)}\x1f{normalize(s.text)}" for s in sections))


def snippet(text: str, n: int = 200) -> str:
    """Return the first ``n`` characters of ``text`` on one line, cut with "…" when longer."""
    line = " ".join(text.split())
    return line if len(line) <= n else line[: n - 1].rstrip() + "…"
