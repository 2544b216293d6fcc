"""Faults users reported in the API, as kinds: text that is not Unicode, and HTML from the API.

The handed case (``tests/fixtures/cases/lone-surrogate-500``): a lone UTF-16 surrogate in any
JSON field made the API answer 500. The acceptance test below sends lone surrogates, NULs,
right-to-left marks and 10,000-character words through every string field of every operation
the OpenAPI document declares, and checks that document against the app's url_map, so a new
route is covered as soon as it exists.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from kb.config import load_settings
from kb.errors import InvalidInput
from kb.usecases.bootstrap import build
from tests.conftest import DEMO, FIXTURES
from tests.test_api import openapi_path
from web import create_app
from web.inputs import MAX_JSON_DEPTH, check_json, json_depth, usable
from web.openapi import contract_of

CASE = FIXTURES / "cases" / "lone-surrogate-500"
KEY = "case-admin-key"
ERROR_KEYS = {"ok", "error", "status", "request_id"}


def post_raw(client, path: str, body: str):
    """POST ``body`` exactly as written (JSON escapes such as \\ud800 left to the server)."""
    return client.post(path, data=body.encode(), content_type="application/json")


@pytest.fixture(scope="module")
def case_client(tmp_path_factory, embedder):
    """The case's own help centre, ingested, served with the default rate limits."""
    home = tmp_path_factory.mktemp("lone-surrogate") / "home"
    build(load_settings({"home": home}, environ={}), embedder=embedder).ingestion.ingest(
        [str(CASE / "hc")]
    )
    return create_app(load_settings({"home": home}, environ={})).test_client()


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/answer", r'{"question":"\ud800 refund"}', "question"),
        ("/answer", r'{"question":"\udc00"}', "question"),
        ("/answer", r'{"question":"and by phone?","history":[{"question":"refund \ud83d"}]}',
         "history[0].question"),
        ("/answer", r'{"question":"refund","context":{"product":"\ud800"}}', "context.product"),
        ("/feedback", r'{"rating":"up","query":"refund \ud800","target":"answer"}', "query"),
        ("/feedback", r'{"rating":"down","query":"refund","comment":"bad \udfff"}', "comment"),
        ("/ratings", r'{"conversation_id":"c\ud800","rating":4}', "conversation_id"),
        ("/ratings", r'{"conversation_id":"c","rating":2,"comment":"\udfff"}', "comment"),
    ],
)  # fmt: skip
def test_the_handed_case_is_a_400_naming_the_field(case_client, path, body, field):
    r = post_raw(case_client, path, body)
    assert r.status_code == 400 and set(r.json) == ERROR_KEYS
    assert r.json["error"].startswith(f"{field} must be valid Unicode text")


def test_a_valid_surrogate_pair_is_still_answered(case_client):
    r = post_raw(case_client, "/answer", r'{"question":"refund \ud83d\ude00"}')
    assert r.status_code == 200 and r.json["question"] == "refund \U0001f600"
    assert r.json["citations"][0]["doc_id"] == "refunds"


def test_query_strings_and_forms_that_are_not_utf8_are_refused(case_client):
    r = case_client.get("/v1/search?q=%ED%A0%80")
    assert r.status_code == 400 and r.json["error"].startswith("q must be valid Unicode text")
    assert case_client.get("/v1/search?q=refund%00").status_code == 400
    page = case_client.get("/?q=%ED%A0%80")
    assert page.status_code == 400 and page.mimetype == "text/html"
    form = case_client.post("/helpful", data=b"rating=up&query=%ED%A0%80",
                            content_type="application/x-www-form-urlencoded")  # fmt: skip
    assert form.status_code == 400 and "query must be valid Unicode text" in form.text
    assert case_client.get("/v1/search?q=caf%C3%A9").status_code == 200


@pytest.mark.parametrize("path", ["/v1/nope", "/v2/search", "/admin/nope", "/v1", "/v1/a/b"])
def test_unknown_api_paths_answer_in_the_error_shape(case_client, path):
    r = case_client.get(path, headers={"Accept": "text/html"})
    assert r.status_code == 404 and r.mimetype == "application/json"
    assert set(r.json) == ERROR_KEYS and r.json["status"] == 404


def api_first_segments(app) -> set[str]:
    """The first path segment of every rule of the JSON API (both mounts), openapi and admin."""
    surfaces = ("api", "v1", "openapi", "admin")
    return {rule.rule.split("/")[1].split("<")[0] for rule in app.url_map.iter_rules()
            if rule.endpoint.split(".")[0] in surfaces}  # fmt: skip


def test_every_path_under_an_api_route_answers_in_the_error_shape(fuzz_app):
    """/answer/, /search/x, /admin (with or without the admin key): JSON, whatever Accept says."""
    segments = api_first_segments(fuzz_app)
    assert {"v1", "search", "answer", "route", "feedback", "documents", "healthz", "admin"} <= (
        segments
    )
    client, checked = fuzz_app.test_client(), 0
    for segment in sorted(segments):
        for suffix in ("", "/", "/x", "/x/", "/x/y", "//"):
            for auth in ({}, {"Authorization": f"Bearer {KEY}"}):
                path = f"/{segment}{suffix}"
                r = client.get(path, headers={"Accept": "text/html", **auth})
                if r.status_code < 400:
                    continue  # a real route (/healthz, /openapi.json, /admin/keys …)
                checked += 1
                assert r.mimetype == JSON_TYPE, (path, auth, r.status_code)
                assert set(r.json) == ERROR_KEYS and r.json["status"] == r.status_code, path
    assert checked > 4 * len(segments)


def test_pages_keep_html_errors_under_their_own_paths(fuzz_app):
    client = fuzz_app.test_client()
    for path in ("/articles/no-such-page", "/articles/x/y", "/nope", "/nope/", "/helpful/x",
                 "/editor/x"):  # fmt: skip
        r = client.get(path, headers={"Accept": "text/html"})
        assert r.status_code == 404 and r.mimetype == "text/html", path


# --- JSON nested too deeply -----------------------------------------------------------------


def nested(depth: int, opener: str = "[") -> str:
    """A JSON document ``depth`` levels deep: ``[[[…]]]`` or ``{"a":{"a":…}}``."""
    if opener == "[":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


DEEP_REQUESTS = [
    ("GET", "/search?q=refund"), ("GET", "/v1/search?q=refund"), ("POST", "/answer"),
    ("POST", "/v1/answer"), ("POST", "/v1/route"), ("POST", "/feedback"), ("POST", "/helpful"),
    ("POST", "/v1/ratings"), ("POST", "/satisfaction"),
    ("GET", "/?q=refund"), ("POST", "/admin/keys"), ("POST", "/admin/ingest"),
    ("GET", "/healthz"),
]  # fmt: skip


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100, 990, 5000, 10_000])  # 60 KB at most
@pytest.mark.parametrize("opener", ["[", "{"])
def test_a_json_body_nested_too_deeply_is_a_400_on_every_route(fuzz_app, depth, opener):
    client, body = fuzz_app.test_client(), nested(depth, opener)
    auth = {"Authorization": f"Bearer {KEY}"}
    for method, path in DEEP_REQUESTS:
        for content_type in (JSON_TYPE, "text/plain"):  # routes parse bodies whatever the type
            r = client.open(path, method=method, data=body, content_type=content_type,
                            headers={"Accept": JSON_TYPE, **auth})  # fmt: skip
            assert r.status_code == 400, (method, path, content_type, r.status_code, r.text[:200])
            assert set(r.json) == ERROR_KEYS
            assert r.json["error"].startswith("the JSON body is nested too deeply"), r.json


def test_json_as_deep_as_the_limit_is_still_read(fuzz_app):
    client = fuzz_app.test_client()
    r = client.open("/v1/search?q=refund", method="GET", data=nested(MAX_JSON_DEPTH),
                    content_type=JSON_TYPE)  # fmt: skip
    assert r.status_code == 200, r.text[:200]
    deep_context = json.loads(nested(MAX_JSON_DEPTH - 1, "{"))
    r = client.post("/v1/answer", json={"question": "refund", "extra": deep_context})
    assert r.status_code == 200, r.text[:200]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab,:\u00e9', max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\a',
                                                                         max_size=4),
                                                                 inner, max_size=3),
    max_leaves=30,
)  # fmt: skip


def depth_of(value: Any) -> int:
    """The reference: depth measured on the parsed value (recursive, for small values)."""
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    return 0


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(value=json_values, indent=st.sampled_from([None, 1]), ascii_only=st.booleans())
def test_the_depth_counted_without_parsing_is_the_parsed_depth(value, indent, ascii_only):
    assert json_depth(json.dumps(value, indent=indent, ensure_ascii=ascii_only)) == depth_of(value)


def test_checking_parsed_json_needs_no_recursion():
    value: Any = "bad \ud800"
    for _ in range(50_000):  # deeper than Python's recursion limit
        value = [value]
    with pytest.raises(InvalidInput, match=r"^request body\[0\]\[0\].*must be valid Unicode"):
        check_json(value)
    check_json(json.loads(nested(MAX_JSON_DEPTH, "{")))


def test_a_wrong_method_on_the_api_answers_in_the_error_shape(case_client):
    for method, path in (("DELETE", "/v1/answer"), ("PUT", "/v1/documents/refunds"),
                         ("GET", "/feedback"), ("DELETE", "/admin/faq")):  # fmt: skip
        r = case_client.open(path, method=method)
        assert r.status_code == 405 and r.mimetype == "application/json", (method, path)
        assert set(r.json) == ERROR_KEYS and r.headers["Allow"]


def test_pages_still_answer_html_and_json_clients_json(case_client):
    assert case_client.get("/no/such/page").mimetype == "text/html"
    r = case_client.get("/no/such/page", headers={"Accept": "application/json"})
    assert r.status_code == 404 and set(r.json) == ERROR_KEYS


# --- every string field of every route -----------------------------------------------------


def generated_document() -> dict[str, Any]:
    """The OpenAPI document an app with the default settings publishes."""
    app = create_app(load_settings({"home": tempfile.mkdtemp()}, environ={}))
    with app.app_context():
        return contract_of(app).document()


DOCUMENT = generated_document()
SCHEMAS = DOCUMENT["components"]["schemas"]
JSON_TYPE, FORM = "application/json", "application/x-www-form-urlencoded"


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema a $ref names, or the first that is not null of an anyOf (a nullable field)."""
    ref = schema.get("$ref")
    if ref:
        return resolve(SCHEMAS[ref.rsplit("/", 1)[1]])
    if "anyOf" in schema:
        return resolve(next(s for s in schema["anyOf"] if s.get("type") != "null"))
    return schema


def is_text(schema: dict[str, Any]) -> bool:
    schema = resolve(schema)
    kind = schema.get("type")
    return kind == "string" or (isinstance(kind, list) and "string" in kind) or "enum" in schema


def sample(schema: dict[str, Any]) -> Any:
    """A valid value for ``schema``: every declared property present, so each can be fuzzed."""
    schema = resolve(schema)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        return {name: sample(s) for name, s in schema.get("properties", {}).items()}
    if kind == "array":
        item = sample(schema["items"])
        return [item] if item != {} else []  # an object nothing is known of: none at all
    return {"integer": 1, "number": 1.0, "boolean": False}.get(kind, "refund")


def string_fields(value: Any, schema: dict[str, Any], where: tuple = ()) -> Iterator[tuple]:
    """The places in ``value`` (from :func:`sample`) that hold a string, as key paths."""
    schema = resolve(schema)
    if isinstance(value, dict):
        for name, item in value.items():
            yield from string_fields(item, schema["properties"][name], (*where, name))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from string_fields(item, schema["items"], (*where, n))
    elif is_text(schema):
        yield where


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in DOCUMENT["paths"].items():
        for method, op in methods.items():
            yield path, method, op


def fields(path: str, op: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Each string field of an operation as (where, name): query, path, json, json-key, form."""
    for p in op.get("parameters", []):
        if is_text(p["schema"]):
            yield p["in"], p["name"].replace("{field}", "product")
    for kind, content in op.get("requestBody", {}).get("content", {}).items():
        body = sample(content["schema"])
        where = "json" if kind == JSON_TYPE else "form"
        for place in string_fields(body, content["schema"]):
            yield where, place
        if kind == JSON_TYPE:
            yield "json-key", ()
    yield "query", "x-unknown"  # every route is sent one, even a route with no string field


CASES = [
    pytest.param(path, method, where, name, id=f"{method.upper()} {path} {where}:{name}")
    for path, method, op in operations()
    for where, name in fields(path, op)
]


def test_the_enumeration_is_the_app_s_own_routes(fuzz_app):
    served = {
        (openapi_path(rule.rule), method.lower())
        for rule in fuzz_app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    enumerated = {(path, method) for path, method, _ in operations()}
    assert served == enumerated
    assert {(c.values[0], c.values[1]) for c in CASES} == enumerated
    assert len({c.values[:2] for c in CASES if c.values[2] == "json"}) >= 8


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory, demo_home, embedder):
    home = tmp_path_factory.mktemp("fuzz-fields") / "home"
    shutil.copytree(demo_home, home)
    app = create_app(load_settings({"home": home, "admin_key": KEY, "rate_limit": 0,
                                    "rate_limit_answer": 0, "query_log": True},
                                   environ={}), embedder)  # fmt: skip
    kb = app.extensions["kb"]
    kb.triage.train([DEMO.parent / "tickets.csv"])  # so /route answers rather than 503
    return app


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate as the bytes JS would send


def _urlencode(pairs: list[tuple[str, Any]]) -> str:
    flat = [(k, v) for k, vs in pairs for v in (vs if isinstance(vs, list) else [vs])]
    return "&".join(f"{quote(_bytes(k))}={quote(_bytes(str(v)))}" for k, v in flat)


def arrives_usable(where: str, nasty: str) -> bool:
    """Whether the server receives ``nasty`` as usable text (escaped pairs join in JSON)."""
    if where.startswith("json"):
        return usable(json.loads(json.dumps(nasty)))
    try:
        return usable(_bytes(nasty).decode("utf-8"))
    except UnicodeDecodeError:
        return False


def _put(body: Any, place: tuple, value: str) -> None:
    for key in place[:-1]:
        body = body[key]
    body[place[-1]] = value


def build_request(path: str, method: str, op: dict[str, Any], where: str, name: Any,
                  nasty: str) -> dict[str, Any]:  # fmt: skip
    """The test client's arguments: a valid request with ``nasty`` in one field."""
    url = path
    for p in op.get("parameters", []):
        if p["in"] == "path":
            value = nasty if (where, name) == ("path", p["name"]) else (
                "refund" if is_text(p["schema"]) else "1")  # fmt: skip
            url = url.replace("{" + p["name"] + "}", quote(_bytes(value), safe=""))
    query = [(p["name"], sample(p["schema"])) for p in op.get("parameters", [])
             if p["in"] == "query" and p.get("required")]  # fmt: skip
    if where == "query":
        query = [(k, v) for k, v in query if k != name] + [(name, nasty)]
    admin = {"Authorization": f"Bearer {KEY}"} if path.startswith("/admin/") else {}
    args: dict[str, Any] = {"method": method.upper(), "headers": admin}
    for kind, content in op.get("requestBody", {}).get("content", {}).items():
        body = sample(content["schema"])
        if where in ("json", "form"):
            _put(body, name, nasty)
        if where == "json-key":
            body[nasty] = "refund"
        if kind == JSON_TYPE:
            args["data"], args["content_type"] = json.dumps(body), JSON_TYPE
        else:
            args["data"], args["content_type"] = _urlencode(list(body.items())), FORM
    args["path"] = url + ("?" + _urlencode(query) if query else "")
    return args


OPS = {(path, method): op for path, method, op in operations()}
ODD = ["\ud800", "\udfff", "\ud83d", "\udc00", "\x00", "\u202e", "\u200f", "\u2066", "\ufeff",
       "\u0301", "w" * 10_000]  # fmt: skip
nasty_text = st.builds(
    lambda a, odd, b: a + odd + b,
    st.text(max_size=6),
    st.sampled_from(ODD) | st.text(st.characters(categories=["Cs", "Cc", "Cf"]), min_size=1,
                                   max_size=3),
    st.text(max_size=6),
)  # fmt: skip


@pytest.mark.parametrize(("path", "method", "where", "name"), CASES)
@settings(max_examples=4, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))  # fmt: skip
@given(nasty=nasty_text)
@example(nasty="refund \ud800")
@example(nasty="re\x00fund")
@example(nasty="\u202erefund\u200f \u05d4\u05d7\u05d6\u05e8")
@example(nasty="refund " + "w" * 10_000)
def test_no_string_in_any_field_of_any_route_makes_a_server_error(fuzz_app, path, method,
                                                                   where, name, nasty):  # fmt: skip
    if path == "/admin/ingest":
        # a usable source would start a real background ingest: tests/test_jobs.py covers that
        assume(not arrives_usable(where, nasty))
    client = fuzz_app.test_client()
    r = client.open(**build_request(path, method, OPS[path, method], where, name, nasty))
    assert r.status_code < 500, (r.status_code, r.text[:300])
    if where != "path" and not arrives_usable(where, nasty):
        assert r.status_code == 400, r.text[:300]
    if r.status_code >= 400 and r.mimetype == JSON_TYPE:
        assert set(r.json) == ERROR_KEYS


HEADERS = ["X-Request-Id", "Authorization", "Origin", "Accept", "X-Forwarded-For",
           "Content-Type", "Accept-Language"]  # fmt: skip


@pytest.mark.parametrize("header", HEADERS)
@settings(max_examples=4, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))  # fmt: skip
@given(value=st.text(st.characters(min_codepoint=1, max_codepoint=255,
                                   exclude_characters="\r\n"), max_size=300))  # fmt: skip
@example(value="Bearer " + "\u00ff" * 5000)
@example(value="\u202e\u00e9\u0007")
def test_odd_header_values_are_never_a_server_error(fuzz_app, header, value):
    """Headers arrive as Latin-1 (no surrogates; servers refuse CR and LF in them): kb survives
    whatever value each header it reads has (/answer reads them all, Accept included)."""
    client = fuzz_app.test_client()
    r = client.post("/v1/answer", json={"question": "refund"}, headers={header: value})
    assert r.status_code < 500, (r.status_code, r.text[:300])
