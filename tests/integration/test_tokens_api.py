"""``/api/tokens/*`` and ``/api/logs/tenant/*`` over plain HTTP: the rules wt relies on."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from tests.integration.server import SEED_PY, Server, hook_meta

pytestmark = pytest.mark.integration

PLAIN = "def f(ctx, cb):\n    cb(None, {'s': ctx.secrets, 'm': ctx.meta})\n"


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def fresh() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def issue(server: Server, token: str, body: object) -> httpx.Response:
    return server.client.post("/api/tokens/issue", json=body, headers=server.auth(token))


def issued(server: Server, token: str, body: object) -> str:
    response = issue(server, token, body)
    assert response.status_code == 200, response.text
    return response.text


def inspect(server: Server, token: str, subject: str, **params: str) -> httpx.Response:
    return server.client.get(
        "/api/tokens/inspect", params={"token": subject, **params}, headers=server.auth(token)
    )


def test_issue_answers_text_plain_raw_jwt_with_location(server: Server) -> None:
    container = fresh()
    profile = server.cli("token", "create", "--container", container).strip()
    response = issue(server, profile, {})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    token = response.text
    assert token.startswith("eyJhbGciOiJIUzI1NiIsImtpZCI6")
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "kid": "1"}
    claims = claims_of(token)
    assert set(claims) == {"jti", "iat", "ca", "ten", "dd", "pb"}
    assert claims["ca"] == [claims_of(profile)["jti"]]
    assert len(claims["jti"]) == 32
    assert response.headers["location"] == f"{server.url}/api/run/{container}?key={token}"
    named = issue(server, profile, {"jtn": "n", "code": PLAIN})
    assert named.headers["location"] == f"{server.url}/api/run/{container}/n"


def test_issue_with_jtn_and_put_write_the_same_webtask(server: Server) -> None:
    container = fresh()
    profile = server.cli("token", "create", "--container", container).strip()
    put = server.put(container, "x", PLAIN, meta={"a": "1"}, secrets={"s": "v"}, token=profile)
    assert put.status_code == 200
    put_claims = claims_of(put.json()["token"])
    assert put_claims["pb"] == 2
    # Re-issue the way `auth0 enable` does: the inspect answer minus jti/ca/iat/webtask_url.
    seen = inspect(server, profile, put.json()["token"], decrypt="true", meta="1").json()
    assert seen["ectx"] == {"s": "v"}
    assert seen["meta"] == {"a": "1"}
    echo = {k: v for k, v in seen.items() if k not in ("jti", "ca", "iat", "webtask_url")}
    echo["meta"]["a"] = "2"
    token = issued(server, profile, {**echo, "secrets": {"leak": "x"}, "token": "t"})
    assert not {"secrets", "token", "code", "meta"} & set(claims_of(token))
    run = server.client.get(f"/api/run/{container}/x")
    assert run.json() == {"s": {"s": "v"}, "m": {"a": "2"}}
    got = server.client.get(
        f"/api/webtask/{container}/x", params={"fetch_code": "1"}, headers=server.auth(profile)
    ).json()
    assert got["token"] == token
    assert got["code"] == PLAIN
    # An already sealed ectx (inspect without decrypt) round-trips too.
    sealed = inspect(server, profile, token).json()
    assert isinstance(sealed["ectx"], str)
    again = issued(
        server,
        profile,
        {"ten": container, "jtn": "x", "url": sealed["url"], "ectx": sealed["ectx"]},
    )
    assert claims_of(again)["ectx"] != sealed["ectx"]
    assert server.client.get(f"/api/run/{container}/x").json()["s"] == {"s": "v"}


def test_sealed_ectx_cannot_move_to_another_container(server: Server) -> None:
    first, second = fresh(), fresh()
    token = issued(server, server.admin_token, {"ten": first, "ectx": {"k": "v"}})
    moved = issue(server, server.admin_token, {"ten": second, "ectx": claims_of(token)["ectx"]})
    assert moved.status_code == 400
    assert "not by this server for this container" in moved.json()["message"]


def test_dd_is_enforced_down_the_chain(server: Server) -> None:
    container = fresh()
    deep = issued(server, server.admin_token, {"ten": container, "dd": "2"})
    middle = issued(server, deep, {"dd": 1})
    leaf = issued(server, middle, {})
    assert [claims_of(t)["dd"] for t in (deep, middle, leaf)] == [2, 1, 0]
    refused = issue(server, leaf, {})
    assert refused.status_code == 403
    assert "may not issue tokens" in refused.json()["message"]
    too_deep = issue(server, middle, {"dd": 1})
    assert too_deep.status_code == 403
    webtask_token = server.put(container, "w", PLAIN, token=middle).json()["token"]
    assert issue(server, webtask_token, {}).status_code == 403


def test_revoking_a_token_revokes_its_descendants(server: Server) -> None:
    container = fresh()
    parent = issued(server, server.admin_token, {"ten": container, "dd": 2})
    child = issued(server, parent, {"dd": 1})
    grandchild = issued(server, child, {"dd": 0})
    listing = f"/api/webtask/{container}"
    assert server.client.get(listing, headers=server.auth(child)).status_code == 200
    revoke = server.client.post(
        "/api/tokens/revoke", params={"token": child}, headers=server.auth(parent)
    )
    assert revoke.status_code == 200
    for token in (child, grandchild):
        refused = server.client.get(listing, params={"key": token})
        assert refused.status_code == 401
        assert refused.json()["message"] == "Token has been revoked."
    assert server.client.get(listing, headers=server.auth(parent)).status_code == 200


def test_revoke_rules_and_body_forms(server: Server) -> None:
    container = fresh()
    profile = issued(server, server.admin_token, {"ten": container, "dd": 1})
    keep = issued(server, profile, {"dr": 1})
    self_revoke = server.client.post(
        "/api/tokens/revoke", params={"token": keep}, headers=server.auth(keep)
    )
    assert self_revoke.status_code == 403
    assert "may not revoke itself" in self_revoke.json()["message"]
    stranger = issued(server, server.admin_token, {"ten": fresh(), "dd": 1})
    other = server.client.post(
        "/api/tokens/revoke", params={"token": keep}, headers=server.auth(stranger)
    )
    assert other.status_code == 403
    by_json = server.client.post(
        "/api/tokens/revoke", json={"token": keep}, headers=server.auth(profile)
    )
    assert by_json.status_code == 200
    loose = issued(server, profile, {})
    by_form = server.client.post(
        "/api/tokens/revoke", data={"token": loose}, headers=server.auth(loose)
    )
    assert by_form.status_code == 200
    assert server.client.get(f"/api/webtask/{container}", params={"key": loose}).status_code == 401
    malformed = server.client.post(
        "/api/tokens/revoke", params={"token": "nope"}, headers=server.auth(profile)
    )
    assert malformed.status_code == 400


def test_inspect_rules(server: Server) -> None:
    container = fresh()
    profile = issued(server, server.admin_token, {"ten": container, "dd": 1})
    unrelated = issued(server, server.admin_token, {"ten": fresh(), "dd": 1})
    child = issued(server, profile, {"ectx": {"k": "v"}, "pctx": {"p": "1"}, "exp": "4000000000"})
    seen = inspect(server, profile, child, decrypt="true").json()
    assert seen["ectx"] == {"k": "v"}
    assert seen["pctx"] == {"p": "1"}
    assert seen["exp"] == 4000000000
    assert inspect(server, unrelated, child).status_code == 403
    carrier = inspect(server, child, child)
    assert carrier.status_code == 403
    assert "carries code or secrets" in carrier.json()["message"]
    # A second profile of the same container may inspect its named webtasks (wt update needs it).
    put = server.put(container, "shared", PLAIN, secrets={"s": "1"}, token=profile)
    colleague = server.cli("token", "create", "--container", container).strip()
    named = inspect(server, colleague, put.json()["token"], decrypt="1", meta="1", fetch_code="1")
    assert named.status_code == 200
    body = named.json()
    assert body["ectx"] == {"s": "1"}
    assert body["code"] == PLAIN
    assert body["webtask_url"] == f"{server.url}/api/run/{container}/shared"
    assert "meta" not in body  # empty meta is left out
    missing = server.client.get("/api/tokens/inspect", headers=server.auth(profile))
    assert missing.status_code == 400


def test_time_window_of_issued_tokens(server: Server) -> None:
    container = fresh()
    listing = f"/api/webtask/{container}"
    later = issued(server, server.admin_token, {"ten": container, "nbf": int(time.time()) + 3600})
    assert server.client.get(listing, params={"key": later}).status_code == 401
    past = issued(server, server.admin_token, {"ten": container, "exp": "1000"})
    expired = server.client.get(listing, params={"key": past})
    assert expired.status_code == 401
    assert expired.json()["message"] == "Token has expired."
    bad = issue(server, server.admin_token, {"ten": container, "exp": 5, "nbf": 9})
    assert bad.status_code == 400


def test_enabling_a_hook_disables_the_other_of_its_type(server: Server) -> None:
    container = fresh()
    for name in ("one", "two"):
        assert server.put(container, name, SEED_PY, meta=hook_meta("s")).status_code == 200
    other_type = {**hook_meta("s"), "auth0-extension-name": "pre-user-registration"}
    other_type["wt-compiler"] = hook_meta("s")["wt-compiler"]
    assert server.put(container, "three", SEED_PY, meta=other_type).status_code == 200
    metas = {
        item["name"]: item["meta"]
        for item in server.client.get(f"/api/webtask/{container}", headers=server.auth()).json()
    }
    assert metas["one"]["auth0-extension-disabled"] == "1"
    assert "auth0-extension-disabled" not in metas["two"]
    assert "auth0-extension-disabled" not in metas["three"]


@pytest.fixture
def log_lines(server: Server) -> Iterator[tuple[str, list[bytes]]]:
    """A raw SSE reader of a fresh container's log stream: (container, chunks so far)."""
    container = fresh()
    token = server.cli("token", "create", "--container", container).strip()
    chunks: list[bytes] = []
    opened = threading.Event()
    client = httpx.Client(timeout=30)

    def read() -> None:
        try:
            with client.stream(
                "GET",
                f"{server.url}/api/logs/tenant/{container}",
                params={"key": token},
                headers={"Accept": "text/event-stream"},
            ) as response:
                if response.headers["content-type"].startswith("text/event-stream"):
                    opened.set()
                for chunk in response.iter_raw():
                    chunks.append(chunk)
        except httpx.HTTPError:
            pass  # the fixture closed the client

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert opened.wait(10)
    try:
        yield container, chunks
    finally:
        client.close()
        reader.join(15)


def _records(chunks: list[bytes], until: str, timeout: float = 15) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stream = b"".join(chunks)
        events = [block for block in stream.split(b"\n\n") if block]
        records = [json.loads(block[5:]) for block in events if block.startswith(b"data:{")]
        if any(until in record["msg"] for record in records):
            return records
        time.sleep(0.05)
    raise AssertionError(f"no record with {until!r}: {b''.join(chunks)!r}")


def test_log_stream_framing_and_lines(server: Server, log_lines: tuple[str, list[bytes]]) -> None:
    container, chunks = log_lines
    code = "def f(ctx, cb):\n    print('out: ' + ctx.query['x'])\n    cb(Exception('nope'))\n"
    assert server.put(container, "talk", code).status_code == 200
    assert server.client.get(f"/api/run/{container}/talk", params={"x": "1"}).status_code == 400
    records = _records(chunks, "talk: finished in")
    stream = b"".join(chunks)
    assert stream.startswith(b"event:ping\ndata:{}\n\n")
    assert b"\r" not in stream
    for block in stream.split(b"\n\n")[1:-1]:
        assert block.startswith(b"data:{")
        assert b"\n" not in block
    messages = [record["msg"] for record in records]
    assert messages == ["talk: start", "out: 1", "talk: the rule failed: nope", messages[3]]
    assert messages[3].startswith("talk: finished in ")
    printed = records[1]
    assert printed["name"] == "sandbox-logs"
    assert printed["sandbox"] is True
    assert printed["container"] == container
    assert {"v", "level", "hostname", "pid", "time", "req_id"} <= set(printed)
    assert len({record["req_id"] for record in records}) == 1
    assert records[2]["level"] == 40
    assert isinstance(records[3]["duration_ms"], float)


def test_log_stream_reports_kills(server: Server, log_lines: tuple[str, list[bytes]]) -> None:
    container, chunks = log_lines
    assert (
        server.put(container, "spin", "def f(cb):\n    while True:\n        pass\n").status_code
        == 200
    )
    assert server.client.get(f"/api/run/{container}/spin").status_code == 500
    killed = [r for r in _records(chunks, "worker killed") if r.get("killed")]
    assert len(killed) == 1
    assert killed[0]["level"] == 50
    # A busy loop meets the CPU limit and the wall clock at about the same time: either kill.
    assert (
        "exceeded allowed execution time" in killed[0]["msg"]
        or "used up its CPU time limit" in killed[0]["msg"]
    )


def test_log_stream_needs_a_token_for_the_container(server: Server) -> None:
    container = fresh()
    url = f"/api/logs/tenant/{container}"
    assert server.client.get(url).status_code == 401
    other = server.cli("token", "create", "--container", fresh()).strip()
    assert server.client.get(url, params={"key": other}).status_code == 403


def test_webtask_tokens_cannot_manage_their_container(server: Server) -> None:
    """A rule can see its own token (ctx.token): it must not open other webtasks' secrets."""
    container = fresh()
    secret_put = server.put(container, "vault", "def f(cb):\n    cb(None, 1)\n", secrets={"K": "v"})
    assert secret_put.status_code == 200
    mine = server.put(container, "mine", "def f(ctx, cb):\n    cb(None, ctx.token)\n")
    token = mine.json()["token"]
    assert server.client.get(f"/api/run/{container}/mine").json() == token
    headers = server.auth(token)
    for method, path in [
        ("GET", f"/api/webtask/{container}/vault?decrypt=true"),
        ("GET", f"/api/webtask/{container}"),
        ("DELETE", f"/api/webtask/{container}/vault"),
        ("GET", f"/api/webtask/{container}/vault/data"),
        ("GET", f"/api/logs/tenant/{container}"),
        ("GET", f"/api/cron/{container}"),
    ]:
        answer = server.client.request(method, path, headers=headers)
        assert answer.status_code == 403, (method, path, answer.text)
        assert "webtask token" in answer.json()["message"]
    assert (
        server.client.get(f"/api/webtask/{container}/mine/data", headers=headers).status_code == 200
    )
