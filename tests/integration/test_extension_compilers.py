"""Every auth0-ext-compilers extensibility point over HTTP, against a real server and workers.

The ported reference suite (``ext_cases.CASES``) runs twice: with the Python rule of each case
and with the reference's own JavaScript rule. Both must answer the reference's status code and
exact bytes. The JavaScript variants wait for the JavaScript engine.

``test_expectations_are_the_reference_answers`` re-derives every expected answer from the real
npm packages when ``AUTH0_EXT_COMPILERS_NODE_MODULES`` names a ``node_modules`` folder holding
auth0-ext-compilers 6.1.0 and webtask-runtime 2.0.0 (``npm install auth0-ext-compilers@6.1.0
webtask-runtime@2.0.0``); otherwise the test installs them into ``.cache/npm-ref``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.ext_cases import API_EXPORTS, CASES, Case
from tests.integration.reference import reference_node_modules
from tests.integration.server import Server

pytestmark = pytest.mark.integration

PREFIX = "auth0-ext-compilers/"
ORACLE = Path(__file__).with_name("reference_oracle.js")


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _upload(server: Server, container: str, name: str, code: str, case: Case) -> None:
    put = server.put(
        container,
        name,
        code,
        meta={"wt-compiler": PREFIX + case.compiler},
        secrets=case.secrets or None,
    )
    assert put.status_code == 200, put.text


def _call(server: Server, container: str, name: str, case: Case) -> httpx.Response:
    return server.client.request(
        case.method,
        f"/api/run/{container}/{name}",
        content=json.dumps(case.body).encode(),
        headers={"Content-Type": "application/json", **case.headers},
    )


def _check(server: Server, container: str, code: str, case: Case) -> None:
    name = f"case{CASES.index(case)}"
    _upload(server, container, name, code, case)
    if case.compile_only:
        return
    run = _call(server, container, name, case)
    assert run.status_code == case.status
    assert run.headers["content-type"] == "application/json"
    assert run.content == _compact(case.expected)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_python_rule_answers_like_the_reference(server: Server, case: Case) -> None:
    _check(server, "ext-py", case.python, case)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_javascript_rule_answers_like_the_reference(server: Server, case: Case) -> None:
    _check(server, "ext-js", case.js, case)


@pytest.mark.parametrize(
    ("title", "export"),
    [(title, export) for title, exports in API_EXPORTS.items() for export in exports],
)
def test_api_test_exports_are_compilers(server: Server, title: str, export: str) -> None:
    """api.test.js: each export it names is a compiler (here: a ``wt-compiler`` that uploads)."""
    put = server.put(
        "ext-api", export, "def rule(ctx, cb):\n    cb()\n", meta={"wt-compiler": PREFIX + export}
    )
    assert put.status_code == 200, (title, put.text)


@pytest.mark.parametrize(
    "export", ["client-credentials-exchange", "generic", "pre-user-registration"]
)
def test_bare_export_names_are_not_compilers(server: Server, export: str) -> None:
    """``wt-compiler`` names a node module: the reference has no module called e.g. ``generic``."""
    put = server.put(
        "ext-api", "bare", "def rule(ctx, cb):\n    cb()\n", meta={"wt-compiler": export}
    )
    assert put.status_code == 400
    assert f"Unknown wt-compiler {export!r}" in put.json()["message"]


def test_expectations_are_the_reference_answers() -> None:
    node_modules = reference_node_modules("AUTH0_EXT_COMPILERS_NODE_MODULES")
    node = shutil.which("node")
    assert node is not None  # checked by reference_node_modules
    cases = [
        {
            "id": case.id,
            "compiler": case.compiler,
            "js": case.js,
            "body": case.body,
            "headers": case.headers,
            "secrets": case.secrets,
            "method": case.method,
            "parse_body": case.parse_body,
            "compile_only": case.compile_only,
        }
        for case in CASES
    ]
    done = subprocess.run(
        [node, str(ORACLE)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=True,
        env={"NODE_PATH": node_modules, "PATH": os.environ.get("PATH", "")},
        timeout=120,
    )
    answers = {answer["id"]: answer for answer in json.loads(done.stdout)}
    for case in CASES:
        answer = answers[case.id]
        if case.compile_only:
            assert answer == {"id": case.id, "arity": 3}
        else:
            assert (answer["status"], answer["body"].encode()) == (
                case.status,
                _compact(case.expected),
            ), case.id


# -- wthost behaviour around the reference: Python idioms and the reference's edge cases -------

USR_META = {"wt-compiler": PREFIX + "pre-user-registration"}
USR_BODY = {"user": {"email": "a@example.com"}, "context": {"connection": {"name": "db"}}}


def _run(server: Server, container: str, name: str, body: Any) -> httpx.Response:
    return server.client.post(f"/api/run/{container}/{name}", json=body)


@pytest.mark.parametrize(
    ("code", "data"),
    [
        (
            "def rule(user, context, cb):\n    raise PreUserRegistrationError('no', 'Sorry')\n",
            {"message": "no", "name": "PreUserRegistrationError", "friendlyMessage": "Sorry"},
        ),
        (
            "def rule(user, context, cb):\n"
            "    cb(PreUserRegistrationError('no', friendlyMessage='Sorry'))\n",
            {"message": "no", "name": "PreUserRegistrationError", "friendlyMessage": "Sorry"},
        ),
        (
            "def rule(user, context, cb):\n    cb(PreUserRegistrationError('only'))\n",
            {"message": "only", "name": "PreUserRegistrationError", "friendlyMessage": "only"},
        ),
        (
            "def rule(user, context, cb):\n    raise ExtensibilityUserError('base')\n",
            {"message": "base", "name": "ExtensibilityUserError"},
        ),
        (
            "def rule(user, context, cb):\n    raise ValueError('plain')\n",
            {"message": "plain"},
        ),
    ],
)
def test_raising_is_the_same_as_passing_to_cb(server: Server, code: str, data: Any) -> None:
    assert server.put("ext-raise", "r", code, meta=USR_META).status_code == 200
    run = _run(server, "ext-raise", "r", USR_BODY)
    assert run.status_code == 200
    assert run.content == _compact({"status": "error", "data": data})


def test_rules_cannot_change_the_error_classes(server: Server) -> None:
    code = """\
def rule(user, context, cb):
    outcomes = []
    for attempt in ('set', 'setattr', 'instance'):
        try:
            if attempt == 'set':
                InvalidScopeError.wt_name = 'Hacked'
            elif attempt == 'setattr':
                setattr(ServerError, 'wt_props', {'statusCode': 200})
            else:
                error = PreUserRegistrationError('m', 'f')
                error.wt_props['friendlyMessage'] = 'changed'
                outcomes.append(error.wt_props['friendlyMessage'])
        except Exception as exc:
            outcomes.append(attempt + ' refused')
    cb(None, {'outcomes': outcomes, 'name': InvalidScopeError('x').wt_name})
"""
    assert server.put("ext-guard", "r", code, meta=USR_META).status_code == 200
    run = _run(server, "ext-guard", "r", USR_BODY)
    assert run.json()["data"] == {
        "outcomes": ["set refused", "setattr refused", "f"],
        "name": "InvalidScopeError",
    }


def test_user_registration_context_has_body_context_and_webtask(server: Server) -> None:
    code = """\
def rule(user, context, cb):
    cb(None, {'user': user.email, 'connection': context.connection.name,
              'body_user': context.webtask.body.user.email, 'keys': sorted(context)})
"""
    for point in ("pre-user-registration", "post-user-registration", "post-change-password"):
        meta = {"wt-compiler": PREFIX + point}
        assert server.put("ext-usr", point, code, meta=meta).status_code == 200
        run = _run(server, "ext-usr", point, USR_BODY)
        assert run.json()["data"] == {
            "user": "a@example.com",
            "connection": "db",
            "body_user": "a@example.com",
            "keys": ["connection", "webtask"],
        }


@pytest.mark.parametrize("result", ["None", "0", "''", "False", "[]"])
def test_user_registration_falsy_results_answer_an_empty_object(
    server: Server, result: str
) -> None:
    code = f"def rule(user, context, cb):\n    cb(None, {result})\n"
    assert server.put("ext-falsy", "r", code, meta=USR_META).status_code == 200
    data = _run(server, "ext-falsy", "r", USR_BODY).json()["data"]
    assert data == ([] if result == "[]" else {})


def test_other_points_leave_data_out_for_none(server: Server) -> None:
    meta = {"wt-compiler": PREFIX + "client-credentials-exchange"}
    code = "def rule(client, scope, audience, context, cb):\n    cb()\n"
    assert server.put("ext-none", "r", code, meta=meta).status_code == 200
    run = _run(server, "ext-none", "r", {"client": {}, "audience": "a"})
    assert run.content == b'{"statusCode":200,"headers":{},"status":"success"}'


@pytest.mark.parametrize(
    ("export", "body", "message"),
    [
        ("client-credentials-exchange", None, "Cannot read properties of null (reading 'client')"),
        (
            "client-credentials-exchange",
            {"client": {}, "audience": "a", "context": None},
            "Cannot set properties of null (setting 'webtask')",
        ),
        (
            "send-phone-message",
            {"recipient": "r", "text": "t", "context": None},
            "Cannot read properties of null (reading 'message_type')",
        ),
    ],
)
def test_null_where_the_reference_throws_is_a_500(
    server: Server, export: str, body: Any, message: str
) -> None:
    params = {
        "client-credentials-exchange": "client, scope, audience, context, cb",
        "send-phone-message": "recipient, text, context, cb",
    }[export]
    code = f"def rule({params}):\n    cb()\n"
    assert (
        server.put("ext-crash", export, code, meta={"wt-compiler": PREFIX + export}).status_code
        == 200
    )
    run = _run(server, "ext-crash", export, body)
    assert run.status_code == 500
    assert run.json() == {
        "code": 500,
        "error": "Script generated an unhandled synchronous exception.",
        "details": f"TypeError: {message}",
        "name": "TypeError",
        "message": message,
    }


def test_generic_raw_form_runs_raw_after_the_secret_check(server: Server) -> None:
    meta = {"wt-compiler": PREFIX + "generic"}
    code = (
        "def rule(ctx, req, res):\n"
        "    res.writeHead(202, {'Content-Type': 'text/plain'})\n"
        "    res.end('raw ' + req.method + ' ' + req.raw_body)\n"
    )
    secrets = {"auth0-extension-secret": "s3"}
    assert server.put("ext-raw", "r", code, meta=meta, secrets=secrets).status_code == 200
    denied = _run(server, "ext-raw", "r", {})
    assert denied.status_code == 200
    assert denied.json() == {
        "status": "error",
        "data": {"message": "Unauthorized extensibility point", "statusCode": 500},
    }
    run = server.client.post(
        "/api/run/ext-raw/r", content=b"{}", headers={"Authorization": "Bearer s3"}
    )
    assert run.status_code == 202
    assert run.headers["content-type"] == "text/plain"
    assert run.text == "raw POST {}"


def test_wrong_arity_names_the_expected_signature(server: Server) -> None:
    meta = {"wt-compiler": PREFIX + "send-phone-message"}
    assert (
        server.put("ext-arity", "r", "def rule(text, cb):\n    cb()\n", meta=meta).status_code
        == 200
    )
    body = {
        "recipient": "r",
        "text": "t",
        "context": {
            "message_type": "sms",
            "action": "enrollment",
            "language": "en",
            "code": "1",
            "ip": "::1",
            "user_agent": "ua",
            "user": {},
        },
    }
    run = _run(server, "ext-arity", "r", body)
    assert run.json() == {
        "status": "error",
        "data": {"message": "A send-phone-message rule must take (recipient, text, context, cb)."},
    }
