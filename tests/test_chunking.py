from ingest.chunking import chunk_sections, split_text
from kb.models import Section
from kb.text import words


def test_chunks_never_cross_sections_and_keep_anchors():
    sections = [Section("Intro", "a b c", None, 1), Section("Steps", "1. do\n2. done", "steps")]
    chunks = chunk_sections("doc", sections, max_words=50)
    assert [(c.ordinal, c.section, c.anchor, c.text) for c in chunks] == [
        (0, "Intro", None, "a b c"),
        (1, "Steps", "steps", "1. do\n2. done"),
    ]


def test_long_text_is_split_at_lines_then_sentences_within_the_limit():
    line = " ".join(f"w{i}" for i in range(30)) + "."
    text = "\n".join([line] * 10) + "\n" + " ".join([line] * 5)
    pieces = split_text(text, max_words=100)
    assert all(words(p) <= 100 for p in pieces)
    assert " ".join(" ".join(pieces).split()) == " ".join(text.split())


def test_no_tiny_last_chunk_when_it_can_be_balanced():
    text = "\n".join(["one two three four five"] * 9)  # 45 words, limit 40
    pieces = split_text(text, max_words=40)
    assert len(pieces) == 2 and min(words(p) for p in pieces) >= 10


def test_unbroken_cjk_text_is_cut_by_characters_into_even_pieces():
    pieces = split_text("字" * 250, max_words=100)
    assert [len(p) for p in pieces] == [83, 84, 83]
