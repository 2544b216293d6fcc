from kb.text import content_hash, normalize, sentences, slugify, tokenize, words


def test_tokenize_stems_and_drops_stopwords():
    assert tokenize("How do I reset my passwords?") == ["reset", "password"]
    assert tokenize("Resetting") == tokenize("reset")


def test_tokenize_cjk_as_bigrams_and_keeps_latin_words():
    assert tokenize("信用卡申請 Apple Pay") == ["信用", "用卡", "卡申", "申請", "appl", "pay"]
    assert tokenize("卡") == ["卡"]


def test_sentences_keep_numbered_steps_whole():
    text = "Open the app. Tap Settings.\n1. Go to Account\n2. Tap Reset? Then wait."
    assert sentences(text) == [
        "Open the app.", "Tap Settings.", "1. Go to Account", "2. Tap Reset?", "Then wait.",
    ]  # fmt: skip


def test_normalize_and_words_and_hash():
    assert normalize("  a\u00a0 b\n\tc ") == "a b c"
    assert words("two words 中文") == 4
    assert content_hash("a", "b") != content_hash("ab")
    assert slugify("Reset from the App!") == "reset-from-the-app"


def test_text_is_kept_as_written_and_matched_folded():
    assert normalize("设置，然后（可选）重启…") == "设置，然后（可选）重启…"
    assert tokenize("Ｗｉ－Ｆｉ") == tokenize("Wi-Fi")
