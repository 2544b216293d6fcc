from kb.text import content_hash, normalize, sentences, slugify, tokenize, words


def test_tokenize_stems_and_drops_stopwords():
    assert tokenize("How do I reset my passwords?") == ["reset", "password"]
    assert tokenize("Resetting") == tokenize("reset")


def test_tokenize_cjk_as_bigrams_and_keeps_latin_words():
    assert tokenize("信用卡申请 Apple Pay") == ["信用", "用卡", "卡申", "申请", "appl", "pay"]
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
    assert normalize("鑽孔檔怎麼產生") == "鑽孔檔怎麼產生"
    assert tokenize("Ｗｉ－Ｆｉ") == tokenize("Wi-Fi")
    assert tokenize("ＷｉＦｉ") == tokenize("WiFi") == ["wifi"]


def test_tokenize_folds_traditional_chinese_to_simplified():
    assert tokenize("鑽孔檔怎麼產生") == tokenize("钻孔档怎么产生") == [
        "钻孔", "孔档", "档怎", "怎么", "么产", "产生",
    ]  # fmt: skip
    assert tokenize("網路設定") == ["网路", "路设", "设定"]
    # "Account": Taiwan's 帳戶, and the 账户 and 帐户 both written in Simplified Chinese.
    assert tokenize("帳戶") == tokenize("账户") == tokenize("帐户")


def test_tokenize_leaves_japanese_kana_and_korean_as_bigrams():
    assert tokenize("パスワード") == ["パス", "スワ", "ワー", "ード"]
    assert tokenize("비밀번호") == ["비밀", "밀번", "번호"]
