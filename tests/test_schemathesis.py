"""Schemathesis against /openapi.json: generated requests for every operation; no 5xx, and
every response's status code, content type and body (SSE events too) as the document says.

The app is the real one over the demo knowledge base, with an admin key so the admin routes
are exercised past their 401 too. Generated inputs are bounded per operation.
"""

import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from kb.config import load_settings
from tests.conftest import DEMO

KEY = "fuzz-key"


@pytest.fixture(scope="module")
def app(tmp_path_factory, demo_home, embedder):
    from web import create_app

    home = tmp_path_factory.mktemp("schemathesis") / "home"
    shutil.copytree(demo_home, home)
    settings = load_settings({"home": home, "admin_key": KEY, "rate_limit": 0,
                              "rate_limit_answer": 0, "query_log": True})  # fmt: skip
    app = create_app(settings, embedder)
    kb = app.extensions["kb"]
    kb.triage.train([DEMO.parent / "tickets.csv"])  # so /route has a router to answer with
    return app


def operations(app):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    for result in schema.get_all_operations():
        yield result.ok()


def test_responses_to_any_request_the_schema_allows_conform_to_it(app):
    tried = 0
    for operation in operations(app):
        if operation.path.startswith("/admin/ingest"):
            continue  # starting ingests of generated paths: tests/test_jobs.py covers it
        strategy = operation.as_strategy()

        @given(case=strategy)
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)  # fmt: skip
        def check(case):
            if case.path.startswith("/admin/"):  # elsewhere it is no backend key: a 401
                case.headers = {**(case.headers or {}), "Authorization": f"Bearer {KEY}"}
            case.call_and_validate(checks=[not_a_server_error, status_code_conformance,
                                           content_type_conformance,
                                           response_schema_conformance])  # fmt: skip

        check()
        tried += 1
    assert tried >= 20  # every operation in the document, both API versions
