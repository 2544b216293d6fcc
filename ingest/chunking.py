"""Sections → chunks small enough to embed. Pure: chunks never cross a section boundary."""

from __future__ import annotations

from collections.abc import Sequence

from kb.models import Chunk, Section
from kb.text import cut, words


def chunk_sections(doc_id: str, sections: Sequence[Section], max_words: int) -> list[Chunk]:
    """Return the chunks of ``sections``: whole lines packed up to ``max_words`` words each."""
    chunks: list[Chunk] = []
    for section in sections:
        for text in split_text(section.text, max_words):
            chunks.append(Chunk(doc_id, len(chunks), section.heading, section.anchor, text))
    return chunks


def split_text(text: str, max_words: int) -> list[str]:
    """Split ``text`` into pieces of at most ``max_words`` words (see ``kb.text.words``).

    Whole lines are packed together; a line over the limit is cut at its strongest breaks
    (sentence ends, then clauses, then spaces: see ``kb.text.cut``), in every script.
    """
    pieces: list[str] = []
    for line in text.splitlines():
        pieces.extend(piece.strip() for piece in cut(line, max_words) if piece.strip())
    return _pack(pieces, max_words)


def _pack(pieces: list[str], max_words: int) -> list[str]:
    """Join consecutive pieces while they fit; avoid a tiny last chunk by balancing."""
    out: list[list[str]] = []
    size = 0
    for piece in pieces:
        n = words(piece)
        if out and size + n <= max_words:
            out[-1].append(piece)
            size += n
        else:
            out.append([piece])
            size = n
    if len(out) >= 2 and sum(words(p) for p in out[-1]) < max_words // 4:
        # Move lines from the previous chunk so the last one is not a fragment.
        while len(out[-2]) > 1 and sum(words(p) for p in out[-1]) < max_words // 4:
            out[-1].insert(0, out[-2].pop())
    return ["\n".join(group) for group in out]
