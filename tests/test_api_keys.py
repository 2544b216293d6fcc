"""Backend API keys: a chatbot's server has a quota of its own, keys are revocable, and page
visitors keep their per-address limits.

Rates here are a few a minute, so no bucket refills while a test runs on a slow machine: only
the bursts decide what is allowed, and a burst is never more than the limit a minute.
"""

from __future__ import annotations

import shutil
import sqlite3

import pytest
from click.testing import CliRunner
from sqlalchemy.exc import OperationalError

import kb.keys
import web.security
from kb.cli import cli
from kb.journal import Journal
from kb.keys import KeyChecker, create_key
from kb.secrets import hash_key
from tests.test_cli import run_kb
from web import create_app
from web.security import MAX_FAILED_CHECKS

ADMIN = "keys-admin-key"
QUESTION = {"question": "How do I reset my password?"}
ERROR_KEYS = {"ok", "error", "status", "request_id"}


@pytest.fixture
def home(tmp_path, demo_home):
    """A writable copy of the demo home (keys are stored in it)."""
    copy = tmp_path / "home"
    shutil.copytree(demo_home, copy)
    return copy


@pytest.fixture
def app(home):
    return create_app({"home": home, "admin_key": ADMIN, "rate_limit_answer": 1,
                       "rate_limit": 2})  # fmt: skip


def make_key(client, name: str, answers: int, searches: int = 3) -> str:
    r = client.post("/admin/keys", headers={"Authorization": f"Bearer {ADMIN}"},
                    json={"name": name, "answers_per_minute": answers,
                          "searches_per_minute": searches})  # fmt: skip
    assert r.status_code == 201, r.json
    assert r.json["name"] == name and r.json["answers_per_minute"] == answers
    return r.json["key"]


def answer(client, key: str | None = None, address: str = "10.0.0.1"):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.post("/v1/answer", json=QUESTION, headers=headers,
                       environ_base={"REMOTE_ADDR": address})  # fmt: skip


def test_a_backend_key_has_its_own_quota_and_anonymous_limits_are_untouched(app):
    client = app.test_client()
    bot = make_key(client, "support-bot", answers=2)

    # The bot, from 10.0.0.1: its own burst of 2, then 429 with its own limit in the headers.
    statuses = [answer(client, bot).status_code for _ in range(3)]
    assert statuses == [200] * 2 + [429]
    limited = answer(client, bot)
    assert limited.json["status"] == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["X-RateLimit-Limit"] == "2"

    # A visitor from the very same address was not charged for the bot's answers.
    visitor = [answer(client) for _ in range(2)]
    assert [r.status_code for r in visitor] == [200, 429]
    assert visitor[0].headers["X-RateLimit-Limit"] == "1"
    assert visitor[0].headers["X-RateLimit-Remaining"] == "0"

    # Another backend from that address has a quota of its own too.
    other = make_key(client, "shop-bot", answers=3)
    r = answer(client, other)
    assert r.status_code == 200 and r.headers["X-RateLimit-Limit"] == "3"

    # Searches count against the key's search limit, not the address's.
    s = client.get("/v1/search?q=bulb", headers={"Authorization": f"Bearer {bot}"},
                   environ_base={"REMOTE_ADDR": "10.0.0.1"})  # fmt: skip
    assert s.status_code == 200 and s.headers["X-RateLimit-Limit"] == "3"


def test_a_revoked_key_is_refused_at_once_not_treated_as_a_visitor(app):
    client = app.test_client()
    bot = make_key(client, "support-bot", answers=2)
    assert answer(client, bot).status_code == 200
    r = client.delete("/admin/keys/support-bot", headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 200 and r.json == {"ok": True, "revoked": "support-bot"}
    refused = answer(client, bot)
    assert refused.status_code == 401 and set(refused.json) == ERROR_KEYS
    assert refused.json["error"] == "API key unknown or revoked"
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert answer(client).status_code == 200  # the same address without the key: a visitor
    listed = client.get("/admin/keys", headers={"Authorization": f"Bearer {ADMIN}"}).json["keys"]
    assert [k["name"] for k in listed] == ["support-bot"] and listed[0]["revoked_at"]
    again = client.delete("/admin/keys/support-bot", headers={"Authorization": f"Bearer {ADMIN}"})
    assert again.status_code == 404 and set(again.json) == ERROR_KEYS


@pytest.mark.parametrize(
    "authorization",
    ["Bearer kbk_0123456789abcdef_not-a-real-secret", "Bearer nonsense", "Bearer",
     f"Bearer {ADMIN}x", f"Bearer kbk_{ADMIN}", "bearer kbk_"],
)  # fmt: skip
def test_a_wrong_key_is_a_401_in_the_error_shape(app, authorization):
    client, headers = app.test_client(), {"Authorization": authorization}
    for r in (client.post("/v1/answer", json=QUESTION, headers=headers),
              client.get("/v1/search?q=bulb", headers=headers)):  # fmt: skip
        assert r.status_code == 401 and set(r.json) == ERROR_KEYS


def test_a_forged_secret_for_a_real_key_id_is_refused_after_the_real_key_was_used(app):
    client = app.test_client()
    bot = make_key(client, "support-bot", answers=2)
    assert answer(client, bot).status_code == 200
    forged = bot[:-4] + ("AAAA" if not bot.endswith("AAAA") else "BBBB")
    assert answer(client, forged).status_code == 401
    assert answer(client, bot).status_code == 200


def test_a_checked_key_is_not_hashed_again_but_revocation_still_counts(home, monkeypatch):
    store = Journal(home / "kb.sqlite3")
    key, _ = create_key(store, "bot", 10, 10)
    calls = []
    real = kb.keys.check_key
    monkeypatch.setattr(kb.keys, "check_key", lambda g, s: calls.append(g) or real(g, s))
    checker = KeyChecker()
    assert checker.check(store, key).name == checker.check(store, key).name == "bot"
    assert len(calls) == 1
    store.revoke_api_key("bot")
    with pytest.raises(kb.keys.Unauthorized):
        checker.check(store, key)
    store.close()


def test_keys_are_stored_only_as_hashes(app, home):
    key = make_key(app.test_client(), "support-bot", answers=2)
    with sqlite3.connect(home / "kb.sqlite3") as conn:
        rows = conn.execute("SELECT * FROM api_keys").fetchall()
    assert len(rows) == 1 and key not in repr(rows) and key.split("_", 2)[2] not in repr(rows)
    assert any(str(v).startswith("scrypt$") for v in rows[0])


def test_admin_key_routes_need_the_admin_key_and_valid_input(app):
    client = app.test_client()
    assert client.get("/admin/keys").status_code == 401
    auth = {"Authorization": f"Bearer {ADMIN}"}
    for body in ({"name": "has space"}, {"name": "ok", "answers_per_minute": -1},
                 {"name": "ok", "searches_per_minute": "many"}, {}):  # fmt: skip
        r = client.post("/admin/keys", json=body, headers=auth)
        assert r.status_code == 400 and set(r.json) == ERROR_KEYS, body
    made = client.post("/admin/keys", json={"name": "defaults"}, headers=auth).json
    assert made["answers_per_minute"] == 600 and made["searches_per_minute"] == 6000
    assert client.post("/admin/keys", json={"name": "defaults"}, headers=auth).status_code == 400
    assert "key" not in client.get("/admin/keys", headers=auth).json["keys"][0]


def test_the_cli_makes_lists_and_revokes_keys(home, app):
    runner = CliRunner()
    made = runner.invoke(cli, ["--home", str(home), "keys", "create", "--name", "bot",
                               "--answers-per-minute", "2",
                               "--searches-per-minute", "0"])  # fmt: skip
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert key.startswith("kbk_") and "\n" not in key
    listed = runner.invoke(cli, ["--home", str(home), "keys", "list"]).output
    assert "bot" in listed and "2 answers/min" in listed and "unlimited searches" in listed
    assert key not in listed
    client = app.test_client()
    r = client.get("/v1/search?q=bulb", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200 and "X-RateLimit-Limit" not in r.headers  # searches unlimited
    assert runner.invoke(cli, ["--home", str(home), "keys", "revoke", "bot"]).exit_code == 0
    assert answer(client, key).status_code == 401


@pytest.mark.parametrize(
    "args, message",
    [
        (["keys", "revoke", "nobody"], "kb: error: no live API key called 'nobody'"),
        (["keys", "create", "--name", "a b"], "kb: error: name must be 1 to 64 letters"),
    ],
)
def test_key_cli_errors_are_one_line(tmp_path, args, message):
    r = run_kb(*args, home=tmp_path / "home")
    assert r.returncode == 1 and r.stderr.startswith(message)
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


# --- limits as small as a key or a setting may make them ------------------------------------


def search(client, key: str | None = None, address: str = "10.0.0.1", path: str = "/v1/search"):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.get(f"{path}?q=bulb", headers=headers, environ_base={"REMOTE_ADDR": address})


def assert_exactly(responses, limit: int) -> None:
    """``limit`` responses allowed, the next refused, and the headers saying so all along."""
    assert [r.status_code for r in responses] == [200] * limit + [429]
    assert {r.headers["X-RateLimit-Limit"] for r in responses} == {str(limit)}
    remaining = [int(r.headers["X-RateLimit-Remaining"]) for r in responses[:-1]]
    assert remaining == list(range(limit - 1, -1, -1))


@pytest.mark.parametrize(("answers", "searches"), [(1, 1), (2, 3), (4, 9), (5, 10)])
def test_a_key_gets_no_more_at_once_than_its_limits_a_minute(app, answers, searches):
    client = app.test_client()
    bot = make_key(client, "bot", answers=answers, searches=searches)
    assert_exactly([search(client, bot) for _ in range(searches + 1)], searches)
    assert_exactly([answer(client, bot) for _ in range(answers + 1)], answers)


@pytest.mark.parametrize(("answers", "searches"), [(1, 1), (2, 3), (4, 9)])
def test_a_visitor_gets_no_more_at_once_than_the_settings_say(home, answers, searches):
    client = create_app({"home": home, "rate_limit_answer": answers,
                         "rate_limit": searches}).test_client()  # fmt: skip
    assert_exactly([search(client) for _ in range(searches + 1)], searches)
    assert_exactly([answer(client) for _ in range(answers + 1)], answers)


def test_a_limit_holds_across_workers_and_replicas_that_share_redis(home, redis_url):
    """Two apps (two workers, or two hosts) with one Redis: a client's quota is counted once."""
    settings = {"home": home, "rate_limit": 4, "rate_limit_answer": 2, "redis_url": redis_url}
    one, two = create_app(settings).test_client(), create_app(settings).test_client()
    searches = [search(c) for c in (one, two, one, two, one)]
    assert_exactly(searches, 4)
    assert search(two, address="10.0.0.2").status_code == 200  # another client: its own count
    assert [answer(c).status_code for c in (two, one, two)] == [200, 200, 429]


def test_without_redis_each_process_counts_on_its_own(home):
    settings = {"home": home, "rate_limit": 2}
    one, two = create_app(settings).test_client(), create_app(settings).test_client()
    assert [search(c).status_code for c in (one, one, one)] == [200, 200, 429]
    assert search(two).status_code == 200


# --- Authorization headers that are not kb's, and the admin key -----------------------------


@pytest.mark.parametrize(
    "authorization",
    ["Basic c3RhZmY6cHc=", 'Digest username="staff", realm="shop"', "Negotiate YIIBhwYGKwYB",
     "Token kbk_0123456789abcdef_x", "Bearerkbk_x", "AWS4-HMAC-SHA256 Credential=x", "Basic"],
)  # fmt: skip
def test_other_authorization_schemes_belong_to_a_proxy_and_are_ignored(app, authorization):
    """kb behind an HTTP Basic-auth proxy: every public page and API route serves visitors."""
    client, headers = app.test_client(), {"Authorization": authorization}
    for path in ("/?q=refund", "/v1/search?q=bulb"):  # rate_limit 2: both fit the burst
        r = client.get(path, headers=headers)
        assert r.status_code == 200 and r.headers["X-RateLimit-Limit"] == "2", path
    r = client.post("/answer", json=QUESTION, headers=headers)
    assert r.status_code == 200 and r.headers["X-RateLimit-Limit"] == "1"
    assert client.get("/", headers=headers).status_code == 429  # still the address's quota
    assert client.get("/admin/keys", headers=headers).status_code == 401  # never an admin key


def test_the_admin_key_is_a_client_without_limits_on_the_public_api(app):
    client, admin = app.test_client(), {"Authorization": f"Bearer {ADMIN}"}
    for _ in range(4):  # twice the address's quota
        for r in (client.get("/v1/search?q=bulb", headers=admin),
                  client.post("/v1/answer", json=QUESTION, headers=admin)):  # fmt: skip
            assert r.status_code == 200 and "X-RateLimit-Limit" not in r.headers
    assert answer(client).status_code == 200  # the address's visitors were not charged


def test_a_hashed_admin_key_is_hashed_once_per_process(home, monkeypatch):
    secret = "a-hashed-admin-key"
    app = create_app({"home": home, "admin_key_hash": hash_key(secret)})
    calls = []
    real = web.security.check_key
    monkeypatch.setattr(web.security, "check_key", lambda g, s: calls.append(g) or real(g, s))
    client, admin = app.test_client(), {"Authorization": f"Bearer {secret}"}
    for _ in range(3):
        assert client.get("/v1/search?q=bulb", headers=admin).status_code == 200
        assert client.get("/admin/keys", headers=admin).status_code == 200
    assert calls == [secret]
    assert client.get("/admin/keys", headers={"Authorization": "Bearer wrong"}).status_code == 401


# --- guessing keys ----------------------------------------------------------------------------


@pytest.mark.parametrize("wrong", ["forged secret", "unknown id", "not a key", "admin guess"])
def test_wrong_keys_from_one_address_are_cut_off_before_they_cost_an_scrypt(app, monkeypatch,
                                                                             wrong):  # fmt: skip
    client = app.test_client()
    bot = make_key(client, "support-bot", answers=2)
    token = {"forged secret": bot[:-4] + ("AAAA" if not bot.endswith("AAAA") else "BBBB"),
             "unknown id": "kbk_0123456789abcdef_secret", "not a key": "nonsense",
             "admin guess": ADMIN + "?"}[wrong]  # fmt: skip
    hashed = []
    real = kb.keys.check_key
    monkeypatch.setattr(kb.keys, "check_key", lambda g, s: hashed.append(g) or real(g, s))
    tries = [answer(client, token) for _ in range(MAX_FAILED_CHECKS + 3)]
    assert [r.status_code for r in tries] == [401] * MAX_FAILED_CHECKS + [429] * 3
    assert len(hashed) == (MAX_FAILED_CHECKS if wrong == "forged secret" else 0)
    assert set(tries[-1].json) == ERROR_KEYS and int(tries[-1].headers["Retry-After"]) >= 1
    assert answer(client, bot).status_code == 429  # the address is cut off, whatever it sends
    assert answer(client).status_code == 200  # but its visitors, sending no key, are served
    assert answer(client, bot, address="10.0.0.2").status_code == 200  # as is everyone else


def test_wrong_admin_keys_from_one_address_are_cut_off(app):
    client = app.test_client()
    for _ in range(MAX_FAILED_CHECKS + 5):  # sending no key costs nothing and is not counted
        assert client.get("/admin/keys").status_code == 401
    wrong = {"Authorization": "Bearer guess"}
    tries = [client.get("/admin/keys", headers=wrong) for _ in range(MAX_FAILED_CHECKS + 1)]
    assert [r.status_code for r in tries] == [401] * MAX_FAILED_CHECKS + [429]
    assert int(tries[-1].headers["Retry-After"]) >= 1 and set(tries[-1].json) == ERROR_KEYS
    admin = {"Authorization": f"Bearer {ADMIN}"}
    assert client.get("/admin/keys", headers=admin).status_code == 429
    other = client.get("/admin/keys", headers=admin, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 200


# --- admin answers, and where keys are read -------------------------------------------------


def test_admin_answers_are_never_cached(app):
    client, admin = app.test_client(), {"Authorization": f"Bearer {ADMIN}"}
    made = client.post("/admin/keys", json={"name": "bot"}, headers=admin)
    assert made.status_code == 201 and made.json["key"]
    for r in (made, client.get("/admin/keys", headers=admin),
              client.delete("/admin/keys/nobody", headers=admin),
              client.post("/admin/keys", json={"name": "a b"}, headers=admin),
              client.get("/admin/keys"), client.get("/admin/nope", headers=admin),
              client.get("/admin", headers=admin),
              client.get("/admin/faq", headers=admin)):  # fmt: skip
        assert r.headers["Cache-Control"] == "no-store", (r.request.path, r.status_code)


def test_keys_are_read_on_the_read_only_connection_not_the_writer(app, monkeypatch):
    client = app.test_client()
    bot = make_key(client, "support-bot", answers=2)
    kb_ = app.extensions["kb"]
    used = []
    real = Journal.api_key
    monkeypatch.setattr(Journal, "api_key", lambda self, key_id: used.append(self) or
                        real(self, key_id))  # fmt: skip
    assert search(client, bot).status_code == 200
    assert used and all(store is kb_.stores.reader() for store in used)
    assert kb_.stores.reader() is not kb_.stores.writer()
    with pytest.raises(OperationalError, match="readonly"):
        kb_.stores.reader().conn.execute("DELETE FROM api_keys")
