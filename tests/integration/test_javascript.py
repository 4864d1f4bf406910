"""JavaScript rules run unchanged on QuickJS inside the hardened worker (issue 5, JS part)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.server import PASSWORD_EXCHANGE, ROOT, SEED_PY, Server

pytestmark = pytest.mark.integration

SEED_JS = (ROOT / "examples/seed/myrule.js").read_text()
SEED_REPLY = (
    b'{"statusCode":200,"headers":{},"status":"success",'
    b'"data":{"https://foo.com/claim":"bar","scope":["read:sample","extra"]}}'
)
LEAKS = ("Traceback", 'File "', "/work", "site-packages", " at 0x", "<input>:")


def _clean(text: str) -> None:
    for marker in LEAKS:
        assert marker not in text


def test_seed_myrule_js_runs_byte_for_byte(server: Server) -> None:
    server.put_hook("js-seed", "myrule", SEED_JS)
    assert server.run_hook("js-seed", "myrule").content == SEED_REPLY


def test_return_function_form(server: Server) -> None:
    code = "return function (client, scope, audience, context, cb) { cb(null, {form: 'return'}); }"
    server.put_hook("js-forms", "ret", code)
    assert server.run_hook("js-forms", "ret").json()["data"] == {"form": "return"}


def test_user_form_and_context(server: Server) -> None:
    code = """
module.exports = function (user, client, scope, audience, context, cb) {
  const secret = context.webtask.secrets['auth0-extension-secret'];
  cb(null, { user: user.id, client: client.id, secret: secret,
             ip: context.ip, aud: audience });
};
"""
    server.put_hook("js-six", "pwx", code, secret="jss")
    body = {
        "user": {"id": "u1"},
        "client": {"id": "c1"},
        "audience": "a",
        "context": {"ip": "1.2.3.4"},
    }
    run = server.run_hook("js-six", "pwx", body=body, secret="jss")
    assert run.json()["data"] == {
        "user": "u1",
        "client": "c1",
        "secret": "jss",
        "ip": "1.2.3.4",
        "aud": "a",
    }


def test_callback_error_envelope(server: Server) -> None:
    code = "module.exports = function (c, s, a, ctx, cb) { cb(new Error('access denied')); };"
    server.put_hook("js-err", "deny", code)
    run = server.run_hook("js-err", "deny")
    assert run.json() == {"status": "error", "data": {"message": "access denied"}}


def test_extensibility_errors_carry_their_name(server: Server) -> None:
    code = (
        "module.exports = function (c, s, a, ctx, cb) { cb(new InvalidScopeError('bad scope')); };"
    )
    server.put_hook("js-err", "named", code)
    run = server.run_hook("js-err", "named")
    assert run.json() == {
        "status": "error",
        "data": {"message": "bad scope", "name": "InvalidScopeError"},
    }


def test_promises_and_timers_settle(server: Server) -> None:
    code = """
module.exports = function (c, s, a, ctx, cb) {
  Promise.resolve(1)
    .then(v => new Promise(r => setTimeout(() => r(v + 1), 20)))
    .then(v => cb(null, {v}));
};
"""
    server.put_hook("js-async", "pwx", code)
    assert server.run_hook("js-async", "pwx").json()["data"] == {"v": 2}


def test_console_output_reaches_the_rule_log(server: Server) -> None:
    code = (
        "module.exports = function (c, s, a, ctx, cb) { console.log('hello', {a: 1}); "
        "cb(null, {}); };"
    )
    server.put_hook("js-log", "pwx", code)
    assert server.run_hook("js-log", "pwx").json()["status"] == "success"


@pytest.mark.parametrize(
    ("code", "line", "column", "fragment"),
    [
        # QuickJS names lines only; the column is where the failing prefix starts to fail
        # (here after `b`, where a ',' was expected, two characters before the `{`).
        ("module.exports = function (a, b {\n};", 1, 31, "SyntaxError"),
        ("module.exports = function (cb) {\n  var x = ;\n};", 2, 11, "SyntaxError"),
        ("module.exports = 42;", 0, 0, "must return or export a function"),
    ],
)
def test_compile_errors_name_language_line_and_column(
    server: Server, code: str, line: int, column: int, fragment: str
) -> None:
    put = server.put("js-broken", "x", code, meta={"wt-compiler": PASSWORD_EXCHANGE})
    assert put.status_code == 400
    body = put.json()
    assert body["language"] == "javascript"
    assert body["details"][0]["line"] == line
    assert body["details"][0]["column"] == column
    assert fragment in body["details"][0]["message"]
    assert "javascript rule" in body["message"]


def test_wt_language_meta_overrides_detection(server: Server) -> None:
    meta = {"wt-compiler": PASSWORD_EXCHANGE, "wt-language": "javascript"}
    put = server.put("js-lang", "x", SEED_PY, meta=meta)
    assert put.status_code == 400
    assert put.json()["language"] == "javascript"
    bad = server.put("js-lang", "y", SEED_JS, meta={"wt-language": "cobol"})
    assert bad.status_code == 400
    assert "wt-language" in bad.json()["message"]


# The JavaScript hostile corpus of shared/reference/sandbox.md §5 (J1-J14), each contained.
HOSTILE_JS = [
    ("J1-busy-loop", "while (true) {}", "cpu"),
    ("J2-recursion", "function f() { return f(); } f();", "thrown:stack overflow"),
    (
        "J3-array-growth",
        "var a = []; for (;;) a.push(new Array(1e5).fill(1));",
        "thrown:out of memory",
    ),
    ("J4-huge-string", "'x'.repeat(2 ** 29);", "thrown"),
    ("J4-bigint", "(10n ** 3000000n).toString();", "any"),
    ("J5-regex-backtracking", "/^(a+)+$/.test('a'.repeat(40) + 'b');", "cpu"),
    ("J6-sort-huge-length", "Array.prototype.sort.call({length: 2 ** 32 - 1});", "cpu"),
    ("J7-hostile-toString", "throw { toString() { while (true) {} } };", "any"),
    ("J8-string-concat", "var s = ''; for (;;) s += 'x'.repeat(1000);", "any"),
    (
        "J9-import",
        "import('os').then(() => cb(null, 'escaped'), e => cb(e));",
        "error:could not load module",
    ),
    (
        "J10-global-this",
        "var g = Function('return this')();"
        " cb(null, {keys: Object.keys(g).filter(k => /^(process|std|os)$/.test(k)"
        " && Object.keys((g[k] && g[k].env) || {}).length)});",
        'value:{"keys":[]}',
    ),
    ("J11-prototype-pollution", "Object.prototype.polluted = 1; cb(null, {});", "value:{}"),
    ("J12-never-settles", "new Promise(() => {});", "noanswer"),
    ("J13-circular-result", "var a = {}; a.a = a; cb(null, a);", "error:JSON serializing"),
    (
        "J14-atomics-wait",
        "Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5000);",
        "any",
    ),
]


@pytest.mark.parametrize(("case", "body", "expect"), HOSTILE_JS, ids=[c[0] for c in HOSTILE_JS])
def test_hostile_javascript_is_contained(
    js_server: Server, case: str, body: str, expect: str
) -> None:
    code = "module.exports = function (client, scope, audience, context, cb) {\n" + body + "\n};"
    name = case.lower()
    js_server.put_hook("js-hostile", name, code)
    started = time.monotonic()
    run = js_server.run_hook("js-hostile", name)
    assert time.monotonic() - started < 6
    _clean(run.text)
    kind, _, detail = expect.partition(":")
    if kind == "cpu":
        assert run.status_code == 500
        assert "CPU time limit" in run.json()["message"] or "execution time" in run.json()["error"]
    elif kind == "thrown":
        assert run.status_code == 500
        assert run.json()["error"] == "Script generated an unhandled synchronous exception."
        assert detail in run.json()["details"]
    elif kind == "error":
        assert run.status_code == 200
        assert run.json()["status"] == "error"
        assert detail in run.json()["data"]["message"]
    elif kind == "noanswer":
        assert run.status_code == 500
        assert run.json()["error"] == "Script finished without responding."
        assert "would never answer" in run.json()["details"]
    elif kind == "value":
        assert run.json()["status"] == "success"
        assert run.json()["data"] == __import__("json").loads(detail)
    else:
        assert run.status_code in (200, 500)
    # The host is healthy: a benign call in the same and in another container succeeds.
    js_server.put_hook("js-hostile", "benign", SEED_JS)
    assert js_server.run_hook("js-hostile", "benign").content == SEED_REPLY
    js_server.put_hook("js-other", "benign", SEED_JS)
    assert js_server.run_hook("js-other", "benign").content == SEED_REPLY


def test_pollution_does_not_cross_webtasks(js_server: Server) -> None:
    js_server.put_hook(
        "js-iso",
        "polluter",
        "module.exports = function (c, s, a, ctx, cb) {"
        " Object.prototype.evil = 1; cb(null, {}); };",
    )
    js_server.run_hook("js-iso", "polluter")
    js_server.put_hook(
        "js-iso",
        "victim",
        "module.exports = function (c, s, a, ctx, cb) { cb(null, {evil: ({}).evil === 1}); };",
    )
    assert js_server.run_hook("js-iso", "victim").json()["data"] == {"evil": False}


@pytest.fixture(scope="module")
def js_server(tmp_path_factory: pytest.TempPathFactory) -> object:
    srv = Server(
        Path(tmp_path_factory.mktemp("js")) / "data",
        env={"WTHOST_RULE_TIMEOUT_MS": "3000", "WTHOST_RULE_CPU_MS": "1000"},
    )
    try:
        yield srv
    finally:
        srv.stop()


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ("cb(null, null)", {"statusCode": 200, "headers": {}, "status": "success", "data": None}),
        ("cb(null)", {"statusCode": 200, "headers": {}, "status": "success"}),
        ("cb()", {"statusCode": 200, "headers": {}, "status": "success"}),
    ],
)
def test_null_and_undefined_results_as_json_stringify_does(
    server: Server, call: str, expected: dict[str, object]
) -> None:
    code = f"module.exports = function (c, s, a, ctx, cb) {{ {call}; }};"
    name = "n" + str(abs(hash(call)))
    server.put_hook("js-null", name, code)
    assert server.run_hook("js-null", name).json() == expected
