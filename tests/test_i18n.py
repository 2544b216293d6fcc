"""kb in the customer's language: catalogues complete, pages by Accept-Language, refusals by the
question's language, and the whole of it in a real browser over a tiny Chinese help centre."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from werkzeug.serving import make_server

from kb.answer import escalation_text, refusal_text
from kb.config import load_settings
from kb.locales import LOCALES, TRANSLATIONS, text_language, translations
from kb.usecases.bootstrap import build
from tests.sites import serve_widget_host
from tests.test_browser import CHROMIUM
from web import create_app

ROOT = Path(__file__).resolve().parent.parent
CONTACT = "help@lumio.example"
OFF_TOPIC_ZH = "火星上的天气怎么样？"  # "What is the weather like on Mars?"
ZH = "zh-CN,zh;q=0.9,en;q=0.5"

# A tiny Chinese help centre: three articles, so embedding it takes a moment.
ARTICLES = {
    "reset-password": ("如何重置密码", "打开登录页面，点击“忘记密码”。"
                       "输入您注册时使用的电子邮件地址，我们会发送一封重置邮件。"
                       "点击邮件中的链接，设置新密码即可。"),
    "pair-bulb": ("如何配对灯泡", "打开灯泡的电源，然后在应用中点击“添加设备”。"
                  "让手机靠近灯泡，等待灯泡闪烁三次，配对就完成了。"),
    "refund": ("如何申请退款", "购买后三十天内可以申请退款。"
               "请在“我的订单”中选择订单，点击“申请退款”，并说明原因。"
               "退款会在五个工作日内退回原支付方式。"),
}  # fmt: skip


def catalogue(locale: str):
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=locale)


def extracted() -> set[str]:
    """The msgids in the code now, extracted as `make messages` does (babel.cfg)."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2)}
    return {
        msgid if isinstance(msgid, str) else msgid[0]
        for _, _, msgid, _, _ in extract_from_dir(ROOT, method_map, options_map, keywords)
    }


@pytest.mark.parametrize("locale", [loc for loc in LOCALES if loc != "en"])
def test_every_message_in_the_code_is_translated(locale):
    po = catalogue(locale)
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in po if m.id}
    assert extracted() - ids == set(), "strings not in the catalogue: run `make messages`"
    untranslated = [m.id for m in po if m.id and (m.fuzzy or not all(
        m.string if isinstance(m.string, tuple) else (m.string,)))]  # fmt: skip
    assert untranslated == []
    problems = [(m.id, errors) for m, errors in po.check()]
    assert problems == []  # placeholders such as %(contact)s kept in every translation


@pytest.mark.parametrize("locale", [loc for loc in LOCALES if loc != "en"])
def test_the_compiled_catalogue_is_the_po_file(locale):
    compiled = translations(locale)
    stale = [m.id for m in catalogue(locale) if isinstance(m.id, str) and m.id
             and compiled.gettext(m.id) != m.string]  # fmt: skip
    assert stale == [], "the .mo file lags its .po: run `make translations`"


@pytest.mark.parametrize(
    ("text", "language"),
    [("怎么重置密码？", "zh"), ("パスワードを忘れた", "ja"), ("비밀번호", "ko"),
     ("How do I reset my password?", "en"), ("iPhone 15 支持吗", "zh"), ("1234 ?", None)],
)  # fmt: skip
def test_a_texts_language_is_told_by_its_script(text, language):
    assert text_language(text) == language


def test_refusals_and_escalations_follow_the_questions_language():
    assert refusal_text((), "火星上有天气吗？").startswith("在帮助中心里没有找到")
    assert refusal_text(("HomeKit", "Alexa"), "支持 HomeKit 和 Alexa 吗？").startswith(
        "在帮助中心里没有找到关于“HomeKit”或“Alexa”"
    )
    assert refusal_text((), "Is there weather on Mars?").startswith("I couldn't find")
    assert (
        escalation_text("Sales", CONTACT, "报价")
        == f"仍未解决？请联系我们的 Sales 团队：{CONTACT}。"
    )
    assert escalation_text(None, CONTACT, "quote") == f"Still stuck? Contact support: {CONTACT}."
    # Languages without a catalogue get English.
    assert refusal_text((), "パスワードを忘れました").startswith("I couldn't find")


@pytest.mark.parametrize(
    ("headers", "query", "lang", "label"),
    [({"Accept-Language": ZH}, "", "zh-Hans", "需要什么帮助？"),
     ({"Accept-Language": "zh-TW"}, "", "zh-Hans", "需要什么帮助？"),
     ({"Accept-Language": "zh-Hans-CN"}, "", "zh-Hans", "需要什么帮助？"),
     ({}, "", "en", "How can we help?"),
     ({"Accept-Language": "fr-FR,fr"}, "", "en", "How can we help?"),
     ({"Accept-Language": ZH}, "?lang=en", "en", "How can we help?"),
     ({}, "?lang=zh", "zh-Hans", "需要什么帮助？")],
)  # fmt: skip
def test_the_search_page_speaks_the_browsers_language(client, headers, query, lang, label):
    response = client.get("/" + query, headers=headers)
    html = response.get_data(as_text=True)
    assert f'<html lang="{lang}">' in html and label in html
    assert "Accept-Language" in response.vary


def test_chinese_page_chrome_and_script_messages(client):
    html = client.get("/?q=reset+password", headers={"Accept-Language": ZH}).get_data(as_text=True)
    assert "这对您有帮助吗？" in html and "篇文章" in html and "How can we help?" not in html
    assert '"went_wrong": "出了点问题。请重试。"' in html  # app.js's messages, in the page
    editor = client.get("/editor", headers={"Accept-Language": ZH}).get_data(as_text=True)
    assert "管理员密钥" in editor and '"bad_key": "密钥不正确。"' in editor


def test_the_widget_carries_every_language(client):
    js = client.get("/widget.js").get_data(as_text=True)
    assert '"help": "Help"' in js and '"help": "帮助"' in js


@pytest.fixture(scope="module")
def contact_client(demo_home):
    return create_app({"home": demo_home, "escalation_contact": CONTACT}).test_client()


def test_a_chinese_question_is_refused_in_chinese_without_accept_language(contact_client):
    body = contact_client.post("/answer", json={"question": OFF_TOPIC_ZH}).json
    assert body["refused"]
    assert body["answer"].startswith("在帮助中心里没有找到这个问题的答案")
    assert body["escalation"]["text"] == f"仍未解决？请联系客服：{CONTACT}。"
    assert body["escalation"]["contact"] == CONTACT


def test_an_english_question_is_refused_in_english_whatever_the_browser(contact_client):
    body = contact_client.post("/answer", json={"question": "How do I bake sourdough bread?"},
                               headers={"Accept-Language": ZH}).json  # fmt: skip
    assert body["answer"].startswith("I couldn't find an answer")
    assert body["escalation"]["text"] == f"Still stuck? Contact support: {CONTACT}."


def test_an_operators_escalation_text_is_kept_as_given(demo_home):
    given = "Call us on 0800 123 456, 9–5 on weekdays."
    client = create_app({"home": demo_home, "escalation_text": given}).test_client()
    body = client.post("/answer", json={"question": OFF_TOPIC_ZH}).json
    assert body["refused"] and body["escalation"]["text"] == given


# --- the acceptance test: Chromium, Accept-Language zh-CN, a tiny Chinese help centre -----------


@pytest.fixture(scope="module")
def shop() -> Iterator[dict[str, str]]:
    """Another origin: a shop page in Chinese that embeds the widget with one script tag."""
    with serve_widget_host("zh-CN", "商店", "Lumio 商店") as holder:
        yield holder


@pytest.fixture(scope="module")
def zh_server(tmp_path_factory, embedder, shop) -> Iterator[str]:
    """kb over the tiny Chinese help centre, on a real HTTP server on 127.0.0.1."""
    root = tmp_path_factory.mktemp("zh-helpcentre")
    for name, (title, body) in ARTICLES.items():
        (root / f"{name}.md").write_text(
            f"---\ntitle: {title}\nlang: zh\n---\n# {title}\n\n{body}\n"
        )
    home = root / "home"
    build(load_settings({"home": home}), embedder=embedder).ingestion.ingest([str(root)])
    app = create_app({"home": home, "escalation_contact": CONTACT, "rate_limit_answer": 0,
                      "cors_origins": shop["origin"]})  # fmt: skip
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    shop["kb"] = f"http://127.0.0.1:{httpd.server_port}"
    try:
        yield shop["kb"]
    finally:
        httpd.shutdown()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if CHROMIUM is None:
        pytest.skip("needs Debian's chromium (make test installs it as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def zh_page(browser) -> Iterator:
    """A page in a browser whose language is Chinese (Accept-Language: zh-CN)."""
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield page
    context.close()
    assert errors == [], errors


def test_in_chinese_a_cited_answer_and_a_refusal_with_its_escalation(zh_page, zh_server):
    page = zh_page
    page.goto(zh_server + "/")
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    box = page.get_by_label("需要什么帮助？")
    assert box.get_attribute("placeholder") == "提出问题或搜索帮助中心"
    assert page.get_by_role("button", name="提问").is_visible()

    box.fill("如何申请退款？")
    box.press("Enter")
    page.locator("#answer .citations li").first.wait_for()
    answer = page.locator("#answer")
    assert answer.locator("#answer-h").inner_text() == "回答"
    assert "[1]" in answer.locator(".answer-text").inner_text()
    assert "如何申请退款" in answer.locator(".citations").inner_text()
    assert answer.locator(".confidence").inner_text().startswith("置信度")
    assert answer.get_by_text("这对您有帮助吗？").is_visible()
    page.locator("#results-h").filter(has_text="篇文章").wait_for()

    box.fill(OFF_TOPIC_ZH)
    box.press("Enter")
    refusal = page.locator("#answer.refused")
    refusal.wait_for()
    assert refusal.locator("#answer-h").inner_text() == "没有找到答案"
    assert refusal.locator(".answer-text").inner_text().startswith("在帮助中心里没有找到")
    contact = refusal.locator(".contact")
    assert contact.inner_text() == f"仍未解决？请联系客服：{CONTACT}。"
    assert contact.locator(f"a[href='mailto:{CONTACT}']").count() == 1


def test_in_chinese_the_server_rendered_refusal_is_in_chinese(zh_page, zh_server):
    page = zh_page
    page.goto(zh_server + "/?q=" + OFF_TOPIC_ZH)  # as the form submits it without JavaScript
    refusal = page.locator("#answer.refused")
    assert refusal.locator("#answer-h").inner_text() == "没有找到答案"
    assert refusal.locator(".contact").inner_text() == f"仍未解决？请联系客服：{CONTACT}。"
    assert page.locator("footer").inner_text().startswith("回答来自本帮助中心的文章")


def test_the_widget_on_a_chinese_page_speaks_chinese(browser, zh_server, shop):
    context = browser.new_context(locale="en-GB")  # the host page's language wins
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(shop["origin"] + "/")
    page.get_by_role("button", name="帮助").click()
    page.get_by_label("向 Lumio Help Centre 提问").fill(OFF_TOPIC_ZH)
    page.get_by_role("button", name="提问").click()
    contact = page.locator("[data-kb-widget] .contact")
    contact.wait_for()
    assert contact.inner_text() == f"仍未解决？请联系客服：{CONTACT}。"
    context.close()
