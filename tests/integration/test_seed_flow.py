"""Issue 2's end-to-end flow: upload the seed rule over HTTP, run it through password-exchange."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.server import PASSWORD_EXCHANGE, SEED_BODY, SEED_PY, Server, hook_meta

pytestmark = pytest.mark.integration

SEED_REPLY = (
    b'{"statusCode":200,"headers":{},"status":"success",'
    b'"data":{"https://foo.com/claim":"bar","scope":["read:sample","extra"]}}'
)
UNAUTHORIZED = {
    "status": "error",
    "data": {"message": "Unauthorized extensibility point", "statusCode": 500},
}


def test_seed_rule_uploads_and_answers_byte_for_byte(server: Server) -> None:
    secret = "4f1b2c0e9d8a7b6c5d4e3f2a1b0c9d8e"
    put = server.put(
        "seed", "pwx", SEED_PY, meta=hook_meta(secret), secrets={"auth0-extension-secret": secret}
    )
    assert put.status_code == 200
    created = put.json()
    assert created["name"] == "pwx"
    assert created["container"] == "seed"
    assert created["meta"] == hook_meta(secret)
    assert created["webtask_url"] == f"{server.url}/api/run/seed/pwx"
    assert created["token"].startswith("eyJhbGciOiJIUzI1NiIsImtpZCI6")

    run = server.client.post(
        "/api/run/seed/pwx", json=SEED_BODY, headers={"Authorization": f"Bearer {secret}"}
    )
    assert run.status_code == 200
    assert run.headers["content-type"] == "application/json"
    assert run.content == SEED_REPLY


def test_run_accepts_extra_path_segments_and_any_case_bearer(server: Server) -> None:
    server.put_hook("seed2", "pwx", SEED_PY, secret="abc")
    run = server.client.post(
        "/api/run/seed2/pwx/extra/path", json=SEED_BODY, headers={"Authorization": "bEaReR abc"}
    )
    assert run.content == SEED_REPLY


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", "Bearer s3cret2", "Basic s3cret", "Bearer", "bearer  s3cret"],
)
def test_wrong_or_missing_secret_is_unauthorized(server: Server, authorization: str | None) -> None:
    server.put_hook("authz", "pwx", SEED_PY, secret="s3cret")
    headers = {} if authorization is None else {"Authorization": authorization}
    run = server.client.post("/api/run/authz/pwx", json=SEED_BODY, headers=headers)
    assert run.status_code == 200
    assert run.json() == UNAUTHORIZED


def test_hook_without_secret_is_open(server: Server) -> None:
    meta = {"wt-compiler": PASSWORD_EXCHANGE}
    assert server.put("open", "pwx", SEED_PY, meta=meta).status_code == 200
    run = server.client.post("/api/run/open/pwx", json=SEED_BODY)
    assert run.content == SEED_REPLY


SIX_ARGS = """\
def rule(user, client, scope, audience, context, cb):
    cb(None, {'user': user, 'client': client['id'], 'scope': scope, 'audience': audience})
"""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "Body received by extensibility point is not an object"),
        (b"null", "Body received by extensibility point is not an object"),
        (b"42", "Body received by extensibility point is not an object"),
        ("text", "Body received by extensibility point is not an object"),
        ({"scope": []}, "Body.audience received by extensibility point is not a string"),
        ({"audience": 1}, "Body.audience received by extensibility point is not a string"),
        (
            {"audience": "a", "scope": "read"},
            "Body.scope received by extensibility point is neither empty nor an array",
        ),
        (
            {"audience": "a", "scope": {}},
            "Body.scope received by extensibility point is neither empty nor an array",
        ),
        (
            {"audience": "a", "scope": []},
            "Body.client received by extensibility point is not an object",
        ),
        (
            {"audience": "a", "client": "c"},
            "Body.client received by extensibility point is not an object",
        ),
    ],
)
def test_seed_form_body_validation_messages(server: Server, body: object, message: str) -> None:
    server.put_hook("validate5", "pwx", SEED_PY)
    if isinstance(body, bytes):
        run = server.client.post(
            "/api/run/validate5/pwx",
            content=body,
            headers={"Authorization": "Bearer s3cret", "Content-Type": "application/json"},
        )
    else:
        run = server.run_hook("validate5", "pwx", body=body)
    assert run.status_code == 200
    assert run.json() == {"status": "error", "data": {"message": message}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"audience": "a", "client": {}},
            "Body.user received by extensibility point is not an object",
        ),
        (
            {"audience": "a", "user": {}, "client": 5},
            "Body.client received by extensibility point is not an object",
        ),
        ({"audience": "a"}, "Body.user received by extensibility point is not an object"),
    ],
)
def test_user_form_validates_user_before_client(server: Server, body: object, message: str) -> None:
    server.put_hook("validate6", "pwx", SIX_ARGS)
    run = server.run_hook("validate6", "pwx", body=body)
    assert run.json() == {"status": "error", "data": {"message": message}}


def test_user_form_receives_user_first(server: Server) -> None:
    server.put_hook("six", "pwx", SIX_ARGS)
    body = {"user": {"id": "u1"}, "client": {"id": "c1"}, "scope": ["s"], "audience": "aud"}
    run = server.run_hook("six", "pwx", body=body)
    assert run.json() == {
        "statusCode": 200,
        "headers": {},
        "status": "success",
        "data": {"user": {"id": "u1"}, "client": "c1", "scope": ["s"], "audience": "aud"},
    }


def test_non_json_body_is_an_object_without_audience(server: Server) -> None:
    server.put_hook("buffer", "pwx", SEED_PY)
    run = server.client.post(
        "/api/run/buffer/pwx",
        content=b"audience=x",
        headers={"Authorization": "Bearer s3cret", "Content-Type": "text/plain"},
    )
    assert run.json() == {
        "status": "error",
        "data": {"message": "Body.audience received by extensibility point is not a string"},
    }


def test_context_webtask_exposes_secrets_meta_and_body(server: Server) -> None:
    code = """\
def rule(client, scope, audience, context, cb):
    wt = context.webtask
    cb(None, {'secret': wt.secrets['auth0-extension-secret'],
              'name': wt.meta['auth0-extension-name'],
              'ip': context['ip'], 'aud': wt.body.audience, 'has_id': len(wt.id) > 0,
              'auth': wt.headers['authorization']})
"""
    server.put_hook("ctx", "pwx", code, secret="xyz")
    run = server.run_hook("ctx", "pwx", secret="xyz")
    assert run.json()["data"] == {
        "secret": "xyz",
        "name": "password-exchange",
        "ip": "127.0.0.1",
        "aud": "https://someapi.com/api",
        "has_id": True,
        "auth": "Bearer xyz",
    }


def _assert_no_host_internals(text: str) -> None:
    for marker in ("Traceback", 'File "', "/work", "site-packages", "sandbox/", " at 0x"):
        assert marker not in text


def test_callback_error_gives_error_envelope_without_host_internals(server: Server) -> None:
    server.put_hook(
        "deny",
        "pwx",
        "def rule(client, scope, audience, context, cb):\n    cb(Exception('access denied'))\n",
    )
    run = server.run_hook("deny", "pwx")
    assert run.status_code == 200
    assert run.json() == {"status": "error", "data": {"message": "access denied"}}
    _assert_no_host_internals(run.text)


def test_raising_rule_gives_error_envelope(server: Server) -> None:
    code = """\
def helper(x):
    return x['missing']

def rule(client, scope, audience, context, cb):
    raise ValueError('bad client ' + client['id'])

exports = rule
"""
    server.put_hook("raise", "pwx", code)
    run = server.run_hook("raise", "pwx")
    assert run.json() == {"status": "error", "data": {"message": "bad client sample-client"}}
    _assert_no_host_internals(run.text)


def test_returning_a_value_is_the_result(server: Server) -> None:
    code = "def rule(client, scope, audience, context, cb):\n    return {'ok': True}\n"
    server.put_hook("ret", "pwx", code)
    assert server.run_hook("ret", "pwx").json()["data"] == {"ok": True}


def test_first_callback_wins(server: Server) -> None:
    code = """\
def rule(client, scope, audience, context, cb):
    cb(None, {'n': 1})
    cb(None, {'n': 2})
    raise ValueError('ignored')
"""
    server.put_hook("first", "pwx", code)
    assert server.run_hook("first", "pwx").json()["data"] == {"n": 1}


def test_rule_that_never_calls_back_fails_at_once(server: Server) -> None:
    server.put_hook("silent", "pwx", "def rule(client, scope, audience, context, cb):\n    pass\n")
    started = time.monotonic()
    run = server.run_hook("silent", "pwx")
    assert time.monotonic() - started < 2
    assert run.status_code == 500
    assert run.json()["error"] == "Script finished without responding."
    assert "without calling cb" in run.json()["details"]
    assert "execution time limit" in run.json()["details"]


def test_rule_that_loops_forever_times_out_within_the_limit(make_server: object) -> None:
    srv = make_server(WTHOST_RULE_TIMEOUT_MS="1000", WTHOST_RULE_CPU_MS="30000")  # type: ignore[operator]
    srv.put_hook(
        "loop",
        "pwx",
        "def rule(client, scope, audience, context, cb):\n    while True:\n        pass\n",
    )
    started = time.monotonic()
    run = srv.run_hook("loop", "pwx")
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 3.0
    assert run.status_code == 500
    body = run.json()
    assert body["code"] == 500
    assert body["error"] == "Request to Webtask exceeded allowed execution time"
    assert "1000 ms" in body["message"]
    _assert_no_host_internals(run.text)
    # The next call gets a fresh worker and works.
    srv.put_hook("loop", "ok", SEED_PY)
    assert srv.run_hook("loop", "ok").content == SEED_REPLY


@pytest.mark.parametrize(
    ("code", "line", "fragment"),
    [
        ("def rule(client, scope, audience, context, cb):\n    cb(None, {\n", 2, "SyntaxError"),
        ("def rule(client, scope, audience, context, cb):\n    x = 1\n  y = 2\n", 3, "SyntaxError"),
        (
            "def rule(client, scope, audience, context, cb):\n    return ().__class__\n",
            2,
            '"__class__" is an invalid attribute name because it starts with "_"',
        ),
        ("def rule(c, s, a, ctx, cb):\n    pass\n\nexec('1')\n", 4, "Exec calls are not allowed"),
    ],
)
def test_broken_code_is_refused_at_upload(
    server: Server, code: str, line: int, fragment: str
) -> None:
    put = server.put("broken", "pwx", code, meta=hook_meta("s"))
    assert put.status_code == 400
    body = put.json()
    assert body["code"] == 400
    assert body["language"] == "python"
    assert body["details"][0]["line"] == line
    assert fragment in body["details"][0]["message"]
    assert f"line {line}" in body["message"]
    assert server.client.get("/api/webtask/broken/pwx", headers=server.auth()).status_code == 404


def test_rule_without_function_is_refused(server: Server) -> None:
    put = server.put("broken", "nofn", "x = 1\n", meta=hook_meta("s"))
    assert put.status_code == 400
    assert "defines no function" in put.json()["message"]


def test_unknown_compiler_is_refused(server: Server) -> None:
    put = server.put("broken", "cmp", SEED_PY, meta={"wt-compiler": "nope/nothing"})
    assert put.status_code == 400
    assert "Unknown wt-compiler 'nope/nothing'" in put.json()["message"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "exactly one of 'code'"),
        ({"code": 5}, "'code' must be a string"),
        ({"code": "def f(cb): pass", "meta": "x"}, "'meta' must be an object"),
        ({"code": "def f(cb): pass", "secrets": {"a": [1]}}, "'secrets.a' must be a string"),
    ],
)
def test_bad_upload_bodies_get_clear_errors(server: Server, body: object, fragment: str) -> None:
    put = server.client.put("/api/webtask/bad/x", json=body, headers=server.auth())
    assert put.status_code == 400
    assert fragment in put.json()["message"]


def test_upload_body_must_be_json(server: Server) -> None:
    put = server.client.put("/api/webtask/bad/x", content=b"{nope", headers=server.auth())
    assert put.status_code == 400
    assert "not valid JSON" in put.json()["message"]


def test_huge_bodies_are_refused(server: Server) -> None:
    put = server.client.put("/api/webtask/bad/x", content=b"x" * (2 * 2**20), headers=server.auth())
    assert put.status_code == 413
    server.put_hook("huge", "pwx", SEED_PY)
    run = server.client.post("/api/run/huge/pwx", content=b"[" * (2 * 2**20))
    assert run.status_code == 413


def test_secrets_are_never_stored_in_clear(tmp_path: Path, make_server: object) -> None:
    srv = make_server()  # type: ignore[operator]
    secret = "UNIQUE-SECRET-VALUE-6b1f0c2d"
    other = "ANOTHER-SECRET-9e8d7c"
    srv.put(
        "clear",
        "pwx",
        SEED_PY,
        meta=hook_meta(secret),
        secrets={"auth0-extension-secret": secret, "API_KEY": other},
    )
    assert srv.run_hook("clear", "pwx", secret=secret).content == SEED_REPLY
    srv.stop()
    found = []
    for path in srv.data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if secret.encode() in data or other.encode() in data:
                found.append(path.name)
    assert found == []
    assert srv.log_path.read_bytes().find(secret.encode()) == -1
    for key_file in ("webtask-token.key", "secrets.key"):
        assert (srv.data_dir / key_file).stat().st_mode & 0o777 == 0o600


def test_management_needs_a_token_for_the_container(server: Server) -> None:
    server.put_hook("mine", "pwx", SEED_PY)
    other = server.cli("token", "create", "--container", "theirs").strip()
    mine = server.cli("token", "create", "--container", "mine").strip()
    url = "/api/webtask/mine/pwx"
    assert server.client.get(url).status_code == 401
    assert server.client.get(url, headers={"Authorization": "Bearer not-a-jwt"}).status_code == 401
    assert server.client.get(url, headers=server.auth(other)).status_code == 403
    assert server.client.delete(url, headers=server.auth(other)).status_code == 403
    assert server.client.get("/api/webtask/mine", headers=server.auth(other)).status_code == 403
    assert server.put("mine", "pwx", SEED_PY, token=other).status_code == 403
    assert server.client.get("/api/webtask", headers=server.auth(mine)).status_code == 403
    assert server.client.get(url, headers=server.auth(mine)).status_code == 200
    assert server.client.get(url, params={"key": mine}).status_code == 200
    forged = mine[:-4] + ("AAAA" if not mine.endswith("AAAA") else "BBBB")
    assert server.client.get(url, headers=server.auth(forged)).status_code == 401


def test_get_list_and_delete(server: Server) -> None:
    secret = "getsecret"
    server.put_hook("crud", "a", SEED_PY, secret=secret)
    assert (
        server.put("crud", "b", "def f(cb):\n    cb(None, 1)\n", meta={"k": "v"}).status_code == 200
    )
    got = server.client.get("/api/webtask/crud/a", headers=server.auth()).json()
    assert set(got) == {"container", "name", "token", "meta", "webtask_url"}
    full = server.client.get(
        "/api/webtask/crud/a",
        params={"decrypt": "true", "fetch_code": "true"},
        headers=server.auth(),
    ).json()
    assert full["secrets"] == {"auth0-extension-secret": secret}
    assert full["code"] == SEED_PY
    listed = server.client.get("/api/webtask/crud", headers=server.auth()).json()
    assert [item["name"] for item in listed] == ["a", "b"]
    only = server.client.get(
        "/api/webtask/crud", params={"meta": "k:v"}, headers=server.auth()
    ).json()
    assert [item["name"] for item in only] == ["b"]
    assert only[0]["meta"] == {"k": "v"}
    hooks = server.client.get(
        "/api/webtask/crud",
        params=[
            ("meta", "auth0-extension:runtime"),
            ("meta", "auth0-extension-name:password-exchange"),
        ],
        headers=server.auth(),
    ).json()
    assert [item["name"] for item in hooks] == ["a"]
    paged = server.client.get(
        "/api/webtask/crud", params={"offset": "1", "limit": "1"}, headers=server.auth()
    ).json()
    assert [item["name"] for item in paged] == ["b"]
    assert server.client.delete("/api/webtask/crud/a", headers=server.auth()).status_code == 204
    assert server.client.delete("/api/webtask/crud/a", headers=server.auth()).status_code == 404
    assert server.client.get("/api/webtask/crud/a", headers=server.auth()).status_code == 404
    assert server.run_hook("crud", "a").status_code == 404


def test_update_replaces_code_and_is_served_at_once(server: Server) -> None:
    server.put_hook("upd", "pwx", SEED_PY)
    assert server.run_hook("upd", "pwx").content == SEED_REPLY
    server.put_hook(
        "upd", "pwx", "def rule(client, scope, audience, context, cb):\n    cb(None, {'v': 2})\n"
    )
    assert server.run_hook("upd", "pwx").json()["data"] == {"v": 2}


def test_healthz_reports_layers(server: Server) -> None:
    health = server.client.get("/healthz")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok"
    assert set(body["sandbox"]["layers"]) == {
        "rlimits",
        "unshare",
        "drop_privileges",
        "prctl",
        "seccomp",
    }


def test_description_is_not_found_so_wt_uses_v1(server: Server) -> None:
    assert server.client.get("/api/description").status_code == 404


def test_unknown_routes_answer_json_errors(server: Server) -> None:
    response = server.client.get("/nope")
    assert response.status_code == 404
    assert response.json()["code"] == 404
    assert json.loads(response.text)["message"].startswith("No route")


def test_concurrent_calls_all_succeed(server: Server) -> None:
    server.put_hook("conc", "pwx", SEED_PY)

    async def burst() -> list[bytes]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            import asyncio

            calls = [
                client.post(
                    "/api/run/conc/pwx", json=SEED_BODY, headers={"Authorization": "Bearer s3cret"}
                )
                for _ in range(40)
            ]
            return [r.content for r in await asyncio.gather(*calls)]

    import asyncio

    assert asyncio.run(burst()) == [SEED_REPLY] * 40


DEEP_JSON = b"[" * 200_000 + b"]" * 200_000


def test_deeply_nested_json_is_refused_cleanly(server: Server) -> None:
    server.put_hook("deep", "pwx", SEED_PY)
    run = server.client.post(
        "/api/run/deep/pwx",
        content=DEEP_JSON,
        headers={"Authorization": "Bearer s3cret", "Content-Type": "application/json"},
    )
    assert run.status_code == 200
    assert run.json() == {
        "status": "error",
        "data": {"message": "Maximum call stack size exceeded"},
    }
    put = server.client.put(
        "/api/webtask/deep/x",
        content=b'{"code": "def f(cb): pass", "meta": ' + DEEP_JSON + b"}",
        headers=server.auth(),
    )
    assert put.status_code == 400
    assert put.json()["message"] == "Request body is JSON nested too deeply."
    token = server.client.post(
        "/oauth/token", content=DEEP_JSON, headers={"Content-Type": "application/json"}
    )
    assert token.status_code == 400
    assert token.json()["error"] == "invalid_request"
