"""The JSON API and the pages, through Flask's test client over the demo knowledge base."""

import pytest
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.exceptions import NotFound as WerkzeugNotFound

from web import create_app


def test_search_returns_one_hit_per_document_best_first(client):
    r = client.get("/search?q=reset+password&k=5")
    assert r.status_code == 200
    hits = r.json["hits"]
    assert hits[0]["doc_id"] == "reset-password"
    assert len({h["doc_id"] for h in hits}) == len(hits) <= 5
    assert set(hits[0]) >= {"doc_id", "title", "url", "section", "snippet", "score"}
    assert r.json["index_version"].startswith("v")


def test_answer_has_verified_citations_with_anchors(client):
    r = client.post("/answer", json={"question": "How do I reset my password?"})
    assert r.status_code == 200
    body = r.json
    assert body["refused"] is False and body["mode"] == "extractive"
    assert 0 < body["confidence"] <= 1
    assert any("#" in c["url"] for c in body["citations"])
    for c in body["citations"]:
        assert f"[{c['number']}]" in body["answer"]
        assert c["url"].startswith("http")


def test_out_of_scope_question_is_refused_with_related_articles(client):
    r = client.post("/answer", json={"question": "What is the boiling point of mercury?"})
    assert r.status_code == 200
    assert r.json["refused"] is True and r.json["citations"] == []
    assert r.json["related"]


def test_healthz_and_request_ids(client):
    r = client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert r.json["ok"] is True and r.json["documents"] >= 30
    assert r.headers["X-Request-Id"] == "abc-123"
    r = client.get("/healthz", headers={"X-Request-Id": "bad id <script>"})
    assert r.headers["X-Request-Id"] != "bad id <script>"


def test_search_page_renders_answer_results_and_escapes_input(client):
    r = client.get("/?q=reset+password")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "Reset your password" in html and 'id="cite-1"' in html
    r = client.get("/?q=%3Cscript%3Ealert(1)%3C/script%3E")
    assert "<script>alert(1)" not in r.get_data(as_text=True)


def test_search_page_without_query_and_with_bad_query(client):
    assert client.get("/").status_code == 200
    r = client.get("/?q=" + "x" * 2000)
    assert r.status_code == 200 and "too long" in r.get_data(as_text=True)


def test_article_page_has_section_anchors(client):
    html = client.get("/articles/reset-password").get_data(as_text=True)
    assert 'id="reset-from-the-app"' in html
    assert client.get("/articles/nope").status_code == 404


BAD_REQUESTS = [
    ("GET", "/search", None, 400),
    ("GET", "/search?q=", None, 400),
    ("GET", "/search?q=%20%20", None, 400),
    ("GET", "/search?q=" + "a" * 100_000, None, 400),
    ("GET", "/search?q=x&k=0", None, 400),
    ("GET", "/search?q=x&k=many", None, 400),
    ("GET", "/search?q=x&k=9999", None, 400),
    ("GET", "/search?q=x&kind=ticket", None, 400),
    ("GET", "/search?q=x&meta.bad%20field=1", None, 400),
    ("GET", "/search?q=x&meta.queue=" + "v" * 201, None, 400),
    ("GET", "/search?q=x&" + "&".join(f"meta.f{i}=1" for i in range(6)), None, 400),
    ("POST", "/search", None, 405),
    ("POST", "/answer", b"not json", 400),
    ("POST", "/answer", b"[1, 2]", 400),
    ("POST", "/answer", b'{"q": "x"}', 400),
    ("POST", "/answer", b'{"question": 42}', 400),
    ("POST", "/answer", b'{"question": ""}', 400),
    ("POST", "/answer", b'{"question": "' + b"a" * 70_000 + b'"}', 413),
    ("GET", "/answer", None, 405),
    ("DELETE", "/healthz", None, 405),
    ("GET", "/no/such/route", None, 404),
    ("GET", "/articles/missing-doc", None, 404),
    ("GET", "/search?q=x&page=0", None, 400),
    ("GET", "/search?q=x&k=10&page=999", None, 400),
    ("GET", "/search?q=x&context.colour=red", None, 400),
    ("POST", "/feedback", b"not json", 400),
    ("POST", "/feedback", b'{"rating": "up"}', 400),
    ("POST", "/feedback", b'{"rating": "meh", "query": "x"}', 400),
    ("POST", "/feedback", b'{"rating": "up", "query": "x", "target": "result"}', 400),
    (
        "POST",
        "/feedback",
        b'{"rating": "up", "query": "x", "comment": "' + b"c" * 3000 + b'"}',
        400,
    ),
    ("POST", "/feedback", b'{"rating": "up", "query": "x", "citations": "all"}', 400),
    ("GET", "/feedback", None, 405),
    ("POST", "/ratings", b"not json", 400),
    ("POST", "/ratings", b'{"rating": 4}', 400),
    ("POST", "/ratings", b'{"conversation_id": "c", "rating": 9}', 400),
    ("GET", "/ratings", None, 405),
    ("GET", "/documents/missing-doc", None, 404),
    ("POST", "/documents/reset-password", None, 405),
    ("POST", "/readyz", None, 405),
    ("POST", "/openapi.json", None, 405),
    ("POST", "/widget.js", None, 405),
    ("POST", "/theme.css", None, 405),
    ("GET", "/helpful", None, 405),
    ("POST", "/helpful", b"rating=meh&query=x", 400),
    ("GET", "/satisfaction", None, 405),
    ("POST", "/satisfaction", b"conversation_id=c&rating=0", 400),
]
BAD_REQUESTS += [
    ("POST", "/route", b'{"txt": "x"}', 400),
    ("POST", "/route", b'{"text": 5}', 400),
    ("GET", "/route", None, 405),
    ("GET", "/admin/faq", None, 401),
    ("POST", "/admin/faq/mine", None, 401),
    ("POST", "/admin/faq/1/accept", None, 401),
    ("POST", "/admin/faq/1/reject", None, 401),
    ("GET", "/admin/gaps", None, 401),
    ("GET", "/admin/feedback", None, 401),
    ("GET", "/admin/trends", None, 401),
    ("POST", "/admin/ingest", None, 401),
    ("GET", "/admin/kpis", None, 401),
    ("GET", "/admin/jobs", None, 401),
    ("GET", "/admin/jobs/1", None, 401),
    ("POST", "/admin/index/rollback", None, 401),
    ("POST", "/admin/index/promote", None, 401),
    ("GET", "/admin/index/gates", None, 401),
    ("GET", "/admin/regressions", None, 401),
    ("POST", "/admin/regressions", None, 401),
    ("PATCH", "/admin/regressions/1", None, 401),
    ("GET", "/admin/nudges", None, 401),
    ("POST", "/admin/nudges/undo", None, 401),
    ("GET", "/admin/keys", None, 401),
    ("POST", "/admin/keys", None, 401),
    ("DELETE", "/admin/keys/support-bot", None, 401),
    ("POST", "/editor", None, 405),
    ("POST", "/metrics", None, 405),
]
# Every API route answers the same under /v1, the version clients pin.
BAD_REQUESTS += [
    (m, "/v1" + path, body, status)
    for m, path, body, status in BAD_REQUESTS
    if path.split("/")[1].split("?")[0] in {"search", "answer", "feedback", "ratings",
                                            "documents", "healthz", "readyz", "route"}
]  # fmt: skip


@pytest.mark.parametrize("method, path, body, status", BAD_REQUESTS, ids=lambda x: str(x)[:40])
def test_every_error_has_the_one_json_shape(client, method, path, body, status):
    r = client.open(path, method=method, data=body, headers={"Accept": "application/json"})
    assert r.status_code == status
    assert r.is_json
    assert set(r.json) == {"ok", "error", "status", "request_id"}
    assert r.json["ok"] is False and r.json["status"] == status
    assert isinstance(r.json["error"], str) and "Traceback" not in r.json["error"]


def test_every_route_is_covered_by_the_error_shape_test(client):
    app = client.application
    adapter = app.url_map.bind("localhost")
    routes = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint != "static"}
    tested = {endpoint(adapter, path, method) for method, path, _, _ in BAD_REQUESTS}
    assert routes - tested <= {"pages.home"}  # the search page shows errors in the page


def endpoint(adapter, path: str, tried: str) -> str | None:
    """The endpoint ``path`` routes to (by ``tried``, else any method); None if none matches."""
    for method in (tried, "GET", "POST", "DELETE"):
        try:
            return adapter.match(path.split("?")[0], method=method)[0]
        except MethodNotAllowed:
            continue
        except WerkzeugNotFound:
            return None
    return None


def test_without_an_index_search_is_503_not_a_crash(tmp_path, embedder):
    client = create_app({"home": tmp_path}).test_client()
    r = client.get("/search?q=hello")
    assert r.status_code == 503 and "kb ingest" in r.json["error"]


def test_unexpected_errors_are_500_without_details(demo_home, embedder, monkeypatch):
    app = create_app({"home": demo_home})

    def explode(*a, **k):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(app.extensions["kb"].retrieval, "rank_page", explode)
    r = app.test_client().get("/search?q=x")
    assert r.status_code == 500 and "secret" not in r.json["error"]
    assert r.json["request_id"] in r.json["error"]


def test_search_filters_by_language_and_kind(client):
    assert (
        client.get("/search?q=reset+password&lang=en").json["hits"][0]["doc_id"] == "reset-password"
    )
    assert client.get("/search?q=reset+password&lang=de").json["hits"] == []
    assert client.get("/search?q=reset+password&kind=article").json["hits"]


def test_reads_on_an_empty_home_create_nothing(tmp_path, embedder):
    client = create_app({"home": tmp_path / "empty"}).test_client()
    assert client.get("/healthz").json["documents"] == 0
    assert client.get("/articles/x").status_code == 404
    assert not (tmp_path / "empty").exists()
