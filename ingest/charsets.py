"""Bytes of an HTML page → text, pure: the declared charset if it holds, else a detected one.

The order follows the WHATWG encoding sniffing algorithm: byte order mark, the charset the
server declared, the page's own ``<meta charset>`` (or ``<?xml encoding>``), and only then a
guess, charset-normalizer's best reading — except that valid UTF-8 is UTF-8 first of all.
"""

from __future__ import annotations

import codecs

import charset_normalizer
from bs4.dammit import EncodingDetector

# Labels browsers read as a wider encoding (WHATWG Encoding Standard, "labels"): pages labelled
# ISO-8859-1 use Windows-1252's curly quotes and euro sign, pages labelled GB2312 use GBK…
_WIDER = {
    "ascii": "cp1252", "iso8859_1": "cp1252", "iso8859_9": "cp1254", "iso8859_11": "cp874",
    "tis_620": "cp874", "gb2312": "gb18030", "gbk": "gb18030", "shift_jis": "cp932",
    "euc_kr": "cp949", "big5": "big5hkscs",
}  # fmt: skip
# Among readings charset-normalizer scores alike, the legacy encodings most pages use.
_PREFERRED = ("cp1252", "gb18030")


def decode_html(body: bytes, declared: str | None = None) -> str:
    """Return the text of the HTML page ``body``; ``declared`` is the server's charset.

    Non-ASCII bytes that are valid UTF-8 are read as UTF-8 whatever the labels say: servers
    and templates still label UTF-8 pages ISO-8859-1, and legacy text is almost never valid
    UTF-8. A label the bytes do not decode in is passed over for the next clue; the last
    clue, the guess, always gives text (undecodable bytes become U+FFFD).
    """
    data, bom = EncodingDetector.strip_byte_order_mark(body)
    if bom:
        return data.decode(bom, errors="replace")
    if not body.isascii():
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            pass
    meta = EncodingDetector.find_declared_encoding(body, is_html=True)
    for label, in_page in ((declared, False), (meta, True)):
        codec = _codec(label, in_page=in_page)
        if codec:
            try:
                return body.decode(codec)
            except UnicodeDecodeError:
                continue
    if body.isascii():
        return body.decode("ascii")
    return body.decode(guess_encoding(body), errors="replace")


def guess_encoding(body: bytes) -> str:
    """Return the codec name charset-normalizer reads ``body`` best in; cp1252 if none fits."""
    results = charset_normalizer.from_bytes(body)
    best = results.best()
    if best is None:
        return "cp1252"
    alike = {
        name
        for r in results
        if r.chaos <= best.chaos + 0.01 and r.coherence >= best.coherence - 0.01
        for name in r.could_be_from_charset  # the codecs giving the very same text
    }
    return next((name for name in _PREFERRED if name in alike), best.encoding)


def _codec(label: str | None, *, in_page: bool) -> str | None:
    """Return the Python codec for a charset label, widened as browsers do; None if unknown."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name.replace("-", "_")
    except LookupError:
        return None
    if in_page and name.startswith("utf_16"):
        return "utf_8"  # the page read its own <meta> in an ASCII-compatible encoding
    return _WIDER.get(name, name)
