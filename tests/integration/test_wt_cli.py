"""The real wt-cli 11.0.2 against a real server: profiles, webtasks, logs, tokens, Auth0 hooks.

Rules are Python (JavaScript rules come with the compilers issue). Each test owns a container.
"""

from __future__ import annotations

import json
import stat
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests.integration.server import ROOT, SEED_BODY, SEED_PY, Server
from tests.integration.wt import WtCli, ensure_wt_cli

pytestmark = pytest.mark.integration

CLIENT_CREDENTIALS = "auth0-ext-compilers/client-credentials-exchange"

HELLO_PY = """\
def hello(ctx, cb):
    cb(None, {'hello': ctx.secrets['who'], 'team': ctx.meta['team']})
"""
HELLO2_PY = """\
def hello(ctx, cb):
    cb(None, {'v': 2, 'hello': ctx.secrets['who'], 'team': ctx.meta['team']})
"""


@pytest.fixture(scope="module")
def wt_bin() -> Path:
    return ensure_wt_cli()


@pytest.fixture
def container() -> str:
    return f"wt-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_wt(wt_bin: Path, server: Server, tmp_path: Path) -> Callable[[str], tuple[WtCli, str]]:
    """``make(container)``: an initialized wt profile with a fresh container token."""

    def make(container: str) -> tuple[WtCli, str]:
        token = server.cli("token", "create", "--container", container).strip()
        cli = WtCli(tmp_path / f"home-{container}")
        init = cli.wt("init", "--url", server.url, "--token", token, "--container", container)
        assert "Welcome to webtasks!" in init.stdout
        return cli, token

    return make


@pytest.fixture
def wt(make_wt: Callable[[str], tuple[WtCli, str]], container: str) -> WtCli:
    cli, _ = make_wt(container)
    return cli


def claims_of(token: str) -> dict[str, Any]:
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "HS256", "kid": header["kid"]}
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def admin_get(server: Server, path: str, **params: str) -> httpx.Response:
    return server.client.get(path, params=params, headers=server.auth())


def test_wt_init_writes_a_private_v1_profile(
    wt_bin: Path, server: Server, tmp_path: Path, container: str
) -> None:
    token = server.cli("token", "create", "--container", container).strip()
    cli = WtCli(tmp_path / "home")
    result = cli.wt("init", "--url", server.url, "--token", token, "--container", container)
    assert "Welcome to webtasks!" in result.stdout
    assert cli.profile() == {"default": {"url": server.url, "token": token, "container": container}}
    assert stat.S_IMODE((cli.home / ".webtask").stat().st_mode) == 0o600
    assert claims_of(token)["dd"] == 1
    profile = cli.wt("profile", "get", "default")
    assert container in profile.stdout
    assert "v1" in profile.stdout or server.url in profile.stdout


def test_create_ls_inspect_update_rm(wt: WtCli, server: Server, container: str) -> None:
    source = wt.write("hello.py", HELLO_PY)
    created = wt.wt(
        "create", str(source), "--name", "hello", "--meta", "team=blue", "--secret", "who=world"
    )
    url = f"{server.url}/api/run/{container}/hello"
    assert "Webtask created" in created.stdout
    assert url in created.stdout

    run = httpx.get(url)
    assert run.status_code == 200
    assert run.json() == {"hello": "world", "team": "blue"}

    stored = admin_get(server, f"/api/webtask/{container}/hello", decrypt="true", fetch_code="1")
    assert stored.status_code == 200
    body = stored.json()
    assert body["secrets"] == {"who": "world"}
    assert body["meta"] == {"team": "blue"}
    assert body["code"] == HELLO_PY
    claims = claims_of(body["token"])
    profile_jti = claims_of(str(wt.profile()["default"]["token"]))["jti"]  # type: ignore[index]
    assert claims["ten"] == container
    assert claims["jtn"] == "hello"
    assert (claims["dd"], claims["dr"], claims["mb"], claims["pb"]) == (0, 1, 1, 2)
    assert claims["ca"] == [profile_jti]
    assert claims["url"] == f"webtask://localhost/api/data/code/{container}%2Fhello"
    assert isinstance(claims["ectx"], str)
    assert "world" not in body["token"]
    assert "code" not in claims

    other = wt.write("other.py", "def other(cb):\n    cb(None, 'x')\n")
    wt.wt("create", str(other), "--meta", "team=red")
    listed = wt.wt("ls")
    assert [line.split()[1] for line in listed.stdout.splitlines() if line.startswith("Name:")] == [
        "hello",
        "other",
    ]
    assert f"URL:         {url}" in listed.stdout
    assert "Successfully listed named webtasks 1 to 2." in listed.stdout
    only = wt.wt("ls", "--meta", "team=red", "--verbose")
    assert "Name:        other" in only.stdout
    assert "hello" not in only.stdout
    assert "Meta.team:   red" in only.stdout

    inspected = wt.wt("inspect", "hello", "--decrypt", "--fetch-code")
    lines = inspected.stdout.splitlines()
    assert "Token.ectx:  { who: 'world' }" in lines
    assert "Token.jtn:   hello" in lines
    assert f"Token.ten:   {container}" in lines
    assert f"Token.webtask_url: {url}" in lines
    assert "Meta.team:   blue" in lines
    assert "def hello(ctx, cb):" in inspected.stdout

    update = wt.write("hello2.py", HELLO2_PY)
    updated = wt.wt("update", "hello", str(update))
    assert "Webtask updated" in updated.stdout
    assert httpx.get(url).json() == {"v": 2, "hello": "world", "team": "blue"}
    after = admin_get(server, f"/api/webtask/{container}/hello", decrypt="true").json()
    assert after["secrets"] == {"who": "world"}
    assert after["meta"] == {"team": "blue"}

    removed = wt.wt("rm", "hello")
    assert "Removed webtask: hello" in removed.stdout
    again = wt.wt("rm", "hello", ok=False)
    assert again.returncode == 5
    assert "No such webtask: hello" in again.stderr
    assert httpx.get(url).status_code == 404
    assert admin_get(server, f"/api/webtask/{container}/hello").status_code == 404


def test_create_with_bad_code_reports_the_servers_message(wt: WtCli) -> None:
    source = wt.write("broken.py", "def f(cb):\n    cb(None, {\n")
    result = wt.wt("create", str(source), ok=False)
    assert result.returncode != 0
    assert "line 2" in result.stderr + result.stdout


def test_logs_show_what_the_rule_printed(wt: WtCli, server: Server, container: str) -> None:
    marker = f"marker-{uuid.uuid4().hex[:8]}"
    source = wt.write("noisy.py", f"def noisy(cb):\n    print('{marker}')\n    cb(None, 1)\n")
    wt.wt("create", str(source))
    with wt.stream("logs") as logs:
        logs.wait_for("connected to streaming logs")
        # The server subscribes before it answers, so one call is enough.
        assert httpx.get(f"{server.url}/api/run/{container}/noisy").json() == 1
        assert marker in logs.wait_for(marker)
        assert "noisy: finished in" in logs.wait_for("noisy: finished in")
        assert logs.proc.poll() is None  # the stream stays open


def test_token_create_inspect_and_revoke(wt: WtCli, server: Server, container: str) -> None:
    created = wt.wt("token", "create", "--exp", "2000000000", "--lm", "10", "--ectx", "k=v")
    token = created.stdout.strip()
    claims = claims_of(token)
    assert claims["exp"] == 2000000000
    assert claims["lm"] == 10
    assert claims["ten"] == container
    assert claims["dd"] == 0
    assert isinstance(claims["ectx"], str)

    inspected = wt.wt("inspect", token, "--decrypt")
    lines = inspected.stdout.splitlines()
    assert "Token.exp:   2000000000" in lines
    assert "Token.ectx:  { k: 'v' }" in lines
    assert f"Token.ten:   {container}" in lines

    # A profile-shaped child can list the container until it is revoked.
    child = wt.wt("token", "create", "--claims", json.dumps({"ten": container})).stdout.strip()
    url = f"/api/webtask/{container}"
    assert server.client.get(url, headers=server.auth(child)).status_code == 200
    revoked = wt.wt("token", "revoke", child)
    assert "Token revoked." in revoked.stdout
    refused = server.client.get(url, headers=server.auth(child))
    assert refused.status_code == 401
    assert refused.json()["message"] == "Token has been revoked."


def test_token_create_with_jtn_makes_the_same_named_webtask(
    wt: WtCli, server: Server, container: str
) -> None:
    code = "def f(ctx, cb):\n    cb(None, {'k': ctx.secrets['k']})\n"
    token = wt.wt("token", "create", "--jtn", "made", "--code", code, "--ectx", "k=v").stdout
    assert claims_of(token.strip())["jtn"] == "made"
    assert httpx.get(f"{server.url}/api/run/{container}/made").json() == {"k": "v"}
    listed = wt.wt("ls").stdout
    assert "Name:        made" in listed
    got = admin_get(server, f"/api/webtask/{container}/made", fetch_code="1").json()
    assert got["token"] == token.strip()
    assert got["code"] == code


def test_token_create_cannot_escape_the_profile(wt: WtCli) -> None:
    result = wt.wt("token", "create", "--ten", "someone-else", ok=False)
    assert result.returncode == 6
    assert "does not grant access to container 'someone-else'" in result.stderr
    deep = wt.wt("token", "create", "--dd", "1", ok=False)
    assert "dd below 1" in deep.stderr


def test_auth0_hooks_create_ls_enable_disable(wt: WtCli, server: Server, container: str) -> None:
    hook = wt.write("hook.py", SEED_PY)
    plain = wt.write("plain.py", "def plain(cb):\n    cb(None, 1)\n")
    # Not a hook and without meta: had the server ignored the list filters, `auth0 enable`
    # would crash on it (wt reads `meta['auth0-extension-disabled']` of every listed webtask).
    wt.wt("create", str(plain))

    created = wt.auth0("create", "-t", "credentials-exchange", "--name", "cce", str(hook))
    assert "Auth0 hook created in disabled state." in created.stdout
    assert "$ auth0 enable cce" in created.stdout
    meta = admin_get(server, f"/api/webtask/{container}/cce").json()["meta"]
    secret = meta["auth0-extension-secret"]
    assert len(secret) == 64
    assert meta["auth0-extension"] == "runtime"
    assert meta["auth0-extension-name"] == "credentials-exchange"
    assert meta["auth0-extension-disabled"] == "1"
    assert meta["wt-compiler"] == CLIENT_CREDENTIALS  # auth0-hooks-templates' default

    listed = wt.auth0("ls")
    assert listed.stdout.splitlines()[:2] == ["credentials-exchange", "  cce"]
    assert "plain" not in listed.stdout

    enabled = wt.auth0("enable", "cce")
    assert "Enabling hook cce." in enabled.stdout
    assert "The cce (credentials-exchange) hook has been enabled." in enabled.stdout
    assert "  cce (enabled)" in wt.auth0("ls", "-t", "credentials-exchange").stdout
    stored = admin_get(server, f"/api/webtask/{container}/cce", decrypt="true").json()
    assert "auth0-extension-disabled" not in stored["meta"]
    assert stored["secrets"] == {"auth0-extension-secret": secret}
    assert stored["meta"]["auth0-extension-secret"] == secret

    run = server.client.post(
        f"/api/run/{container}/cce", json=SEED_BODY, headers={"Authorization": f"Bearer {secret}"}
    )
    assert run.json()["data"] == {"https://foo.com/claim": "bar", "scope": ["read:sample", "extra"]}

    wt.auth0("create", "-t", "credentials-exchange", "--name", "cce2", str(hook))
    second = wt.auth0("enable", "cce2")
    assert "Disabling hook cce." in second.stdout
    assert "Enabling hook cce2." in second.stdout
    hooks_listed = wt.auth0("ls").stdout
    assert "  cce2 (enabled)" in hooks_listed
    assert "  cce\n" in hooks_listed + "\n"

    already = wt.auth0("enable", "cce2")
    assert "The cce2 (credentials-exchange) hook is already enabled." in already.stdout
    disabled = wt.auth0("disable", "cce2")
    assert "The cce2 (credentials-exchange) hook has been disabled." in disabled.stdout
    assert "(enabled)" not in wt.auth0("ls").stdout

    # Updating a hook keeps its secret and its (disabled) state.
    updated = wt.auth0("create", "-t", "credentials-exchange", "--name", "cce", str(hook))
    assert "Auth0 hook updated in disabled state." in updated.stdout
    again = admin_get(server, f"/api/webtask/{container}/cce").json()["meta"]
    assert again["auth0-extension-secret"] == secret

    assert "meta" not in admin_get(server, f"/api/webtask/{container}/plain").json()


def test_seed_myrule_js_created_with_wt_runs_byte_for_byte(
    wt: WtCli, server: Server, container: str
) -> None:
    """Issue 5's command verbatim: `wt create myrule.js --meta ... --secret ...`."""
    secret = "5eed" * 16
    source = wt.write("myrule.js", (ROOT / "examples" / "seed" / "myrule.js").read_text())
    created = wt.wt(
        "create",
        str(source),
        "--meta", "wt-compiler=auth0-ext-compilers/password-exchange",
        "--meta", "auth0-extension=runtime",
        "--meta", "auth0-extension-name=password-exchange",
        "--meta", f"auth0-extension-secret={secret}",
        "--secret", f"auth0-extension-secret={secret}",
    )  # fmt: skip
    url = f"{server.url}/api/run/{container}/myrule"
    assert url in created.stdout
    body = {"client": {"id": "c"}, "scope": ["read:sample"], "audience": "https://someapi.com/api"}
    run = httpx.post(url, json=body, headers={"Authorization": f"Bearer {secret}"})
    assert run.content == (
        b'{"statusCode":200,"headers":{},"status":"success",'
        b'"data":{"https://foo.com/claim":"bar","scope":["read:sample","extra"]}}'
    )
    denied = httpx.post(url, json=body, headers={"Authorization": "Bearer nope"})
    assert denied.json()["data"]["message"] == "Unauthorized extensibility point"
