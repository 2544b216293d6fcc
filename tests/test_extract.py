from ingest.extract import extract

PAGE = """<!doctype html><html lang="en-GB"><head><title>Reset your password – Acme Help</title>
<link rel="canonical" href="https://help.acme.example/reset#top">
<meta name="description" content="How to reset it."><script>var x = 'SCRIPT TEXT';</script></head>
<body>
<header class="site"><a href="/">Acme Help</a>
<input placeholder="Search in all modules"></header>
<nav>Home › Account › MENU TEXT</nav>
<main><article>
<h1>Reset your password</h1>
<p>If you forgot it, <b>reset</b> it from the app.</p>
<h2 id="from-the-app">From the app</h2>
<ol><li>Open <em>Settings</em>.</li>
<li>Tap <strong>Reset</strong>.<ul><li>nested note</li></ul></li></ol>
<h2>Without an id</h2>
<p>Plain text.</p><span hidden>HIDDEN TEXT</span><span aria-hidden="true">Seen by eye.</span>
<div style="display: none">STYLE HIDDEN</div>
<h3 id="limits">Limits</h3>
<table><tr><th>Plan</th><th>Resets</th></tr><tr><td>Free</td><td>3 a day</td></tr></table>
<pre><code>ssid = home
  channel = 6</code></pre>
<h2 id="empty-section"></h2>
</article><aside>RELATED TEXT</aside></main>
<footer>FOOTER TEXT</footer>
</body></html>"""


def test_extracts_title_lang_canonical_and_description():
    page = extract(PAGE)
    assert page.title == "Reset your password"
    assert page.lang == "en-GB"
    assert page.canonical == "https://help.acme.example/reset#top"
    assert page.description == "How to reset it."


def test_sections_follow_headings_with_anchors():
    page = extract(PAGE)
    assert [(s.heading, s.anchor, s.level) for s in page.sections] == [
        ("Reset your password", None, 1),
        ("From the app", "from-the-app", 2),
        ("Without an id", None, 2),
        ("Limits", "limits", 3),
    ]
    assert page.sections[0].text == "If you forgot it, reset it from the app."


def test_lists_tables_and_code_stay_readable():
    page = extract(PAGE)
    app = page.sections[1].text
    assert app.splitlines() == ["1. Open Settings.", "2. Tap Reset.", "  - nested note"]
    limits = page.sections[3].text
    assert "Plan | Resets" in limits and "Free | 3 a day" in limits
    assert "ssid = home\n  channel = 6" in limits


def test_chrome_and_hidden_text_are_dropped():
    text = " ".join(s.heading + " " + s.text for s in extract(PAGE).sections)
    for chrome in ("SCRIPT", "MENU", "Search in all modules", "HIDDEN", "RELATED", "FOOTER"):
        assert chrome not in text


def test_page_without_main_uses_body_and_drops_banner():
    page = extract(
        "<html><body><header><a>Site banner</a></header><h1>T</h1><p>Body text</p></body></html>"
    )
    assert page.title == "T"
    assert page.sections[0].text == "Body text"


def test_malformed_and_empty_html_do_not_crash():
    page = extract("<html><body><p>unclosed <b>bold <h2 id=x>Head</h2> tail")
    assert [(s.heading, s.text) for s in page.sections] == [("", "unclosed bold"), ("Head", "tail")]
    assert extract("").sections == ()


def test_a_long_list_of_fragments_is_not_an_article():
    table = "".join(f"<p>Button label {i}</p>" for i in range(40))
    assert extract(f"<html><body><h1>UI strings</h1>{table}</body></html>").is_fragment_list
    steps = "".join(f"<li>Step {i}</li>" for i in range(10))
    prose = "<p>Open the chart wizard and pick one of these types to start.</p>"
    assert not extract(
        f"<html><body><h1>T</h1>{prose}<ol>{steps}</ol></body></html>"
    ).is_fragment_list
