"""Issue 14, faults in text: bracketed numbers that are not citations, long CJK paragraphs,
short new questions in a conversation. The handed inputs are in fixtures/cases/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from kb.config import load_settings
from kb.conversation import is_follow_up, standalone
from kb.generate import ExtractiveGenerator
from kb.llm import build_prompt
from kb.marks import escape, escape_copies, resolve
from kb.models import Answer, Passage
from kb.text import cut, normalize, words
from kb.usecases.bootstrap import build
from tests.openai_server import Reply, ScriptedModel, openai_server
from tests.sites import serve_app
from tests.test_browser import CHROMIUM
from tests.test_stream import events
from web import create_app

CASES = Path(__file__).parent / "fixtures" / "cases"
BILLING = "How do I reach the billing team by phone?"
PRESS_2 = "Call the main number, then press [2] to reach the billing team."


# Text that looks like a citation ---------------------------------------------------------


def ingested(tmp_path_factory, embedder, source: Path) -> Path:
    """A data directory with ``source`` ingested."""
    home = tmp_path_factory.mktemp("case") / "home"
    build(load_settings({"home": home}), embedder=embedder).ingestion.ingest([str(source)])
    return home


@pytest.fixture(scope="module")
def phone_home(tmp_path_factory, embedder) -> Path:
    return ingested(tmp_path_factory, embedder, CASES / "bracket-number-citations" / "hc")


def marks_of(text: str, citations) -> list[tuple[int, int]]:
    """(offset, number) of every citation mark, checked to be "[n]" where it says."""
    out = []
    for c in citations:
        number = c["number"] if isinstance(c, dict) else c.number
        for at in c["offsets"] if isinstance(c, dict) else c.offsets:
            assert text[at : at + len(f"[{number}]")] == f"[{number}]"
            out.append((at, number))
    return sorted(out)


def assert_press_2_kept(text: str, citations) -> None:
    assert PRESS_2.rstrip(".") in text
    assert [c["doc_id"] if isinstance(c, dict) else c.doc_id for c in citations] == [
        "phone-support"
    ]
    at = text.index("press [2]") + len("press ")
    marks = marks_of(text, citations)
    assert marks and at not in [a for a, _ in marks]  # the menu key is text, not a mark
    # Every bracketed number in the text is either a mark or the article's own text.
    own = [m.start() for m in re.finditer(r"\[\d+\]", text) if m.start() not in dict(marks)]
    assert all(text[a : a + 3] in ("[2]", "[3]") for a in own)


def test_the_case_a_menu_key_stays_text_in_the_answer(phone_home, embedder):
    kb = build(load_settings({"home": phone_home}), embedder=embedder)
    answer = kb.answering.answer(BILLING)
    assert not answer.refused and answer.mode == "extractive"
    assert_press_2_kept(answer.text, answer.citations)
    assert "press [2]" in answer.citations[0].quote


def test_the_case_over_the_api_the_stream_and_the_page(phone_home):
    client = create_app({"home": phone_home}).test_client()
    body = client.post("/v1/answer", json={"question": BILLING}).json
    assert_press_2_kept(body["answer"], body["citations"])

    streamed = events(client.post("/v1/answer", json={"question": BILLING, "stream": True}))
    text = "".join(d["text"] for name, d in streamed if name == "delta")
    assert streamed[-1][0] == "done" and text == streamed[-1][1]["answer"] == body["answer"]
    assert_press_2_kept(text, streamed[-1][1]["citations"])

    html = client.get("/", query_string={"q": BILLING}).get_data(as_text=True)
    answer_html = html.split('class="answer-text">', 1)[1].split("</div>", 1)[0]
    assert "press [2] to reach" in answer_html  # text, not a link
    assert answer_html.count("<sup><a") == 1 and 'aria-label="source 1">[1]</a>' in answer_html


def test_source_brackets_are_escaped_and_marks_found_by_offset():
    source = "Press [2] for billing. Press [3] to exit."
    assert escape(source) == r"Press \[2\] for billing. Press \[3\] to exit."
    plain, marks = resolve(escape(source) + " [1]\nSee the 日本語 note [2]")
    assert plain == source + " [1]\nSee the 日本語 note [2]"
    assert marks == [(len(source) + 1, 1), (len(plain) - 3, 2)]
    assert resolve(r"press \[2] now [1]") == ("press [2] now [1]", [(14, 1)])  # half-escaped


@pytest.mark.parametrize(
    "model_wrote, expected",
    [
        # A copy of the source's "[2]" between the same words is text ...
        ("then press [2] to reach the team [1].", r"then press \[2\] to reach the team [1]."),
        ("Then PRESS [2] TO reach it [1].", r"Then PRESS \[2\] TO reach it [1]."),
        # ... a citation where the source has none stays one, even with the same number.
        ("To reach the team, call us [2].", "To reach the team, call us [2]."),
        ("then press [2].", "then press [2]."),  # the source goes on after its [2]
        (r"then press \[2\] to reach [1]", r"then press \[2\] to reach [1]"),  # escaped: kept
        ("按[2]键联系账单团队 [1]", r"按\[2\]键联系账单团队 [1]"),
    ],
)
def test_a_model_s_copies_of_source_brackets_are_told_from_its_citations(model_wrote, expected):
    sources = ["Call the main number, then press [2] to reach the billing team.", "请按[2]键。"]
    assert escape_copies(model_wrote, sources) == expected


def test_the_prompt_gives_source_brackets_escaped():
    p = Passage(1, "phone", 1, "Phone [1]", "u", "Menu", "Press [2] for billing.", "article", "en")
    prompt = build_prompt(BILLING, [p])
    fenced = prompt.split("<<<\n", 1)[1].split("\n>>>", 1)[0]
    assert fenced == r"Press \[2\] for billing."
    assert r"[1] Phone \[1\] — Menu" in prompt
    assert "copy it exactly as written" in prompt


@pytest.mark.parametrize(
    "reply",
    [
        # The billing passage is [2] in the prompt: the same number as the menu key.
        "Call the main number, then press [2] to reach the billing team [2].",  # copied bare
        r"Call the main number, then press \[2\] to reach the billing team [2].",  # as given
    ],
)
def test_the_llm_path_keeps_a_copied_menu_key_as_text(phone_home, reply):
    model = ScriptedModel([Reply(content=reply)])
    settings = {"home": phone_home, "llm_model": "m", "llm_timeout": 5.0, "llm_retries": 0}
    with openai_server(model) as url:
        kb = build(load_settings({**settings, "llm_base_url": url}))
        answer = kb.answering.answer(BILLING)
        streamed = list(kb.answering.answer_stream(BILLING))
    assert answer.mode == "llm" and answer.fallback is None
    assert answer.text == "Call the main number, then press [2] to reach the billing team [1]."
    assert_press_2_kept(answer.text, answer.citations)
    final = streamed[-1][1]
    assert isinstance(final, Answer) and final.text == answer.text
    assert "".join(v for name, v in streamed if name == "delta") == answer.text


@pytest.fixture(scope="module")
def phone_server(phone_home) -> Iterator[str]:
    with serve_app(create_app({"home": phone_home, "rate_limit_answer": 0})) as url:
        yield url


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")
def test_the_search_page_links_citations_only(phone_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(phone_server + "/")
        page.get_by_label("How can we help?").fill(BILLING)
        page.get_by_label("How can we help?").press("Enter")
        page.locator("#answer .citations li").first.wait_for()
        text = page.locator("#answer .answer-text")
        links = text.locator("a")
        assert links.count() == 1 and links.first.inner_text() == "[1]"
        assert "/articles/phone-support" in links.first.get_attribute("href")
        assert "press [2] to reach the billing team" in text.inner_text()
        browser.close()
    assert errors == []


# CJK text without the sentence punctuation chunking expects ------------------------------


def router_text(name: str) -> str:
    import json

    lines = (CASES / "cjk-long-paragraph" / name).read_text(encoding="utf-8").splitlines()
    return normalize(next(json.loads(x)["text"] for x in lines if '"router' in x))


CLAUSE_ENDS = (",", "，", ";", "；", "、", "。", ":", "：", "!", "?")


@pytest.mark.parametrize("name", ["long_space.jsonl", "long_nospace.jsonl"])
def test_the_case_the_router_paragraph_is_cut_at_clauses_within_the_limit(name):
    from ingest.chunking import split_text

    text = router_text(name)
    chunks = split_text(text, max_words=150)
    assert len(chunks) >= 3 and all(words(c) <= 150 for c in chunks)
    assert all(c.endswith(CLAUSE_ENDS) for c in chunks)
    assert "".join(chunks) == text
    assert any("固件更新通常需要五分钟左右" in c for c in chunks)  # the fact is never cut


@pytest.mark.parametrize(
    "text, limit",
    [
        ("ルーターのランプが点滅しているときは、電源を確認してください。" * 12, 40),  # Japanese
        ("공유기 표시등이 깜박이면, 전원 어댑터를 확인하고 다시 시도하세요. " * 20, 30),  # Korean
        ("Hold the button for ten seconds, wait for the light; then open the app, " * 12, 25),
        ("ถ้าคุณลืมรหัสผ่านโปรดเปิดแอปแล้วแตะลืมรหัสผ่านที่หน้าลงชื่อเข้าใช้" * 20, 30),  # Thai
        ("字" * 250, 100),  # nothing to cut at
    ],
)
def test_long_text_in_any_script_is_cut_within_the_limit_at_its_strongest_breaks(text, limit):
    pieces = cut(text, limit)
    assert "".join(pieces) == text and all(words(p) <= limit for p in pieces)
    if re.search(r"[、。,;.]", text):
        assert all(p.rstrip().endswith(("、", "。", ",", ";", ".")) for p in pieces[:-1])
    sizes = [words(p) for p in pieces]
    assert len(pieces) == 1 or min(sizes) >= max(sizes) / 3  # no scrap at the end


def test_numbers_times_and_addresses_are_not_clause_breaks():
    text = "Pay 1,000 euros by 10:30 at https://pay.example/x,y then wait, and check"
    assert cut(text, 15) == ["Pay 1,000 euros by 10:30 at https://pay.example/x,y then wait, ",
                             "and check"]  # fmt: skip


@pytest.mark.parametrize("name", ["long_space.jsonl", "long_nospace.jsonl"])
def test_the_case_the_answer_quotes_the_clause_that_answers(tmp_path, embedder, name):
    kb = build(load_settings({"home": tmp_path / "home"}), embedder=embedder)
    kb.ingestion.ingest([str(CASES / "cjk-long-paragraph" / name)])
    answer = kb.answering.answer("固件更新需要多长时间？")
    assert not answer.refused
    assert "固件更新通常需要五分钟左右" in answer.text
    assert answer.citations and all(c.doc_id.startswith("router") for c in answer.citations)
    assert words(answer.text) <= 90 + 10 and "固件更新通常需要五分钟左右" in " ".join(
        c.quote for c in answer.citations
    )


def test_the_answer_budget_holds_within_one_long_paragraph(embedder):
    clauses = [f"第{i}步请检查设备{i}号的指示灯状态" for i in range(1, 80)]
    clauses[60] = "固件更新通常需要五分钟左右"
    text = "，".join(clauses) + "。"
    assert len(text) > 1000
    passage = Passage(1, "router", 1, "路由器", "u", "路由器", normalize(text), "article", "zh")
    answer = ExtractiveGenerator(embedder).generate("固件更新需要多长时间？", [passage])
    assert "固件更新通常需要五分钟左右" in answer
    assert words(answer) <= 90 + 1  # the mark "[1]" counts one


# A short new question in a conversation --------------------------------------------------


@pytest.fixture(scope="module")
def zh_home(tmp_path_factory, embedder) -> Path:
    return ingested(tmp_path_factory, embedder, CASES / "cjk-long-paragraph" / "long_nospace.jsonl")


@pytest.mark.parametrize(
    "previous, question, follow_up",
    [
        ("How long does shipping take?", "Refunds?", False),
        ("How long does shipping take?", "refund policy", False),
        ("How do I reset my password?", "Two-factor authentication?", False),
        ("How do I pair a bulb?", "Invoices?", False),
        ("How long does shipping take?", "and by phone?", True),
        ("Which plan should I choose?", "what about the price?", True),
        ("How do I update the firmware?", "how long does it take?", True),
        ("How do I reset my password?", "On the web?", True),
        ("How long does shipping take?", "Why?", True),
        ("How long does shipping take?", "Really?", True),
        ("How long does delivery take?", "In which cases can I get a refund?", False),
        ("How long does delivery take?", "For a refund, who do I call?", False),
        ("How long does delivery take?", "So how do I get a refund?", False),
        ("How do I pay?", "With a gift card?", True),
        ("How do I reset my password?", "For business accounts?", True),
    ],
)
def test_english_short_questions_naming_a_topic_are_new(demo_kb, previous, question, follow_up):
    known = demo_kb.retrieval.searcher().snapshot.lexical.knows
    assert is_follow_up(question, known) is follow_up
    expected = f"{previous} {question}" if follow_up else question
    assert standalone(question, [previous], known) == expected


@pytest.mark.parametrize(
    "question, follow_up",
    [
        ("退款？", False),
        ("怎么申请退款？", False),
        ("忘记密码怎么办？", False),
        ("固件更新需要多长时间？", False),
        ("那退款呢？", True),
        ("要多久？", True),
        ("它需要什么权限？", True),
        ("还有别的办法吗？", True),
        ("为什么？", True),
    ],
)
def test_chinese_short_questions_naming_a_topic_are_new(zh_home, embedder, question, follow_up):
    kb = build(load_settings({"home": zh_home}), embedder=embedder)
    known = kb.retrieval.searcher().snapshot.lexical.knows
    assert is_follow_up(question, known) is follow_up


def test_a_new_short_question_is_answered_on_its_own_topic(client):
    history = [{"question": "How long does shipping take?", "answer": "…"}]
    body = client.post("/answer", json={"question": "Refunds?", "history": history}).json
    assert body["query"] == "Refunds?"
    assert not body["refused"] and body["citations"][0]["doc_id"] == "refund-policy"
    follow = client.post("/answer", json={"question": "and by phone?", "history": history}).json
    assert follow["query"] == "How long does shipping take? and by phone?"


def test_a_new_short_chinese_question_is_answered_on_its_own_topic(zh_home, embedder):
    kb = build(load_settings({"home": zh_home}), embedder=embedder)
    history = ["路由器的指示灯一直闪烁怎么办？"]
    answer = kb.answering.answer("退款？", history=history)
    assert answer.question == normalize("退款？") and answer.citations[0].doc_id == "zh-refund"
    follow_up = kb.answering.answer("那退款呢？", history=history).question
    assert follow_up == normalize(f"{history[0]} 那退款呢？")


def test_a_step_is_its_whole_line_and_what_it_introduces_follows_it():
    from kb.generate import answer_units

    steps = "1. Open Settings. Choose Billing.\n- Run this command:\nshopctl a\nshopctl b"
    text = steps + "\nThe new plan starts today."
    passage = Passage(1, "d", 1, "T", "/d", "S", text, "article", "en")
    units = [u for _, u in answer_units([passage])]
    assert units == ["1. Open Settings. Choose Billing.\n- Run this command:\nshopctl a\nshopctl b",
                     "The new plan starts today."]  # fmt: skip


def test_checking_an_answer_keeps_its_lines():
    from kb.citations import drop_unsupported

    steps = "1. Open Settings. Choose Billing.\n2. Pick a plan."
    passage = Passage(1, "d", 1, "T", "/d", "S", steps, "article", "en")
    text = "1. Open Settings. Choose Billing.\n2. Pick a plan [1]."
    assert drop_unsupported(text, [passage]) == text
    text = "更新期间请不要断电,固件更新通常需要五分钟左右。"
    cjk = Passage(2, "z", 1, "T", "/z", "S", text, "article", "zh")
    assert drop_unsupported("更新期间请不要断电,固件更新通常需要五分钟左右 [1]。", [cjk]) == (
        "更新期间请不要断电,固件更新通常需要五分钟左右 [1]。"
    )


@pytest.mark.parametrize(
    "source",
    [r"run grep '\[2\]' on the log", r"open C:\data\[1] first", "a \\ b [3] c", "x \\\\[4]"],
)
def test_backslashes_and_brackets_of_the_source_come_back_as_written(source):
    text, marks = resolve(escape(source) + " [1]")
    assert text == source + " [1]" and marks == [(len(source) + 1, 1)]
