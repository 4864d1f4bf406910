"""The plain webtask programming model over HTTP, for Python and JavaScript rules (issue 7).

The first part ports webtask-runtime 2.0.0's own test suite, test by test (its
``test/compilation.js``, ``model.js``, ``serving.js``, ``simulation.js`` and ``storage.js``):
the same code (its fixtures, and a Python rule doing the same) and the same observable outcome.
RT's ``simulate(code)`` maps to an unnamed run (``POST /api/run/{c}`` with the code), its
``createServer(code)`` to a named webtask; its storage file and ``initialStorageData`` map to
``PUT /api/webtask/{c}/{n}/data``.

``EXACT`` cases pin whole answers byte for byte (status, indentation, field order);
``test_exact_cases_are_the_reference_answers`` re-derives them from the real npm package when
``WEBTASK_RUNTIME_NODE_MODULES`` names a ``node_modules`` folder holding webtask-runtime 2.0.0
(``npm install webtask-runtime@2.0.0``); otherwise the test installs it into ``.cache/npm-ref``.

The rest covers what the suite leaves out: ``ctx`` and ``req`` in detail, streaming, storage
conflicts and its HTTP API, and unnamed runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.reference import reference_node_modules
from tests.integration.server import Server

pytestmark = pytest.mark.integration

LANGS = ["python", "javascript"]
ORACLE = Path(__file__).with_name("webtask_oracle.js")
HELLO = b'"hello world"'


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def named(
    server: Server,
    container: str,
    name: str,
    code: str,
    *,
    pb: int | None = None,
    mb: int | None = None,
    secrets: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    meta: dict[str, str] | None = None,
) -> str:
    """Create a named webtask as ``wt create`` does (an issue with ``jtn``); its token."""
    claims: dict[str, Any] = {"ten": container, "jtn": name, "code": code, "dd": 0}
    for key, value in (("pb", pb), ("mb", mb), ("ectx", secrets), ("pctx", params)):
        if value is not None:
            claims[key] = value
    if meta is not None:
        claims["meta"] = meta
    response = server.client.post("/api/tokens/issue", json=claims, headers=server.auth())
    assert response.status_code == 200, response.text
    return response.text


def run(server: Server, container: str, name: str, path: str = "", **kw: Any) -> httpx.Response:
    method = kw.pop("method", "GET")
    return server.client.request(method, f"/api/run/{container}/{name}{path}", **kw)


def run_code(server: Server, container: str, code: str, **kw: Any) -> httpx.Response:
    """An unnamed run of ``code`` (RT's ``simulate(code)``)."""
    headers = {**server.auth(), **kw.pop("headers", {})}
    return server.client.post(f"/api/run/{container}", content=code.encode(), headers=headers, **kw)


def pick(lang: str, python: str, javascript: str) -> str:
    return python if lang == "python" else javascript


# --- RT fixtures and their Python counterparts ---------------------------------------------

EXPORTS = {
    1: (
        "def hello(cb):\n    cb(None, 'hello world')\n",
        "module.exports = function (cb) {\n    cb(null, 'hello world');\n};",
    ),
    2: (
        "def hello(ctx, cb):\n    cb(None, 'hello world')\n",
        "module.exports = function (ctx, cb) {\n    cb(null, 'hello world');\n};",
    ),
    3: (
        "def hello(ctx, req, res):\n"
        "    res.writeHead(200, {'content-type': 'application/json'})\n"
        "    res.end(json.dumps('hello world'))\n",
        "module.exports = function (ctx, req, res) {\n"
        "    res.writeHead(200, {\n        'content-type': 'application/json',\n    });\n"
        "    res.end(JSON.stringify('hello world', null, 2));\n};",
    ),
}
# RT's ``return function`` form; Python's counterpart binds ``exports`` among other functions.
RETURNS = {
    1: (
        "def unused():\n    pass\n\ndef hello(cb):\n    cb(None, 'hello world')\n\n"
        "exports = hello\n",
        "return function (cb) {\n    cb(null, 'hello world');\n};",
    ),
    2: (
        "def unused():\n    pass\n\ndef hello(ctx, cb):\n    cb(None, 'hello world')\n\n"
        "exports = hello\n",
        "return function (ctx, cb) {\n    cb(null, 'hello world');\n};",
    ),
    3: (
        "def unused():\n    pass\n\ndef hello(ctx, req, res):\n"
        "    res.write_head(200, {'content-type': 'application/json'})\n"
        "    res.end(json.dumps('hello world'))\n\nexports = hello\n",
        "return function (ctx, req, res) {\n"
        "    res.writeHead(200, {\n        'content-type': 'application/json',\n    });\n"
        "    res.end(JSON.stringify('hello world', null, 2));\n};",
    ),
}
FOUR_ARGS = (
    "def hello(ctx, req, res, bogus):\n    res.end('\"hello world\"')\n",
    "/* eslint-disable no-unused-vars */\nmodule.exports = function (ctx, req, res, bogus) {\n"
    "    res.writeHead(200, {\n        'content-type': 'application/json',\n    });\n"
    "    res.end(JSON.stringify('hello world', null, 2));\n};",
)
JUNK = ("exports = 'junk'\n", "module.exports = 'junk';")
ECHO_SERVER = (
    "def echo(ctx, req, res):\n"
    "    res.writeHead(200, {'Content-Type': 'application/json'})\n"
    "    res.end(json.dumps({'url': req.url, 'method': req.method, 'body': req.get('body'),\n"
    "        'query': req.query, 'secrets': ctx.secrets, 'meta': ctx.meta,\n"
    "        'params': ctx.params}))\n",
    "module.exports = function (ctx, req, res) {\n"
    "    res.writeHead(200, { 'Content-Type': 'application/json' });\n"
    "    res.end(JSON.stringify({\n        url: req.url,\n        method: req.method,\n"
    "        body: req.body,\n        query: req.query,\n        secrets: ctx.secrets,\n"
    "        meta: ctx.meta,\n        params: ctx.params,\n    }, null, 2));\n};",
)
STORAGE_SET_QUERY = (
    "def rule(ctx, cb):\n"
    "    initial = ctx.storage.etag\n"
    "    data = ctx.storage.get()\n"
    "    after_read = ctx.storage.etag\n"
    "    ctx.storage.set(ctx.query)\n"
    "    cb(None, {'data': data, 'etag': ctx.storage.etag, 'initialEtag': initial,\n"
    "              'afterReadEtag': after_read})\n",
    "module.exports = function (ctx, cb) {\n"
    "    const initialEtag = ctx.storage.etag;\n"
    "    ctx.storage.get((err, data) => {\n"
    "        if (err) return cb(err);\n"
    "        const afterReadEtag = ctx.storage.etag;\n"
    "        ctx.storage.set(ctx.query, err => {\n"
    "            if (err) return cb(err);\n"
    "            cb(null, { data, etag: ctx.storage.etag, initialEtag, afterReadEtag });\n"
    "        });\n"
    "    });\n"
    "};",
)
STORAGE_GET = (
    "def rule(ctx, cb):\n    cb(None, {'data': ctx.storage.get()})\n",
    "module.exports = function (ctx, cb) {\n"
    "    ctx.storage.get((err, data) => { if (err) return cb(err); cb(null, { data }); });\n"
    "};",
)
STORAGE_CLICKS = (
    "def rule(ctx, cb):\n"
    "    data = ctx.storage.get()\n"
    "    if not ctx.query.get('totalClicks'):\n"
    "        return cb(None, {'data': data})\n"
    "    update = {'foo': data['foo'], 'totalClicks': int(ctx.query['totalClicks'])}\n"
    "    ctx.storage.set(update, lambda err, _=None: cb(err, {'data': data}))\n",
    "module.exports = function (ctx, cb) {\n"
    "    ctx.storage.get((err, data) => {\n"
    "        if (err) return cb(err);\n"
    "        if (!ctx.query || !ctx.query.totalClicks) return cb(null, { data });\n"
    "        const update = { foo: data.foo, totalClicks: parseInt(ctx.query.totalClicks, 10) };\n"
    "        ctx.storage.set(update, err => { if (err) return cb(err); cb(null, { data }); });\n"
    "    });\n"
    "};",
)


# --- test/compilation.js -------------------------------------------------------------------


@pytest.mark.parametrize("arity", [1, 2, 3])
@pytest.mark.parametrize("lang", LANGS)
def test_compiles_an_exported_webtask(server: Server, lang: str, arity: int) -> None:
    """compilation.js: 'will compile an exported webtask (N-argument)'."""
    response = run_code(server, fresh("comp"), pick(lang, *EXPORTS[arity]))
    assert response.status_code == 200
    assert response.content == HELLO


@pytest.mark.parametrize("lang", LANGS)
def test_fails_to_compile_a_four_argument_webtask(server: Server, lang: str) -> None:
    """compilation.js: 'will fail to compile an exported webtask (4-argument)'."""
    response = run_code(server, fresh("comp"), pick(lang, *FOUR_ARGS))
    assert response.status_code == 400
    word = pick(lang, "Python", "JavaScript")
    assert response.json() == {
        "code": 400,
        "details": f"Unable to compile submitted {word}. Error: The {word} function must have "
        "one of the following signatures: ([ctx], callback) or (ctx, req, res).",
    }


@pytest.mark.parametrize("arity", [1, 2, 3])
@pytest.mark.parametrize("lang", LANGS)
def test_compiles_a_returned_webtask_function(server: Server, lang: str, arity: int) -> None:
    """compilation.js: 'will compile a returned webtask function (N-argument)'."""
    response = run_code(server, fresh("comp"), pick(lang, *RETURNS[arity]))
    assert response.status_code == 200
    assert response.content == HELLO


@pytest.mark.parametrize("lang", LANGS)
def test_fails_to_compile_a_webtask_exporting_junk(server: Server, lang: str) -> None:
    """compilation.js: 'will fail to compile a webtask exporting junk'."""
    response = run_code(server, fresh("comp"), pick(lang, *JUNK))
    assert response.status_code == 400
    expected = pick(
        lang,
        "Unable to compile submitted Python. Error: The rule defines no function: define one, "
        "or set exports = <function>.",
        "Unable to compile submitted JavaScript. Error: Supplied code must return or export "
        "a function.",
    )
    assert response.json() == {"code": 400, "details": expected}
    # A named webtask is compiled at upload, so junk never gets stored.
    assert server.put(fresh("comp"), "junk", pick(lang, *JUNK)).status_code == 400


USE_NPM = [
    # 'will fail when the `installModule` callback is not provided'
    ('"use npm";\n\n\nconst Bogus = require(\'bogus\');\n\n\n'
     "module.exports = function (cb) {\n    cb(null, Bogus);\n};", "bogus"),
    # 'will cause the `installModule` callback to be invoked' (wthost installs nothing)
    ('"use npm";\nconst Bogus = require(\'bogus\');\nmodule.exports = cb => cb(null, Bogus);',
     "bogus"),
    # '... invoked for nested expressions'
    ('"use npm";\n\n/* eslint no-console:0 */\n\nconsole.log(require(\'expression\'));\n\n'
     "module.exports = function (cb) {\n    cb(null, {});\n};\n", "expression"),
    # 'will not invoke the `installModule` callback if the directive is modified'
    ('"use astrology";\n\n\nconst Bogus = require(\'bogus\');\n\n\n'
     "module.exports = function (cb) {\n    cb(null, Bogus);\n};", "bogus"),
    # 'will rewrite the source code for version-specific requires'
    ('"use npm";\n\n\nconst Bogus = require(\'bogus@1.0.0\');\n\n\n'
     "module.exports = function (cb) {\n    cb(null, Bogus);\n};", "bogus"),
]  # fmt: skip


@pytest.mark.parametrize(("code", "module"), USE_NPM, ids=[f"use-npm-{i}" for i in range(5)])
def test_use_npm_modules_are_not_found(server: Server, code: str, module: str) -> None:
    """compilation.js, 'The "use npm" directive': every case ends in "Cannot find module"
    (wthost has no npm: nothing is ever installed)."""
    response = run_code(server, fresh("npm"), code)
    assert response.status_code == 400
    body = response.json()
    assert body["error"].startswith(
        f"Unable to compile submitted JavaScript: Error: Cannot find module '{module}'"
    )
    assert body["name"] == "Error"
    assert body["message"].startswith(f"Cannot find module '{module}':")


def test_python_imports_fail_to_compile(server: Server) -> None:
    """The Python counterpart of "use npm": a rule that imports does not load."""
    code = "import bogus\n\ndef hello(cb):\n    cb(None, bogus)\n"
    response = run_code(server, fresh("npm"), code)
    assert response.status_code == 400
    assert response.json() == {
        "code": 400,
        "error": "Unable to compile submitted Python: ImportError: __import__ not found",
        "details": "ImportError: __import__ not found",
        "name": "ImportError",
        "message": "__import__ not found",
    }


# --- test/model.js -------------------------------------------------------------------------

BODY_ECHO = (
    "def f(ctx, cb):\n    cb(None, ctx.get('body'))\n",
    "module.exports = (ctx, cb) => cb(null, ctx.body);",
)


@pytest.mark.parametrize("lang", LANGS)
def test_webtask_pb_parses_the_body(server: Server, lang: str) -> None:
    """model.js: 'will correctly respond to webtask_pb=1 in the query parameters'."""
    container = fresh("model")
    named(server, container, "always", pick(lang, *BODY_ECHO), pb=1)
    response = run(server, container, "always", method="POST", json={"hello": "world"})
    assert response.status_code == 200
    assert response.json() == {"hello": "world"}
    # pb 0 never parses, unless the request asks with ?webtask_pb=1.
    named(server, container, "never", pick(lang, *BODY_ECHO), pb=0)
    unparsed = run(server, container, "never", method="POST", json={"hello": "world"})
    assert unparsed.content == b"{}"
    forced = run(
        server, container, "never", "?webtask_pb=1", method="POST", json={"hello": "world"}
    )
    assert forced.json() == {"hello": "world"}


@pytest.mark.parametrize("lang", LANGS)
def test_fails_with_malformed_code(server: Server, lang: str) -> None:
    """model.js: 'fails with malformed javascript'."""
    code = pick(lang, "def malformed(cb)\n    cb(None, 1)\n", "malformed javascript")
    response = run_code(server, fresh("model"), code)
    assert response.status_code == 400
    word = pick(lang, "Python", "JavaScript")
    body = response.json()
    assert body["error"].startswith(f"Unable to compile submitted {word}: SyntaxError: ")
    assert body["details"] == body["error"].removeprefix(f"Unable to compile submitted {word}: ")
    assert body["name"] == "SyntaxError"
    assert "(line 1, column " in body["message"]


def test_fails_with_requests_that_are_too_large(make_server: Callable[..., Server]) -> None:
    """model.js: 'fails with requests that are too large' (WTHOST_MAX_BODY_BYTES here)."""
    small = make_server(WTHOST_MAX_BODY_BYTES="1024")
    payload = "0" * (500 * 1024)
    for lang in LANGS:
        code = pick(lang, "def f(ctx, cb):\n    cb(None, ctx.body_raw)\n", "")
        code = code or "module.exports = (ctx, cb) => cb(null, ctx.raw_body);"
        named(small, "big", lang, code, pb=1)
        response = run(small, "big", lang, method="POST", content=payload)
        assert response.status_code == 400
        assert response.json() == {
            "code": 400,
            "error": "Script exceeds the size limit.",
            "details": "Error: Script exceeds the size limit of 1024.",
            "name": "Error",
            "message": "Script exceeds the size limit of 1024.",
        }
    unnamed = run_code(small, "big", "module.exports = cb => cb(null, 1);" + " " * 2000)
    assert unnamed.status_code == 400
    assert unnamed.json()["error"] == "Script exceeds the size limit."


def test_exposes_secrets_using_the_module_webtask_api(server: Server) -> None:
    """model.js: 'exposes secrets using the module.webtask api' (JavaScript's module object)."""
    code = (
        "\n            const secrets = module.webtask.secrets;\n\n"
        "            module.exports = (cb) => cb(null, { secrets });\n        "
    )
    container = fresh("model")
    named(server, container, "secrets", code, secrets={"key": "value"}, pb=1)
    response = run(server, container, "secrets")
    assert response.status_code == 200
    assert response.content == json.dumps({"secrets": {"key": "value"}}).replace(" ", "").encode()


def test_exposes_meta_using_the_module_webtask_api(server: Server) -> None:
    """model.js: 'exposes meta using the module.webtask api'."""
    code = (
        "\n            const meta = module.webtask.meta;\n\n"
        "            module.exports = (cb) => cb(null, { meta });\n        "
    )
    container = fresh("model")
    named(server, container, "meta", code, meta={"key": "value"}, pb=1)
    response = run(server, container, "meta")
    assert response.status_code == 200
    assert response.content == b'{"meta":{"key":"value"}}'


# --- test/serving.js -----------------------------------------------------------------------


@pytest.mark.parametrize("arity", [1, 2, 3])
@pytest.mark.parametrize("lang", LANGS)
def test_serves_an_exported_webtask(server: Server, lang: str, arity: int) -> None:
    """serving.js: 'will run an exported webtask (N-argument)'."""
    container = fresh("serve")
    assert server.put(container, "hello", pick(lang, *EXPORTS[arity])).status_code == 200
    response = run(server, container, "hello")
    assert response.status_code == 200
    assert response.content == HELLO


def test_serving_supports_the_module_webtask_api(server: Server) -> None:
    """serving.js: 'supports the module.webtask api when serving webtasks'."""
    code = (
        "\n            const secrets = module.webtask.secrets;\n"
        "            const meta = module.webtask.meta;\n\n"
        "            module.exports = (cb) => cb(null, { secrets, meta });\n        "
    )
    container = fresh("serve")
    secrets, meta = {"key": "value"}, {"key": "value"}
    assert server.put(container, "api", code, secrets=secrets, meta=meta).status_code == 200
    response = run(server, container, "api")
    assert response.status_code == 200
    assert response.content == b'{"secrets":{"key":"value"},"meta":{"key":"value"}}'
    # The values are the webtask's own: another webtask with the same code sees its own.
    assert server.put(container, "api2", code, secrets={"key": "other"}).status_code == 200
    assert run(server, container, "api2").json() == {"secrets": {"key": "other"}, "meta": {}}


@pytest.mark.parametrize("lang", LANGS)
def test_runs_a_webtask_once_per_request(server: Server, lang: str) -> None:
    """serving.js: 'will only run a webtask once per request'."""
    code = pick(
        lang,
        "seen = []\n\ndef count(cb):\n    seen.append(1)\n    cb(None, len(seen))\n",
        "let count = 0;\nmodule.exports = (cb) => { count++; cb(null, count); };",
    )
    container = fresh("serve")
    assert server.put(container, "once", code).status_code == 200
    response = run(server, container, "once")
    assert response.status_code == 200
    assert response.content == b"1"


# --- test/simulation.js --------------------------------------------------------------------


@pytest.mark.parametrize("arity", [1, 2, 3])
@pytest.mark.parametrize("lang", LANGS)
def test_executes_basic_requests(server: Server, lang: str, arity: int) -> None:
    """simulation.js: 'will execute basic requests (N argument)'."""
    response = run_code(server, fresh("sim"), pick(lang, *EXPORTS[arity]), params={"x": "1"})
    assert response.status_code == 200
    assert response.content == HELLO


@pytest.mark.parametrize("lang", LANGS)
def test_simulates_a_post_with_a_json_body_without_parsing(server: Server, lang: str) -> None:
    """simulation.js: 'will correctly simulate a POST request with a JSON body (parseBody:
    false)'. ``req.url`` keeps the ``/api/run/{c}/{n}`` prefix."""
    container = fresh("sim")
    named(
        server,
        container,
        "echo",
        pick(lang, *ECHO_SERVER),
        pb=0,
        secrets={"something": "private"},
        params={"something": "public"},
        meta={"something": "meta"},
    )
    response = run(
        server,
        container,
        "echo",
        "/simulation",
        method="POST",
        params={"hello": "world"},
        json={"goodbye": "moon"},
    )
    assert response.status_code == 200
    payload = response.json()
    assert payload["url"] == f"/api/run/{container}/echo/simulation?hello=world"
    assert payload["method"] == "POST"
    assert payload["query"] == {"hello": "world"}
    assert payload.get("body") is None  # parseBody is false
    assert payload["secrets"] == {"something": "private"}
    assert payload["params"] == {"something": "public"}
    assert payload["meta"] == {"something": "meta"}


# --- test/storage.js -----------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_storage_starts_with_undefined_value_and_etag(server: Server, lang: str) -> None:
    """storage.js: 'will start with undefined value and undefined etag'. Etags are integers
    (1, 2, ...); each request gets a fresh ``ctx.storage``, so ``initialEtag`` is undefined on
    the second request too (RT's test server shares one storage object between requests)."""
    container = fresh("store")
    assert server.put(container, "q", pick(lang, *STORAGE_SET_QUERY)).status_code == 200
    first = run(server, container, "q", params={"store": "this"})
    assert first.status_code == 200
    body = first.json()
    assert body.get("initialEtag") is None
    assert "afterReadEtag" in body
    assert body["afterReadEtag"] is None
    assert body["etag"] == 1
    assert body.get("data") is None
    second = run(server, container, "q").json()
    assert second["afterReadEtag"] == 1
    assert second["etag"] == 2
    assert second["data"] == {"store": "this"}


@pytest.mark.parametrize("lang", LANGS)
def test_storage_of_a_new_webtask_is_empty(server: Server, lang: str) -> None:
    """storage.js: 'will not throw if storageFile is not found'."""
    container = fresh("store")
    assert server.put(container, "get", pick(lang, *STORAGE_GET)).status_code == 200
    response = run(server, container, "get")
    assert response.status_code == 200
    assert response.json().get("data") is None


@pytest.mark.parametrize("lang", LANGS)
def test_storage_reads_data_set_over_http(server: Server, lang: str) -> None:
    """storage.js: 'will not use storageFile if initialData is set' and 'will use the
    storageFile to load the initial data': data PUT over HTTP is what the rule reads."""
    container = fresh("store")
    assert server.put(container, "get", pick(lang, *STORAGE_GET)).status_code == 200
    put = server.client.put(
        f"/api/webtask/{container}/get/data", json={"data": '{"a":"b"}'}, headers=server.auth()
    )
    assert put.status_code == 200
    assert run(server, container, "get").json()["data"]["a"] == "b"
    clicks = json.dumps({"foo": "bar", "totalClicks": 12345}, indent=2)
    put = server.client.put(
        f"/api/webtask/{container}/get/data", json={"data": clicks}, headers=server.auth()
    )
    assert put.json() == {"etag": 2}
    data = run(server, container, "get").json()["data"]
    assert data["foo"] == "bar"
    assert data["totalClicks"] == 12345


@pytest.mark.parametrize("lang", LANGS)
def test_storage_persists_what_the_rule_writes(server: Server, lang: str) -> None:
    """storage.js: 'will persist data to the storageFile'."""
    container = fresh("store")
    assert server.put(container, "clicks", pick(lang, *STORAGE_CLICKS)).status_code == 200
    initial = json.dumps({"foo": "bar", "totalClicks": 12345})
    assert (
        server.client.put(
            f"/api/webtask/{container}/clicks/data", json={"data": initial}, headers=server.auth()
        ).status_code
        == 200
    )
    first = run(server, container, "clicks", params={"totalClicks": "20000"})
    assert first.status_code == 200
    assert first.json()["data"] == {"foo": "bar", "totalClicks": 12345}
    second = run(server, container, "clicks").json()
    assert second["data"] == {"foo": "bar", "totalClicks": 20000}
    stored = server.client.get(f"/api/webtask/{container}/clicks/data", headers=server.auth())
    assert json.loads(stored.json()["data"])["totalClicks"] == 20000
    assert stored.json()["etag"] == 2


# --- Whole answers, byte for byte (checked against webtask-runtime itself) -------------------


@dataclass(frozen=True)
class Exact:
    """One request to a plain webtask and RT's exact answer (JavaScript ``js``; ``python``
    is the same rule in Python, with its own answer where Python names differ)."""

    id: str
    js: str
    status: int
    body: str
    python: str = ""
    python_body: str | None = None
    python_status: int | None = None
    method: str = "GET"
    query: str = ""
    payload: str | None = None
    content_type: str | None = None
    parse_body: int = 2
    merge_body: bool = False
    secrets: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


def _error(
    status: int, error: str, details: Any, name: str | None = None, message: Any = None
) -> str:
    body: dict[str, Any] = {"code": status, "error": error, "details": details}
    if name is not None:
        body["name"] = name
    if message is not None:
        body["message"] = message
    return json.dumps(body, indent=2)


RETURNED = "Script returned an error."
UNHANDLED = "Script generated an unhandled synchronous exception."
ECHO_CTX = (
    "module.exports = (ctx, cb) => cb(null, {data: ctx.data, query: ctx.query,"
    " body: ctx.body, body_raw: ctx.body_raw, params: ctx.params, secrets: ctx.secrets});"
)
ECHO_CTX_PY = (
    "def f(ctx, cb):\n"
    "    keys = ('data', 'query', 'body', 'body_raw', 'params', 'secrets')\n"
    "    cb(None, {key: ctx[key] for key in keys if key in ctx})\n"
)
EXACT = [
    Exact(
        "cb-error",
        "module.exports = cb => cb(new Error('boom'));",
        400,
        _error(400, RETURNED, "Error: boom", "Error", "boom"),
        python="def f(cb):\n    cb(Exception('boom'))\n",
        python_body=_error(400, RETURNED, "Exception: boom", "Exception", "boom"),
    ),
    Exact(
        "cb-error-without-message",
        "module.exports = cb => cb(new TypeError());",
        400,
        _error(400, RETURNED, "TypeError", "TypeError", ""),
        python="def f(cb):\n    cb(TypeError())\n",
    ),
    Exact(
        "cb-string",
        "module.exports = cb => cb('boom');",
        400,
        _error(400, RETURNED, "boom"),
        python="def f(cb):\n    cb('boom')\n",
    ),
    Exact(
        "cb-object",
        "module.exports = cb => cb({ a: 1, message: 'm' });",
        400,
        _error(400, RETURNED, {"a": 1, "message": "m"}, None, "m"),
        python="def f(cb):\n    cb({'a': 1, 'message': 'm'})\n",
    ),
    Exact(
        "cb-number",
        "module.exports = cb => cb(42);",
        400,
        _error(400, RETURNED, 42),
        python="def f(cb):\n    cb(42)\n",
    ),
    Exact(
        "sync-throw",
        "module.exports = cb => { throw new TypeError('bad'); };",
        500,
        _error(500, UNHANDLED, "TypeError: bad", "TypeError", "bad"),
        # Python's raise is the Pythonic cb(err), so a Python rule answers 400 here.
        python="def f(cb):\n    raise TypeError('bad')\n",
        python_status=400,
        python_body=_error(400, RETURNED, "TypeError: bad", "TypeError", "bad"),
    ),
    Exact(
        "raw-throw",
        "module.exports = (ctx, req, res) => { throw new RangeError('far'); };",
        500,
        _error(500, UNHANDLED, "RangeError: far", "RangeError", "far"),
        python="def f(ctx, req, res):\n    raise ValueError('far')\n",
        python_body=_error(500, UNHANDLED, "ValueError: far", "ValueError", "far"),
    ),
    Exact(
        "arity-zero",
        "module.exports = function () {};",
        400,
        json.dumps(
            {
                "code": 400,
                "details": "Unable to compile submitted JavaScript. Error: The JavaScript "
                "function must have one of the following signatures: ([ctx], callback) or "
                "(ctx, req, res).",
            },
            indent=2,
        ),
        python="def f():\n    pass\n",
        python_body=json.dumps(
            {
                "code": 400,
                "details": "Unable to compile submitted Python. Error: The Python function "
                "must have one of the following signatures: ([ctx], callback) or "
                "(ctx, req, res).",
            },
            indent=2,
        ),
    ),
    *(
        Exact(
            f"falsy-{name}",
            f"module.exports = cb => cb(null, {js});",
            200,
            "{}",
            python=f"def f(cb):\n    cb(None, {py})\n",
        )
        for name, js, py in (
            ("zero", "0", "0"),
            ("empty-string", "''", "''"),
            ("false", "false", "False"),
            ("null", "null", "None"),
            ("undefined", "undefined", "None"),
        )
    ),
    *(
        Exact(
            f"result-{name}",
            f"module.exports = cb => cb(null, {js});",
            200,
            body,
            python=f"def f(cb):\n    cb(None, {py})\n",
        )
        for name, js, py, body in (
            ("string", "'x'", "'x'", '"x"'),
            ("number", "5", "5", "5"),
            ("true", "true", "True", "true"),
            ("empty-array", "[]", "[]", "[]"),
            ("empty-object", "{}", "{}", "{}"),
            ("nested", "{a: [1, {b: 'é'}]}", "{'a': [1, {'b': 'é'}]}", '{"a":[1,{"b":"é"}]}'),
        )
    ),
    Exact(
        "ctx-query-data-and-secrets",
        ECHO_CTX,
        200,
        json.dumps(
            {
                "data": {"q": "1", "r": ["a", "b"], "p": "param", "s": "secret"},
                "query": {"q": "1", "r": ["a", "b"]},
                "params": {"p": "param"},
                "secrets": {"s": "secret"},
            },
            separators=(",", ":"),
        ),
        python=ECHO_CTX_PY,
        query="?q=1&r=a&r=b&webtask_foo=x",
        secrets={"s": "secret"},
        params={"p": "param"},
    ),
    Exact(
        "ctx-json-body-merged",
        ECHO_CTX,
        200,
        json.dumps(
            {
                "data": {"q": "1", "b": "bb", "s": "x", "z": 0},
                "query": {"q": "1", "b": ""},
                "body": {"q": "body", "b": "bb", "z": 0, "s": "x"},
                "body_raw": '{"q":"body","b":"bb","z":0,"s":"x"}',
                "params": {},
                "secrets": {"s": ""},
            },
            separators=(",", ":"),
        ),
        python=ECHO_CTX_PY,
        method="POST",
        query="?q=1&b=",
        payload='{"q":"body","b":"bb","z":0,"s":"x"}',
        content_type="application/json; charset=utf-8",
        merge_body=True,
        secrets={"s": ""},
    ),
    Exact(
        "ctx-form-body",
        ECHO_CTX,
        200,
        json.dumps(
            {
                "data": {"a": ["1", "2"], "b": "", "c": "x y"},
                "query": {},
                "body": {"a": ["1", "2"], "b": "", "c": "x y"},
                "body_raw": "a=1&a=2&b=&c=x+y",
                "params": {},
                "secrets": {},
            },
            separators=(",", ":"),
        ),
        python=ECHO_CTX_PY,
        method="POST",
        payload="a=1&a=2&b=&c=x+y",
        content_type="application/x-www-form-urlencoded",
        parse_body=1,
        merge_body=True,
    ),
    Exact(
        "ctx-bad-json-and-text-bodies-stay-raw",
        ECHO_CTX,
        200,
        json.dumps(
            {"data": {}, "query": {}, "body_raw": "{bad", "params": {}, "secrets": {}},
            separators=(",", ":"),
        ),
        python=ECHO_CTX_PY,
        method="POST",
        payload="{bad",
        content_type="application/json",
        parse_body=1,
    ),
    Exact(
        "ctx-array-body-merged-by-index",
        ECHO_CTX,
        200,
        json.dumps(
            {
                "data": {"0": 1, "1": 2},
                "query": {},
                "body": [1, 2],
                "body_raw": "[1,2]",
                "params": {},
                "secrets": {},
            },
            separators=(",", ":"),
        ),
        python=ECHO_CTX_PY,
        method="POST",
        payload="[1,2]",
        content_type="application/json",
        parse_body=1,
        merge_body=True,
    ),
]


def _exact_code(case: Exact, lang: str) -> str:
    return case.js if lang == "javascript" else case.python


def _exact_expected(case: Exact, lang: str) -> bytes:
    body = case.python_body if lang == "python" and case.python_body is not None else case.body
    return body.encode()


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("case", EXACT, ids=[case.id for case in EXACT])
def test_answers_exactly_like_webtask_runtime(server: Server, case: Exact, lang: str) -> None:
    code = _exact_code(case, lang)
    container = fresh("exact")
    named(
        server,
        container,
        "case",
        code,
        pb=case.parse_body,
        mb=int(case.merge_body),
        secrets=case.secrets or None,
        params=case.params or None,
    )
    headers = {"Content-Type": case.content_type} if case.content_type else {}
    response = run(
        server,
        container,
        "case",
        case.query,
        method=case.method,
        content=None if case.payload is None else case.payload.encode(),
        headers=headers,
    )
    status = case.python_status if lang == "python" and case.python_status else case.status
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    expected = _exact_expected(case, lang)
    if status == 200 and lang == "python":
        assert response.json() == json.loads(expected)  # Python dicts keep their own order
    else:
        assert response.content == expected


def test_exact_cases_are_the_reference_answers() -> None:
    node_modules = reference_node_modules("WEBTASK_RUNTIME_NODE_MODULES")
    node = shutil.which("node")
    assert node is not None  # checked by reference_node_modules
    cases = [
        {
            "id": case.id,
            "code": case.js,
            "method": case.method,
            "url": "/" + case.query,
            "payload": case.payload,
            "headers": {"content-type": case.content_type} if case.content_type else {},
            "parseBody": case.parse_body,
            "mergeBody": case.merge_body,
            "secrets": case.secrets,
            "params": case.params,
            "meta": {},
        }
        for case in EXACT
    ]
    answers = subprocess.run(
        [node, str(ORACLE)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "NODE_PATH": node_modules},
        timeout=60,
    )
    by_id = {answer["id"]: answer for answer in json.loads(answers.stdout)}
    for case in EXACT:
        answer = by_id[case.id]
        assert (answer["status"], answer["body"]) == (case.status, case.body), case.id


# --- ctx and req in detail -----------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_ctx_headers_id_and_token_of_a_named_webtask(server: Server, lang: str) -> None:
    code = pick(
        lang,
        "def f(ctx, cb):\n    cb(None, {'h': ctx.headers, 'id': ctx.id, 'token': ctx.token})\n",
        "module.exports = (ctx, cb) => cb(null, {h: ctx.headers, id: ctx.id, token: ctx.token});",
    )
    container = fresh("ctx")
    token = named(server, container, "who", code)
    body = run(server, container, "who", headers={"X-Mixed-Case": "Yes"}).json()
    assert body["h"]["x-mixed-case"] == "Yes"
    assert "X-Mixed-Case" not in body["h"]
    assert len(body["id"]) == 16
    assert body["token"] == token  # the webtask token, as cron-auth middleware expects


@pytest.mark.parametrize("lang", LANGS)
def test_raw_model_req_and_x_wt(server: Server, lang: str) -> None:
    code = pick(
        lang,
        "def f(ctx, req, res):\n"
        "    res.writeHead(200, {'Content-Type': 'application/json'})\n"
        "    res.end(json.dumps({'method': req.method, 'url': req.url, 'query': req.query,\n"
        "        'body': req.get('body'), 'raw': req.get('raw_body'),\n"
        "        'ctx_body': ctx.get('body'),\n"
        "        'x_wt': req.x_wt, 'h': req.headers.get('x-a')}))\n",
        "module.exports = (ctx, req, res) => {\n"
        "  res.writeHead(200, {'Content-Type': 'application/json'});\n"
        "  res.end(JSON.stringify({method: req.method, url: req.url, query: req.query,\n"
        "    body: req.body === undefined ? null : req.body, raw: req.raw_body,\n"
        "    ctx_body: ctx.body === undefined ? null : ctx.body, x_wt: req.x_wt,\n"
        "    h: req.headers['x-a']}));\n"
        "};",
    )
    container = fresh("raw")
    token = named(
        server, container, "req", code, secrets={"k": "v"}, params={"p": "1"}, meta={"m": "2"}
    )
    # pb 2 leaves the body to a (ctx, req, res) rule: req.raw_body carries it unparsed.
    response = run(
        server,
        container,
        "req",
        "/deep/path?x=1",
        method="PUT",
        json={"a": 1},
        headers={"X-A": "b"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["method"] == "PUT"
    assert body["url"] == f"/api/run/{container}/req/deep/path?x=1"
    assert body["query"] == {"x": "1"}
    assert body["body"] is None
    assert body["ctx_body"] is None
    assert body["raw"] == '{"a":1}'
    assert body["h"] == "b"
    x_wt = body["x_wt"]
    req_id = x_wt.pop("req_id")
    assert len(req_id) == 16
    assert x_wt == {
        "container": container,
        "jtn": "req",
        "url_format": 1,
        "pb": 2,
        "mb": 0,
        "ectx": {"k": "v"},
        "pctx": {"p": "1"},
        "meta": {"m": "2"},
        "token": token,
    }
    # webtask_pb=1 parses it for the rule (req.body and ctx.body); req.query keeps the flag.
    parsed = run(server, container, "req", "?webtask_pb=1", method="POST", json={"a": 1}).json()
    assert parsed["body"] == {"a": 1}
    assert parsed["ctx_body"] == {"a": 1}
    assert parsed["query"] == {"webtask_pb": "1"}
    assert parsed["x_wt"]["pb"] == 1


@pytest.mark.parametrize("lang", LANGS)
def test_webtask_mb_merges_the_body_into_data(server: Server, lang: str) -> None:
    code = pick(
        lang,
        "def f(ctx, cb):\n    cb(None, {'data': ctx.data, 'query': ctx.query})\n",
        "module.exports = (ctx, cb) => cb(null, {data: ctx.data, query: ctx.query});",
    )
    container = fresh("mb")
    named(server, container, "m", code)
    plain = run(server, container, "m", "?a=1", method="POST", json={"b": 2}).json()
    assert plain == {"data": {"a": "1"}, "query": {"a": "1"}}
    merged = run(server, container, "m", "?a=1&webtask_mb=1", method="POST", json={"b": 2})
    assert merged.json() == {"data": {"a": "1", "b": 2}, "query": {"a": "1"}}


# --- Streaming -----------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_raw_model_status_headers_and_body(server: Server, lang: str) -> None:
    code = pick(
        lang,
        "def f(ctx, req, res):\n"
        "    res.statusCode = 201\n"
        "    res.setHeader('X-Custom', 'one')\n"
        "    res.set_header('Content-Type', 'text/plain; charset=utf-8')\n"
        "    res.setHeader('Transfer-Encoding', 'gzip')\n"
        "    for i in range(3):\n"
        "        res.write('part %d;' % i)\n"
        "    res.end()\n",
        "module.exports = (ctx, req, res) => {\n"
        "  res.statusCode = 201;\n"
        "  res.setHeader('X-Custom', 'one');\n"
        "  res.setHeader('Content-Type', 'text/plain; charset=utf-8');\n"
        "  res.setHeader('Transfer-Encoding', 'gzip');\n"
        "  for (let i = 0; i < 3; i++) res.write('part ' + i + ';');\n"
        "  res.end();\n"
        "};",
    )
    container = fresh("stream")
    assert server.put(container, "s", code).status_code == 200
    response = run(server, container, "s")
    assert response.status_code == 201
    assert response.headers["x-custom"] == "one"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers.get("transfer-encoding") != "gzip"  # the server frames the body
    assert response.text == "part 0;part 1;part 2;"
    head = server.client.head(f"/api/run/{container}/s")
    assert head.status_code == 201
    assert head.content == b""


def test_raw_model_streams_before_the_rule_ends(server: Server) -> None:
    code = (
        "module.exports = (ctx, req, res) => {\n"
        "  res.writeHead(200, {'Content-Type': 'text/plain'});\n"
        "  res.write('first;');\n"
        "  setTimeout(() => res.end('last'), 800);\n"
        "};"
    )
    container = fresh("stream")
    assert server.put(container, "slow", code).status_code == 200
    started = time.monotonic()
    arrivals: list[tuple[float, bytes]] = []
    with server.client.stream("GET", f"/api/run/{container}/slow") as response:
        assert response.status_code == 200
        for chunk in response.iter_raw():
            arrivals.append((time.monotonic() - started, chunk))
    assert b"".join(chunk for _, chunk in arrivals) == b"first;last"
    assert arrivals[0][1] == b"first;"
    assert arrivals[-1][0] - arrivals[0][0] > 0.5


def test_raw_model_streams_large_bodies(server: Server) -> None:
    code = (
        "def f(ctx, req, res):\n"
        "    res.writeHead(200, {'Content-Type': 'application/octet-stream'})\n"
        "    block = 'x' * 65536\n"
        "    for i in range(12):\n"
        "        res.write(block)\n"
        "    res.end()\n"
    )
    container = fresh("stream")
    assert server.put(container, "big", code).status_code == 200
    with server.client.stream("GET", f"/api/run/{container}/big") as response:
        sizes = [len(chunk) for chunk in response.iter_raw()]
    assert sum(sizes) == 12 * 65536
    assert len(sizes) > 1


@pytest.mark.parametrize("lang", LANGS)
def test_raw_rule_that_never_writes_answers_500(server: Server, lang: str) -> None:
    code = pick(
        lang,
        "def f(ctx, req, res):\n    pass\n",
        "module.exports = (ctx, req, res) => {};",
    )
    container = fresh("stream")
    assert server.put(container, "mute", code).status_code == 200
    response = run(server, container, "mute")
    assert response.status_code == 500
    assert response.json()["error"] == "Script finished without responding."


# --- Storage -------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_storage_writes_of_rules_and_http_share_etags(server: Server, lang: str) -> None:
    code = pick(
        lang,
        "def f(ctx, cb):\n"
        "    ctx.storage.get()\n"
        "    ctx.storage.set({'mine': True})\n"
        "    cb(None, {'etag': ctx.storage.etag})\n",
        "module.exports = (ctx, cb) => ctx.storage.get(() =>\n"
        "  ctx.storage.set({mine: true}, err => cb(err, {etag: ctx.storage.etag})));",
    )
    container = fresh("shared")
    assert server.put(container, "c", code).status_code == 200
    assert run(server, container, "c").json() == {"etag": 1}
    data_url = f"/api/webtask/{container}/c/data"
    assert server.client.get(data_url, headers=server.auth()).json() == {
        "data": '{"mine":true}',
        "etag": 1,
    }
    replaced = server.client.put(
        data_url, json={"data": '{"theirs":1}', "etag": 1}, headers=server.auth()
    )
    assert replaced.json() == {"etag": 2}
    stale = server.client.put(
        data_url, json={"data": '{"late":1}', "etag": "1"}, headers=server.auth()
    )
    assert stale.status_code == 409
    assert run(server, container, "c").json() == {"etag": 3}
    # {force: 1} writes without reading first
    forced = pick(
        lang,
        "def f(ctx, cb):\n    ctx.storage.set({'f': 1}, {'force': 1})\n    cb(None, 'ok')\n",
        "module.exports = (ctx, cb) => ctx.storage.set({f: 1}, {force: 1}, err => cb(err, 'ok'));",
    )
    assert server.put(container, "f", forced).status_code == 200
    assert run(server, container, "f").json() == "ok"
    assert run(server, container, "f").json() == "ok"
    assert server.client.get(f"/api/webtask/{container}/f/data", headers=server.auth()).json() == {
        "data": '{"f":1}',
        "etag": 2,
    }


def test_a_rule_losing_a_race_gets_409_and_the_current_data(server: Server) -> None:
    """Another write lands between the rule's get and set (JavaScript: a timer between them)."""
    code = (
        "module.exports = (ctx, cb) => ctx.storage.get(() => setTimeout(() =>\n"
        "  ctx.storage.set({mine: true}, err => cb(null, err ?\n"
        "    {code: err.code, conflict: err.conflict, message: err.message} : {ok: true})),\n"
        "  1000));"
    )
    container = fresh("race")
    assert server.put(container, "r", code).status_code == 200
    data_url = f"/api/webtask/{container}/r/data"
    answers: list[httpx.Response] = []
    racer = threading.Thread(target=lambda: answers.append(run(server, container, "r")))
    racer.start()
    time.sleep(0.4)
    theirs = server.client.put(data_url, json={"data": '{"theirs":1}'}, headers=server.auth())
    assert theirs.json() == {"etag": 1}
    racer.join(10)
    assert answers[0].json() == {
        "code": 409,
        "conflict": {"theirs": 1},
        "message": "Item was modified since it was read.",
    }
    assert server.client.get(data_url, headers=server.auth()).json() == {
        "data": '{"theirs":1}',
        "etag": 1,
    }


@pytest.mark.parametrize("lang", LANGS)
def test_set_without_get_needs_force(server: Server, lang: str) -> None:
    code = pick(
        lang,
        "def f(ctx, cb):\n    ctx.storage.set({'a': 1}, cb)\n",
        "module.exports = (ctx, cb) => ctx.storage.set({a: 1}, cb);",
    )
    container = fresh("force")
    assert server.put(container, "s", code).status_code == 200
    response = run(server, container, "s")
    # Thrown synchronously: JavaScript's throw is a 500, Python's raise the Pythonic cb(err).
    assert response.status_code == (400 if lang == "python" else 500)
    assert "you must specify the .force option" in response.json()["message"]


@pytest.mark.parametrize("lang", LANGS)
def test_storage_is_capped_at_500_kb(server: Server, lang: str) -> None:
    code = pick(
        lang,
        "def f(ctx, cb):\n"
        "    ctx.storage.set({'x': 'y' * 600000}, {'force': True},\n"
        "                    lambda err, _=None: cb(None, {'code': err.code if err else 0}))\n",
        "module.exports = (ctx, cb) => ctx.storage.set({x: 'y'.repeat(600000)}, {force: true},\n"
        "  err => cb(null, {code: err ? err.code : 0}));",
    )
    container = fresh("cap")
    assert server.put(container, "big", code).status_code == 200
    assert run(server, container, "big").json() == {"code": 413}
    too_big = json.dumps({"x": "y" * 600000})
    put = server.client.put(
        f"/api/webtask/{container}/big/data", json={"data": too_big}, headers=server.auth()
    )
    assert put.status_code == 413
    assert "512000-byte limit" in put.json()["message"]


def test_storage_http_api(server: Server) -> None:
    container = fresh("data")
    assert server.put(container, "w", "def f(cb):\n    cb(None, 1)\n").status_code == 200
    url = f"/api/webtask/{container}/w/data"
    auth = server.auth()
    assert server.client.get(url, headers=auth).json() == {"data": "{}"}
    # etag null: create-only
    created = server.client.put(url, json={"data": '{"a":1,"b":2}', "etag": None}, headers=auth)
    assert created.json() == {"etag": 1}
    again = server.client.put(url, json={"data": '{"c":3}', "etag": None}, headers=auth)
    assert again.status_code == 409
    assert again.json() == {
        "code": 409,
        "error": "Conflict",
        "message": "Conditional PUT failed with etag mismatch",
    }
    assert server.client.get(url, headers=auth).json() == {"data": '{"a":1,"b":2}', "etag": 1}
    # sandboxjs sends the etag as a string
    assert server.client.put(url, json={"data": "[1]", "etag": "1"}, headers=auth).json() == {
        "etag": 2
    }
    assert server.client.put(url, json={"data": "[2]", "etag": "zz"}, headers=auth).status_code == (
        409
    )
    bad = server.client.put(url, json={"data": "{not json"}, headers=auth)
    assert bad.status_code == 400
    assert "'data' must be a JSON string" in bad.json()["message"]
    assert server.client.put(url, json={}, headers=auth).status_code == 400
    # ?key= works too; no token is 401, another container's token 403, unknown webtask 404
    assert server.client.get(url, params={"key": server.admin_token}).status_code == 200
    assert server.client.get(url).status_code == 401
    other = server.cli("token", "create", "--container", "someone-else").strip()
    assert server.client.get(url, headers=server.auth(other)).status_code == 403
    missing = f"/api/webtask/{container}/nope/data"
    assert server.client.get(missing, headers=auth).status_code == 404
    assert server.client.put(missing, json={"data": "{}"}, headers=auth).status_code == 404
    # deleted with the webtask: a new webtask of that name starts again at etag 1
    assert server.client.delete(f"/api/webtask/{container}/w", headers=auth).status_code == 204
    assert server.client.get(url, headers=auth).status_code == 404
    assert server.put(container, "w", "def f(cb):\n    cb(None, 1)\n").status_code == 200
    assert server.client.get(url, headers=auth).json() == {"data": "{}"}
    assert server.client.put(url, json={"data": "{}"}, headers=auth).json() == {"etag": 1}


# --- Unnamed runs --------------------------------------------------------------------------


def test_wt_bundle_version_probe(server: Server) -> None:
    """``wt create --bundle`` POSTs this, form-encoded, and reads ``res.body.version``."""
    response = server.client.post(
        f"/api/run/{fresh('probe')}",
        content=b"module.exports = cb => cb(null, { version: process.version.replace(/^v/,'') });",
        headers={**server.auth(), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert response.json() == {"version": "8.17.0"}


@pytest.mark.parametrize("lang", LANGS)
def test_unnamed_runs_take_key_or_bearer(server: Server, lang: str) -> None:
    code = pick(
        lang,
        "def f(ctx, cb):\n    cb(None, {'q': ctx.query, 'token': ctx.get('token')})\n",
        "module.exports = (ctx, cb) => cb(null, {q: ctx.query, token: ctx.token || null});",
    )
    container = fresh("unnamed")
    keyed = server.client.post(
        f"/api/run/{container}", content=code.encode(), params={"key": server.admin_token}
    )
    assert keyed.status_code == 200
    # Code sent by the caller does not see the caller's token unless asked.
    assert keyed.json() == {"q": {"key": server.admin_token}, "token": None}
    shared = run_code(server, container, code, params={"webtask_share_token": "1"})
    assert shared.json()["token"] == server.admin_token
    assert server.client.post(f"/api/run/{container}", content=code.encode()).status_code == 401
    other = server.cli("token", "create", "--container", "another").strip()
    refused = server.client.post(
        f"/api/run/{container}", content=code.encode(), headers=server.auth(other)
    )
    assert refused.status_code == 403


def test_unnamed_runs_of_stored_code(server: Server) -> None:
    container = fresh("stored")
    code = "def f(ctx, cb):\n    cb(None, {'body': ctx.get('body'), 'secrets': ctx.secrets})\n"
    assert server.put(container, "kept", code, secrets={"own": "x"}).status_code == 200
    url = f"webtask://localhost/api/data/code/{container}%2Fkept"
    # GET can only name its code; the code runs with the caller's secrets, not the webtask's.
    got = server.client.get(
        f"/api/run/{container}", params={"webtask_url": url}, headers=server.auth()
    )
    assert got.status_code == 200
    assert got.json() == {"body": None, "secrets": {}}
    posted = server.client.post(
        f"/api/run/{container}",
        params={"webtask_url": url},
        json={"a": 1},
        headers=server.auth(),
    )
    assert posted.json() == {"body": {"a": 1}, "secrets": {}}
    for bad, message in (
        ("https://example.com/code.js", "never fetches code"),
        ("webtask://localhost/api/data/code/other%2Fkept", "outside container"),
        ("ftp://example.com/x", "is not supported"),
    ):
        refused = server.client.get(
            f"/api/run/{container}", params={"webtask_url": bad}, headers=server.auth()
        )
        assert refused.status_code == 400
        assert message in refused.json()["message"]
    missing = f"webtask://localhost/api/data/code/{container}%2Fnone"
    assert (
        server.client.get(
            f"/api/run/{container}", params={"webtask_url": missing}, headers=server.auth()
        ).status_code
        == 404
    )
    bodyless = server.client.get(f"/api/run/{container}", headers=server.auth())
    assert bodyless.status_code == 400
    assert "webtask_url" in bodyless.json()["message"]


@pytest.mark.parametrize("lang", LANGS)
def test_unnamed_runs_of_a_code_token(server: Server, lang: str) -> None:
    """A token whose ``code`` claim fixes the code runs it (and the code sees the token)."""
    code = pick(
        lang,
        "def f(ctx, cb):\n    cb(None, {'s': ctx.secrets, 'p': ctx.params, 't': ctx.token})\n",
        "module.exports = (ctx, cb) => cb(null, {s: ctx.secrets, p: ctx.params, t: ctx.token});",
    )
    container = fresh("codetoken")
    issued = server.client.post(
        "/api/tokens/issue",
        json={"ten": container, "code": code, "ectx": {"k": "v"}, "pctx": {"p": "1"}},
        headers=server.auth(),
    )
    assert issued.status_code == 200
    token = issued.text
    response = server.client.post(
        f"/api/run/{container}", params={"key": token}, content=b"ignored body"
    )
    assert response.status_code == 200
    assert response.json() == {"s": {"k": "v"}, "p": {"p": "1"}, "t": token}


@pytest.mark.parametrize("lang", LANGS)
def test_unnamed_runs_have_no_storage(server: Server, lang: str) -> None:
    code = pick(
        lang,
        "def f(ctx, cb):\n    ctx.storage.get(lambda err, data=None: cb(None, str(err)))\n",
        "module.exports = (ctx, cb) => ctx.storage.get(err => cb(null, err.message));",
    )
    response = run_code(server, fresh("nostore"), code)
    assert response.status_code == 200
    assert response.json() == (
        "Storage is only available to named webtasks; code sent with the request has none."
    )
