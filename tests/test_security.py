"""Security headers on every response, and per-client rate limits."""

from web import create_app


def test_every_response_has_the_security_headers(client):
    for path in ("/", "/?q=reset+password", "/v1/search?q=bulb", "/no/such/page", "/editor"):
        h = client.get(path).headers
        csp = h["Content-Security-Policy"]
        assert "unsafe-inline" not in csp and "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp and h["X-Frame-Options"] == "DENY"
        assert h["X-Content-Type-Options"] == "nosniff"
        assert h["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_framing_can_be_allowed_for_named_sites(demo_home):
    client = create_app({"home": demo_home, "frame_ancestors": "https://shop.example"})
    h = client.test_client().get("/").headers
    assert "frame-ancestors https://shop.example" in h["Content-Security-Policy"]
    assert "X-Frame-Options" not in h


def test_answers_are_rate_limited_per_client_with_retry_after(demo_home):
    client = create_app({"home": demo_home, "rate_limit_answer": 6}).test_client()
    statuses = [client.post("/v1/answer", json={"question": "How do I reset my password?"},
                            environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code
                for _ in range(8)]  # fmt: skip
    assert statuses[:5] == [200] * 5 and statuses[-1] == 429
    limited = client.post("/v1/answer", json={"question": "x"},
                          environ_base={"REMOTE_ADDR": "10.0.0.1"})  # fmt: skip
    assert limited.json["status"] == 429 and int(limited.headers["Retry-After"]) >= 1
    other = client.post("/v1/answer", json={"question": "How do I reset my password?"},
                        environ_base={"REMOTE_ADDR": "10.0.0.2"})  # fmt: skip
    assert other.status_code == 200
    assert client.get("/healthz", environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code == 200


def test_json_logs_carry_the_request_id_and_never_the_query(demo_home, capsys):
    import json
    import logging

    client = create_app({"home": demo_home, "log_format": "json"}).test_client()
    try:
        r = client.get(
            "/v1/search?q=my+email+is+jane@example.com", headers={"X-Request-Id": "abc-123"}
        )
        lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    finally:
        logger = logging.getLogger("kb")
        logger.handlers, logger.propagate = [], True  # back to plain logging for other tests
    access = [x for x in lines if x.get("path") == "/v1/search"]
    assert access and access[-1]["request_id"] == "abc-123" == r.headers["X-Request-Id"]
    assert access[-1]["status"] == 200 and access[-1]["level"] == "info"
    assert "jane@example.com" not in json.dumps(lines)
