"""The public API's contract: OpenAPI, versions, pagination, feedback, ratings, documents, CORS."""

import re

import pytest

from tests.stores import feedback_rows, rating_rows
from web import create_app
from web.openapi import contract_of


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", rule)


def test_openapi_describes_every_route_and_nothing_else(client):
    document = client.get("/openapi.json").json
    with client.application.app_context():
        assert (
            document["openapi"].startswith("3.")
            and document == contract_of(client.application).document()
        )
    served = {}
    for rule in client.application.url_map.iter_rules():
        if rule.endpoint != "static":
            methods = {m.lower() for m in rule.methods} - {"head", "options"}
            served.setdefault(openapi_path(rule.rule), set()).update(methods)
    described = {path: set(ops) for path, ops in document["paths"].items()}
    assert served == described


def test_every_operation_documents_the_media_of_its_bad_input_error(client):
    """A NUL in any query string is refused before the route runs: pages answer that 400 as
    HTML, the API as JSON, and the document says so for each operation."""
    document = client.get("/openapi.json").json
    tried = 0
    for path, operations in document["paths"].items():
        if "{" in path or "get" not in operations:
            continue
        response = client.get(f"{path}?q=%00", headers={"Accept": "text/html"})
        assert response.status_code == 400, path
        assert response.mimetype in operations["get"]["responses"]["400"]["content"], path
        tried += 1
    assert tried >= 15


def test_the_published_limits_are_the_settings_and_requests_are_held_to_them(demo_home, embedder):
    settings = {"home": demo_home, "max_k": 7, "max_query_chars": 300,
                "context_fields": "product,region", "key_rate_limit": 42}  # fmt: skip
    client = create_app(settings, embedder).test_client()
    document = client.get("/openapi.json").json
    params = {p["name"]: p for p in document["paths"]["/v1/search"]["get"]["parameters"]}
    assert params["k"]["schema"]["maximum"] == 7 and params["q"]["schema"]["maxLength"] == 300
    assert {"context.product", "context.region", "context.locale"} <= set(params)
    schemas = document["components"]["schemas"]
    assert schemas["AnswerRequest"]["properties"]["question"]["maxLength"] == 300
    assert set(schemas["Context"]["properties"]) == {"product", "region", "locale"}
    assert schemas["KeyRequest"]["properties"]["searches_per_minute"]["default"] == 42

    refused = client.get("/v1/search?q=bulb&k=8")
    assert refused.status_code == 400 and refused.json["error"] == "k must be at most 7"
    assert client.get("/v1/search?q=bulb&k=7").status_code == 200
    long = client.post("/v1/answer", json={"question": "q" * 301})
    assert long.status_code == 400 and "at most 300 characters" in long.json["error"]
    region = client.post("/v1/answer", json={"question": "bulb", "context": {"region": "eu"}})
    assert region.status_code == 200
    colour = client.post("/v1/answer", json={"question": "bulb", "context": {"colour": "red"}})
    assert (
        colour.status_code == 400 and colour.json["error"] == "context.colour is not a known field"
    )


@pytest.mark.parametrize(
    "body, message",
    [
        ({}, "missing field 'question'"),
        ({"question": 42}, "question must be a string"),
        ({"question": "bulb", "history": "no"}, "history must be a list"),
        ({"question": "bulb", "history": [{"answer": "x"}]}, "missing field 'history[0].question'"),
        ({"question": "bulb", "history": [{"question": "x"}] * 21}, "history has too many items"),
    ],
)
def test_a_request_the_contract_refuses_is_a_400_naming_the_field(client, body, message):
    response = client.post("/v1/answer", json=body)
    assert response.status_code == 400 and message in response.json["error"]


def test_a_json_body_is_read_whatever_its_content_type(client):
    sent = client.post("/v1/answer", data='{"question": "bulb"}', content_type="text/plain")
    assert sent.status_code == 200 and sent.json["question"] == "bulb"
    assert client.post("/v1/answer", data="not json").json["error"] == (
        "request body must be a JSON object"
    )


def test_every_response_and_error_names_the_api_version(client):
    assert client.get("/v1/search?q=password").headers["KB-API-Version"] == "1"
    assert client.get("/v1/search").headers["KB-API-Version"] == "1"
    assert client.get("/search?q=password").headers["KB-API-Version"] == "1"


def test_the_bare_paths_are_the_latest_version(client):
    v1 = client.get("/v1/search?q=reset+password&k=3").json
    bare = client.get("/search?q=reset+password&k=3").json
    assert v1 == bare and v1["hits"][0]["doc_id"] == "reset-password"


def test_search_pages_do_not_overlap_and_say_whether_more_follow(client):
    first = client.get("/v1/search?q=bulb&k=3").json
    second = client.get("/v1/search?q=bulb&k=3&page=2").json
    assert first["page"] == 1 and first["next_page"] == 2 and len(first["hits"]) == 3
    ids = [h["doc_id"] for h in first["hits"] + second["hits"]]
    assert len(ids) == len(set(ids)) == 6
    assert ids == [h["doc_id"] for h in client.get("/v1/search?q=bulb&k=6").json["hits"]]
    last = client.get("/v1/search?q=bulb&k=50").json
    assert last["next_page"] is None
    assert all(h["updated_at"] for h in first["hits"])


def test_a_hit_is_dated_as_its_snapshot_was_built_and_as_the_store_has_it(client, demo_kb):
    hits = client.get("/v1/search?q=bulb&k=5").json["hits"]
    ids = [h["doc_id"] for h in hits]
    searcher = demo_kb.retrieval.searcher()
    from_snapshot = searcher.updated_times(ids)
    assert from_snapshot is not None and set(from_snapshot) == set(ids)
    assert {h["doc_id"]: h["updated_at"] for h in hits} == from_snapshot
    assert demo_kb.documents.updated_times(ids) == from_snapshot  # the store agrees


@pytest.fixture
def fresh(tmp_path, demo_home):
    """A writable copy of the demo home, so feedback tests do not share rows."""
    import shutil

    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    return home


def test_feedback_is_stored_with_its_answer_and_redacted(fresh):
    client = create_app({"home": fresh}).test_client()
    answer = client.post("/v1/answer", json={"question": "How do I reset my password?"}).json
    r = client.post(
        "/v1/feedback",
        json={
            "rating": "down",
            "query": answer["question"],
            "answer": answer["answer"],
            "citations": answer["citations"],
            "index_version": answer["index_version"],
            "comment": "Didn't work, mail me at jane.doe@example.com",
        },
    )
    assert r.status_code == 201 and r.json["ok"] and r.json["id"] >= 1
    (row,) = feedback_rows(fresh)
    assert row["rating"] == -1 and row["target"] == "answer"
    assert row["query"] == "How do I reset my password?" and row["answer"] == answer["answer"]
    assert "jane.doe@example.com" not in row["comment"] and "Didn't work" in row["comment"]
    assert "reset-password" in row["citations"] and row["index_version"] == "v000001"
    r = client.post("/v1/feedback", json={"rating": "up", "query": "bulb", "target": "result",
                                          "doc_id": "pair-a-bulb"})  # fmt: skip
    assert r.status_code == 201 and feedback_rows(fresh)[-1]["doc_id"] == "pair-a-bulb"


def test_feedback_from_the_page_without_javascript(fresh):
    client = create_app({"home": fresh}).test_client()
    r = client.post("/helpful", data={"rating": "up", "query": "reset password",
                                      "target": "answer", "cited": ["reset-password"]})  # fmt: skip
    assert r.status_code == 303 and "thanks=1" in r.headers["Location"]
    assert feedback_rows(fresh)[-1]["rating"] == 1
    assert "Thanks for your feedback" in client.get(r.headers["Location"]).get_data(as_text=True)


def test_the_page_asks_for_a_rating_of_each_answered_question_without_javascript(fresh):
    client = create_app({"home": fresh, "query_log": True}).test_client()
    html = client.get("/?q=reset+password").get_data(as_text=True)
    conversations = re.findall(r'name="conversation_id" value="([0-9a-f]{32})"', html)
    assert len(conversations) == 1 and "How satisfied are you?" in html
    assert [int(n) for n in re.findall(r'name="rating" value="(\d)"', html)] == [1, 2, 3, 4, 5]
    assert 'aria-label="4 – satisfied"' in html  # each button says what its number means
    again = client.get("/?q=reset+password").get_data(as_text=True)
    assert conversations[0] not in again  # each question asked is a conversation of its own
    r = client.post("/satisfaction", data={"conversation_id": conversations[0], "rating": "4"})
    assert r.status_code == 303 and "rated=1" in r.headers["Location"]
    (row,) = rating_rows(fresh)
    assert (row["rating"], row["channel"], row["question"]) == (4, "page", "reset password")
    thanks = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Thanks for your rating." in thanks and 'class="csat"' not in thanks
    bad = client.post("/satisfaction", data={"conversation_id": "x", "rating": "6"})
    assert bad.status_code == 400 and bad.mimetype == "text/html"
    assert len(rating_rows(fresh)) == 1
    assert client.post("/satisfaction", data={"rating": "3"}).status_code == 400


def test_the_page_and_the_widget_ask_for_ratings_only_when_set_to(demo_home):
    default = create_app({"home": demo_home}).test_client()
    assert "var csat = false;" in default.get("/widget.js").get_data(as_text=True)
    assert 'class="csat"' in default.get("/?q=reset+password").get_data(as_text=True)
    changed = create_app({"home": demo_home, "csat_page": False, "csat_widget": True})
    client = changed.test_client()
    assert "var csat = true;" in client.get("/widget.js").get_data(as_text=True)
    page = client.get("/?q=reset+password").get_data(as_text=True)
    assert 'class="csat"' not in page and "data-csat" not in page


def test_a_rating_is_stored_with_its_conversations_first_question(fresh):
    client = create_app({"home": fresh, "query_log": True}).test_client()
    asked = {"question": "How do I reset my password?", "conversation_id": "chat-7"}
    client.post("/v1/answer", json=asked)
    client.post("/v1/answer", json={**asked, "question": "and on the web?"})
    rated = {"conversation_id": "chat-7", "rating": 2, "comment": "Slow. Call +44 20 7946 0958"}
    r = client.post("/v1/ratings", json=rated)
    assert r.status_code == 201 and r.json["ok"] and not r.json["replaced"]
    assert (r.json["rating"], r.json["channel"], r.json["conversation_id"]) == (2, "api", "chat-7")
    (row,) = rating_rows(fresh)
    assert row["id"] == r.json["id"] and row["comment"] == r.json["comment"]
    assert "7946" not in row["comment"] and row["comment"].startswith("Slow.")  # redacted
    assert (row["question"], row["top_doc"]) == ("How do I reset my password?", "reset-password")
    assert row["client"] == "" and row["created_at"] == r.json["created_at"]
    # Rated again: the second rating replaces the first, under the same id.
    again = client.post("/ratings", json={"conversation_id": "chat-7", "rating": 4,
                                          "channel": "widget"})  # fmt: skip
    assert again.status_code == 201 and again.json["replaced"] and again.json["id"] == row["id"]
    (row,) = rating_rows(fresh)
    assert (row["rating"], row["channel"], row["comment"]) == (4, "widget", None)


def test_a_backends_conversations_are_its_own(fresh):
    from kb.keys import create_key
    from kb.usecases.stores import Stores

    key, _ = create_key(Stores(fresh / "kb.sqlite3").journal(), "support-bot", 10, 10)
    client = create_app({"home": fresh}).test_client()
    backend = {"Authorization": f"Bearer {key}"}
    client.post("/v1/ratings", json={"conversation_id": "1", "rating": 5})  # a visitor's "1"
    r = client.post("/v1/ratings", json={"conversation_id": "1", "rating": 1}, headers=backend)
    assert r.status_code == 201 and not r.json["replaced"]  # not the visitor's rating
    assert r.headers["X-RateLimit-Limit"] == "10"  # the key's limits, not the address's
    assert [(row["client"], row["rating"]) for row in rating_rows(fresh)] == [
        ("", 5), (key.split("_")[1], 1),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "body, message",
    [
        ({"rating": 4}, "missing field 'conversation_id'"),
        ({"conversation_id": "", "rating": 4}, "conversation_id is empty"),
        ({"conversation_id": "c" * 101, "rating": 4}, "conversation_id is too long"),
        ({"conversation_id": "c"}, "missing field 'rating'"),
        ({"conversation_id": "c", "rating": 0}, "rating must be at least 1"),
        ({"conversation_id": "c", "rating": 6}, "rating must be at most 5"),
        ({"conversation_id": "c", "rating": "4"}, "rating must be a whole number"),
        ({"conversation_id": "c", "rating": 4.5}, "rating must be a whole number"),
        ({"conversation_id": "c", "rating": True}, "rating must be a whole number"),
        ({"conversation_id": "c", "rating": 4, "channel": "sms"}, "channel must be"),
        ({"conversation_id": "c", "rating": 4, "comment": "c" * 2001}, "comment is too long"),
        ({"conversation_id": 7, "rating": 4}, "conversation_id must be a string"),
    ],
)
def test_a_rating_the_contract_refuses_is_a_400_naming_the_field(fresh, body, message):
    client = create_app({"home": fresh}).test_client()
    response = client.post("/v1/ratings", json=body)
    assert response.status_code == 400 and message in response.json["error"]
    assert rating_rows(fresh) == []


def test_ratings_count_against_the_same_limit_as_feedback(fresh):
    client = create_app({"home": fresh, "rate_limit": 2}).test_client()
    assert client.post("/v1/feedback", json={"rating": "up", "query": "bulb"}).status_code == 201
    assert client.post("/v1/ratings", json={"conversation_id": "a", "rating": 5}).status_code == 201
    limited = client.post("/v1/ratings", json={"conversation_id": "b", "rating": 5})
    assert limited.status_code == 429 and limited.json["status"] == 429
    assert limited.headers["Retry-After"] and len(rating_rows(fresh)) == 1


def test_openapi_describes_the_ratings_route(client):
    document = client.get("/openapi.json").json
    for path in ("/v1/ratings", "/ratings"):
        operation = document["paths"][path]["post"]
        assert {"201", "400", "413", "429"} <= set(operation["responses"])
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert body["$ref"].endswith("/RatingRequest")
    request = document["components"]["schemas"]["RatingRequest"]
    assert set(request["required"]) == {"conversation_id", "rating"}
    assert (
        request["properties"]["rating"]["minimum"],
        request["properties"]["rating"]["maximum"],
    ) == (1, 5)
    assert request["properties"]["channel"]["enum"] == ["page", "widget", "api"]
    assert "replaced" in document["components"]["schemas"]["Rating"]["properties"]
    assert "Alias of /v1/ratings" in document["paths"]["/ratings"]["post"]["description"]


def test_documents_are_served_with_their_sections(client):
    doc = client.get("/v1/documents/reset-password").json
    assert doc["id"] == "reset-password" and doc["version"] == 1 and doc["updated_at"]
    assert "reset-from-the-app" in [s["anchor"] for s in doc["sections"]]


def test_readyz_says_whether_an_index_is_loaded(client, tmp_path):
    assert client.get("/readyz").json["index_version"] == "v000001"
    empty = create_app({"home": tmp_path}).test_client().get("/v1/readyz")
    assert empty.status_code == 503 and empty.json["ok"] is False


def test_cors_lets_only_the_configured_origins_call_the_api(demo_home):
    client = create_app({"home": demo_home, "cors_origins": "https://shop.example"}).test_client()
    allowed = client.get("/v1/search?q=bulb", headers={"Origin": "https://shop.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    other = client.get("/v1/search?q=bulb", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = client.options("/v1/answer", headers={
        "Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})  # fmt: skip
    assert preflight.status_code == 200
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in preflight.headers["Access-Control-Allow-Headers"]
    closed = create_app({"home": demo_home}).test_client()
    r = closed.get("/v1/search?q=bulb", headers={"Origin": "https://shop.example"})
    assert "Access-Control-Allow-Origin" not in r.headers


def test_branding_and_widget_come_from_settings(demo_home):
    brand = {
        "product_name": "Acme <Help>",
        "brand_color": "#aa3300",
        "logo_url": "/static/logo.svg",
    }
    client = create_app({"home": demo_home, **brand}).test_client()
    page = client.get("/").get_data(as_text=True)
    assert "Acme &lt;Help&gt;" in page and 'src="/static/logo.svg"' in page
    assert "<script>" not in page and "style=" not in page  # nothing inline: CSP-ready
    assert "--accent: #aa3300" in client.get("/theme.css").get_data(as_text=True)
    widget = client.get("/widget.js")
    assert widget.mimetype == "text/javascript"
    assert '"Acme \\u003cHelp\\u003e"' in widget.get_data(as_text=True)


def test_the_results_page_shows_snippets_dates_kinds_and_feedback(client):
    html = client.get("/?q=reset+password").get_data(as_text=True)
    assert "<mark>password</mark>" in html or "<mark>Password</mark>" in html
    assert '<span class="kind">article</span>' in html and "<time datetime=" in html
    assert html.count('class="helpful"') >= 2 and "Was this helpful?" in html


def test_a_refusal_page_says_so_and_offers_articles_and_a_contact(demo_home):
    client = create_app({"home": demo_home, "escalation_contact": "help@lumio.example"})
    html = client.test_client().get("/?q=how+do+I+bake+sourdough+bread").get_data(as_text=True)
    assert "We couldn&#39;t find an answer" in html or "We couldn't find an answer" in html
    assert 'class="related"' in html and "mailto:help@lumio.example" in html
