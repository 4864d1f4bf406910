"""auth0-ext-compilers 6.1.0's own test suite (``test/*.tests.js``), ported case by case.

Each ``Case`` keeps the reference's JavaScript rule verbatim, an equivalent Python rule, the
request the reference test sends through ``webtask-runtime``'s ``simulate`` (always
``Content-Type: application/json`` with ``JSON.stringify(body)``), and the exact answer the
reference gives (its envelope minus ``stack``, keys in its order). ``reference_oracle.js``
re-derives every answer from the real packages (see ``test_extension_compilers.py``).

Where a literal Python translation would answer differently, the Python rule is written the
idiomatic way that gives the reference's answer, and ``note`` says why (docs/porting.md: "Porting
JavaScript hooks to Python").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JSON = Any
SECRET = {"auth0-extension-secret": "foo"}
GOOD_AUTH = {"authorization": "Bearer foo"}
BAD_AUTH = {"authorization": "Bearer bar"}
UNAUTHORIZED = {
    "status": "error",
    "data": {"message": "Unauthorized extensibility point", "statusCode": 500},
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """One reference test: ``it(title)`` in ``source``, under compiler ``compiler``."""

    source: str
    title: str
    compiler: str
    js: str
    python: str
    body: JSON = None
    headers: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    method: str = "POST"
    parse_body: bool = (
        True  # the reference's ``parseBody: false`` (pb!=1) cases send the same bytes
    )
    compile_only: bool = False  # "compiles to a function": the upload must succeed
    status: int = 200
    expected: JSON = None
    note: str = ""

    @property
    def id(self) -> str:
        return f"{self.source.removesuffix('.tests.js')}: {self.title}"


def error(message: str) -> JSON:
    return {"status": "error", "data": {"message": message}}


def success(data: JSON) -> JSON:
    return {"statusCode": 200, "headers": {}, "status": "success", "data": data}


# -- client-credentials-exchange.tests.js ----------------------------------------------------

CCE = "client-credentials-exchange.tests.js"
CCE_ECHO_JS = (
    "module.exports = function(client, scope, audience, context, cb) "
    "{ cb(null, { client, scope, audience }); };"
)
CCE_ECHO_PY = """\
def rule(client, scope, audience, context, cb):
    cb(None, {'client': client, 'scope': scope, 'audience': audience})
"""
CCE_MODIFY_JS = (
    "module.exports = function(client, scope, audience, context, cb) "
    '{ client.baz = "baz"; context.hello = "moon"; delete context.webtask; '
    "cb(null, { client, scope, audience, context }); };"
)
CCE_MODIFY_PY = """\
def rule(client, scope, audience, context, cb):
    client.baz = 'baz'
    context.hello = 'moon'
    del context['webtask']
    cb(None, {'client': client, 'scope': scope, 'audience': audience, 'context': context})
"""
FULL_BODY = {
    "client": {"id": "client"},
    "scope": ["scope"],
    "audience": "audience",
    "context": {"hello": "world", "foo": "bar"},
}
MODIFIED = success(
    {
        "client": {"id": "client", "baz": "baz"},
        "scope": ["scope"],
        "audience": "audience",
        "context": {"hello": "moon", "foo": "bar"},
    }
)
DROP_UNDEFINED = (
    "JS drops the undefined scope from the result; Python has no undefined (a missing body "
    "field arrives as None, which JSON shows as null), so the rule leaves None values out."
)
DEFAULT_CONTEXT = success({"type": "object", "length": 1, "webtask": "object"})
TYPEOF = "typeof x === 'object' is isinstance(x, dict); Object.keys(o).length is len(o)."
PB = (
    "parseBody: false only changes who parses the body inside webtask-runtime; wthost has no such "
    "switch, so the request is the same bytes."
)
UNREACHED = "The reference's rule names an undefined ctx; it is never called, in either language."
STRINGIFY = (
    "JSON.stringify is json.dumps: equal for {}, but Python writes ', ' and ': ' separators."
)


def _cce_throw(js_error: str, py_error: str, expected: JSON, title: str, note: str = "") -> Case:
    return Case(
        source=CCE,
        title=title,
        compiler="client-credentials-exchange",
        js=(
            "module.exports = function(client, scope, audience, context, cb) {\n"
            f"    cb({js_error});\n}};"
        ),
        python=f"def rule(client, scope, audience, context, cb):\n    cb({py_error})\n",
        body={"client": {"id": "client"}, "audience": "audience"},
        expected=expected,
        note=note,
    )


CLIENT_CREDENTIALS_EXCHANGE = [
    Case(
        source=CCE,
        title="compiles to a function with 2 arguments",
        compiler="client-credentials-exchange",
        js="module.exports = function(client, scope, audience, context, cb) { cb(null, ctx); };",
        python="def rule(client, scope, audience, context, cb):\n    cb(None, ctx)\n",
        compile_only=True,
        note=UNREACHED,
    ),
    Case(
        source=CCE,
        title="success when scope is undefined (unauthenticated)",
        compiler="client-credentials-exchange",
        js=(
            "module.exports = function(client, scope, audience, context, cb) "
            '{ client.baz = "baz"; cb(null, { client, scope, audience }); };'
        ),
        python="""\
def rule(client, scope, audience, context, cb):
    client.baz = 'baz'
    result = {'client': client, 'scope': scope, 'audience': audience}
    cb(None, {key: value for key, value in result.items() if value is not None})
""",
        body={"client": {"id": "client"}, "audience": "audience"},
        expected=success({"client": {"id": "client", "baz": "baz"}, "audience": "audience"}),
        note=DROP_UNDEFINED,
    ),
    Case(
        source=CCE,
        title="success getting, modifying, and returning body (unauthenticated)",
        compiler="client-credentials-exchange",
        js=CCE_MODIFY_JS,
        python=CCE_MODIFY_PY,
        body=FULL_BODY,
        expected=MODIFIED,
    ),
    Case(
        source=CCE,
        title="success getting, modifying, and returning body (unauthenticated, pb!=1)",
        compiler="client-credentials-exchange",
        js=CCE_MODIFY_JS,
        python=CCE_MODIFY_PY,
        body=FULL_BODY,
        parse_body=False,
        expected=MODIFIED,
        note=PB,
    ),
    Case(
        source=CCE,
        title="success getting, modifying, and returning body (authenticated)",
        compiler="client-credentials-exchange",
        js=CCE_MODIFY_JS,
        python=CCE_MODIFY_PY,
        body=FULL_BODY,
        secrets=SECRET,
        headers=GOOD_AUTH,
        expected=MODIFIED,
    ),
    Case(
        source=CCE,
        title="creates a default, empty context object with the webtask property",
        compiler="client-credentials-exchange",
        js=(
            "module.exports = function(client, scope, audience, context, cb) { cb(null, "
            "{ type: typeof context, length: Object.keys(context).length, "
            "webtask: typeof context.webtask }); };"
        ),
        python="""\
def rule(client, scope, audience, context, cb):
    cb(None, {'type': 'object' if isinstance(context, dict) else 'other',
              'length': len(context),
              'webtask': 'object' if isinstance(context.webtask, dict) else 'other'})
""",
        body={"client": {"id": "client"}, "scope": ["scope"], "audience": "audience"},
        headers=GOOD_AUTH,
        expected=DEFAULT_CONTEXT,
        note=TYPEOF,
    ),
    Case(
        source=CCE,
        title="rejects calls with invalid payload",
        compiler="client-credentials-exchange",
        js=CCE_ECHO_JS,
        python=CCE_ECHO_PY,
        body="no good",
        expected=error("Body received by extensibility point is not an object"),
    ),
    Case(
        source=CCE,
        title="rejects calls with invalid payload (bad client)",
        compiler="client-credentials-exchange",
        js=CCE_ECHO_JS,
        python=CCE_ECHO_PY,
        body={"client": "client", "audience": "audience"},
        expected=error("Body .client received by extensibility point is not an object"),
    ),
    Case(
        source=CCE,
        title="rejects calls with invalid payload (bad scope)",
        compiler="client-credentials-exchange",
        js=CCE_ECHO_JS,
        python=CCE_ECHO_PY,
        body={"client": {}, "scope": "scope", "audience": "audience"},
        expected=error("Body .scope received by extensibility point is neither empty nor an array"),
    ),
    Case(
        source=CCE,
        title="rejects calls with invalid payload (bad audience)",
        compiler="client-credentials-exchange",
        js=CCE_ECHO_JS,
        python=CCE_ECHO_PY,
        body={"client": {}, "scope": "scope", "audience": []},
        expected=error("Body .scope received by extensibility point is neither empty nor an array"),
        note="The reference's own body fails the scope check first (scope is a string).",
    ),
    Case(
        source=CCE,
        title="rejects calls without authorization secret",
        compiler="client-credentials-exchange",
        js=CCE_ECHO_JS,
        python=CCE_ECHO_PY,
        body={"client": {"id": "client"}, "scope": ["scope"], "audience": "audience"},
        secrets=SECRET,
        expected=UNAUTHORIZED,
    ),
    Case(
        source=CCE,
        title="rejects calls with wrong authorization secret",
        compiler="client-credentials-exchange",
        js=CCE_ECHO_JS,
        python=CCE_ECHO_PY,
        body={"client": {"id": "client"}, "scope": ["scope"], "audience": "audience"},
        secrets=SECRET,
        headers=BAD_AUTH,
        expected=UNAUTHORIZED,
    ),
    _cce_throw(
        "new Error('vanilla error')",
        "Exception('vanilla error')",
        error("vanilla error"),
        "when an error is thrown: transforms vanilla Errors into an error payload",
        note="JS's generic Error is Python's Exception; neither has an own name in the envelope.",
    ),
    _cce_throw(
        "new InvalidRequestError('bad request')",
        "InvalidRequestError('bad request')",
        {"status": "error", "data": {"message": "bad request", "name": "InvalidRequestError"}},
        "when an error is thrown: transforms InvalidRequestErrors into an error payload",
    ),
    _cce_throw(
        "new InvalidScopeError('bad scope')",
        "InvalidScopeError('bad scope')",
        {"status": "error", "data": {"message": "bad scope", "name": "InvalidScopeError"}},
        "when an error is thrown: transforms InvalidScopeErrors into an error payload",
    ),
    _cce_throw(
        "new ServerError('server failure')",
        "ServerError('server failure')",
        {"status": "error", "data": {"message": "server failure", "name": "ServerError"}},
        "when an error is thrown: transforms Server Error into an error payload",
    ),
]


# -- generic.tests.js --------------------------------------------------------------------------

GEN = "generic.tests.js"
GEN_ECHO_JS = "module.exports = function(context, cb) { cb(null, context); };"
GEN_ECHO_PY = "def rule(context, cb):\n    cb(None, context)\n"
GEN_MODIFY_JS = (
    'module.exports = function(context, cb) { context.body.baz = "baz"; cb(null, context.body); };'
)
GEN_MODIFY_PY = "def rule(context, cb):\n    context.body.baz = 'baz'\n    cb(None, context.body)\n"
GEN_MODIFIED = success({"id": "client", "baz": "baz"})

GENERIC = [
    Case(
        source=GEN,
        title="compiles to a function with 2 arguments",
        compiler="generic",
        js=GEN_ECHO_JS,
        python=GEN_ECHO_PY,
        compile_only=True,
    ),
    Case(
        source=GEN,
        title="success getting, modifying, and returning body (unauthenticated)",
        compiler="generic",
        js=GEN_MODIFY_JS,
        python=GEN_MODIFY_PY,
        body={"id": "client"},
        expected=GEN_MODIFIED,
    ),
    Case(
        source=GEN,
        title="success getting, modifying, and returning body (unauthenticated, pb!=1)",
        compiler="generic",
        js=GEN_MODIFY_JS,
        python=GEN_MODIFY_PY,
        body={"id": "client"},
        parse_body=False,
        expected=GEN_MODIFIED,
        note=PB,
    ),
    Case(
        source=GEN,
        title="success getting, modifying, and returning body (authenticated)",
        compiler="generic",
        js=GEN_MODIFY_JS,
        python=GEN_MODIFY_PY,
        body={"id": "client"},
        secrets=SECRET,
        headers=GOOD_AUTH,
        expected=GEN_MODIFIED,
    ),
    Case(
        source=GEN,
        title="rejects calls without authorization secret",
        compiler="generic",
        js=GEN_ECHO_JS,
        python=GEN_ECHO_PY,
        body={"id": "client"},
        secrets=SECRET,
        expected=UNAUTHORIZED,
    ),
    Case(
        source=GEN,
        title="rejects calls with wrong authorization secret",
        compiler="generic",
        js=GEN_ECHO_JS,
        python=GEN_ECHO_PY,
        body={"id": "client"},
        secrets=SECRET,
        headers=BAD_AUTH,
        expected=UNAUTHORIZED,
    ),
]


# -- password-exchange.tests.js ----------------------------------------------------------------

PWX = "password-exchange.tests.js"
PWX_ECHO_JS = (
    "module.exports = function(user, client, scope, audience, context, cb) "
    "{ cb(null, { client, scope, audience }); };"
)
PWX_ECHO_PY = """\
def rule(user, client, scope, audience, context, cb):
    cb(None, {'client': client, 'scope': scope, 'audience': audience})
"""
PWX_MODIFY_JS = (
    "module.exports = function(user, client, scope, audience, context, cb) "
    '{ client.baz = "baz"; context.hello = "moon"; delete context.webtask; '
    "cb(null, { client, scope, audience, context }); };"
)
PWX_MODIFY_PY = """\
def rule(user, client, scope, audience, context, cb):
    client.baz = 'baz'
    context.hello = 'moon'
    del context['webtask']
    cb(None, {'client': client, 'scope': scope, 'audience': audience, 'context': context})
"""
PWX_FULL_BODY = {"user": {}, **FULL_BODY}
PWX_SCOPED = {"user": {}, "client": {"id": "client"}, "scope": ["scope"], "audience": "audience"}

PASSWORD_EXCHANGE = [
    Case(
        source=PWX,
        title="compiles to a function with 2 arguments",
        compiler="password-exchange",
        js=(
            "module.exports = function(user, client, scope, audience, context, cb) "
            "{ cb(null, ctx); };"
        ),
        python="def rule(user, client, scope, audience, context, cb):\n    cb(None, ctx)\n",
        compile_only=True,
        note=UNREACHED,
    ),
    Case(
        source=PWX,
        title="success when scope is undefined (unauthenticated)",
        compiler="password-exchange",
        js=(
            "module.exports = function(user, client, scope, audience, context, cb) "
            '{ client.baz = "baz"; cb(null, { client, scope, audience }); };'
        ),
        python="""\
def rule(user, client, scope, audience, context, cb):
    client.baz = 'baz'
    result = {'client': client, 'scope': scope, 'audience': audience}
    cb(None, {key: value for key, value in result.items() if value is not None})
""",
        body={"user": {}, "client": {"id": "client"}, "audience": "audience"},
        expected=success({"client": {"id": "client", "baz": "baz"}, "audience": "audience"}),
        note=DROP_UNDEFINED,
    ),
    Case(
        source=PWX,
        title="success getting, modifying, and returning body (unauthenticated)",
        compiler="password-exchange",
        js=PWX_MODIFY_JS,
        python=PWX_MODIFY_PY,
        body=PWX_FULL_BODY,
        expected=MODIFIED,
    ),
    Case(
        source=PWX,
        title="success getting, modifying, and returning body (unauthenticated, pb!=1)",
        compiler="password-exchange",
        js=PWX_MODIFY_JS,
        python=PWX_MODIFY_PY,
        body=PWX_FULL_BODY,
        parse_body=False,
        expected=MODIFIED,
        note=PB,
    ),
    Case(
        source=PWX,
        title="success getting, modifying, and returning body (authenticated)",
        compiler="password-exchange",
        js=PWX_MODIFY_JS,
        python=PWX_MODIFY_PY,
        body=PWX_FULL_BODY,
        secrets=SECRET,
        headers=GOOD_AUTH,
        expected=MODIFIED,
    ),
    Case(
        source=PWX,
        title="creates a default, empty context object with the webtask property",
        compiler="password-exchange",
        js=(
            "module.exports = function(user, client, scope, audience, context, cb) { cb(null, "
            "{ type: typeof context, length: Object.keys(context).length, "
            "webtask: typeof context.webtask }); };"
        ),
        python="""\
def rule(user, client, scope, audience, context, cb):
    cb(None, {'type': 'object' if isinstance(context, dict) else 'other',
              'length': len(context),
              'webtask': 'object' if isinstance(context.webtask, dict) else 'other'})
""",
        body=PWX_SCOPED,
        headers=GOOD_AUTH,
        expected=DEFAULT_CONTEXT,
        note=TYPEOF,
    ),
    Case(
        source=PWX,
        title="rejects calls with invalid payload",
        compiler="password-exchange",
        js=PWX_ECHO_JS,
        python=PWX_ECHO_PY,
        body="no good",
        expected=error("Body received by extensibility point is not an object"),
    ),
    Case(
        source=PWX,
        title="rejects calls with invalid payload (bad user)",
        compiler="password-exchange",
        js=PWX_ECHO_JS,
        python=PWX_ECHO_PY,
        body={"user": "bad user", "client": {}, "audience": "audience"},
        expected=error("Body.user received by extensibility point is not an object"),
    ),
    Case(
        source=PWX,
        title="rejects calls with invalid payload (bad client)",
        compiler="password-exchange",
        js=PWX_ECHO_JS,
        python=PWX_ECHO_PY,
        body={"user": {}, "client": "client", "audience": "audience"},
        expected=error("Body.client received by extensibility point is not an object"),
    ),
    Case(
        source=PWX,
        title="rejects calls with invalid payload (bad scope)",
        compiler="password-exchange",
        js=PWX_ECHO_JS,
        python=PWX_ECHO_PY,
        body={"user": {}, "client": {}, "scope": "scope", "audience": "audience"},
        expected=error("Body.scope received by extensibility point is neither empty nor an array"),
    ),
    Case(
        source=PWX,
        title="rejects calls with invalid payload (bad audience)",
        compiler="password-exchange",
        js=PWX_ECHO_JS,
        python=PWX_ECHO_PY,
        body={"client": {}, "scope": "scope", "audience": []},
        expected=error("Body.audience received by extensibility point is not a string"),
    ),
    Case(
        source=PWX,
        title="rejects calls without authorization secret",
        compiler="password-exchange",
        js=PWX_ECHO_JS,
        python=PWX_ECHO_PY,
        body=PWX_SCOPED,
        secrets=SECRET,
        expected=UNAUTHORIZED,
    ),
    Case(
        source=PWX,
        title="rejects calls with wrong authorization secret",
        compiler="password-exchange",
        js=PWX_ECHO_JS,
        python=PWX_ECHO_PY,
        body=PWX_SCOPED,
        secrets=SECRET,
        headers=BAD_AUTH,
        expected=UNAUTHORIZED,
    ),
]


# -- send-phone-message.tests.js ---------------------------------------------------------------

SPM = "send-phone-message.tests.js"
SPM_NOOP_JS = "module.exports = function(recipient, text, context, cb) { cb(); };"
SPM_NOOP_PY = "def rule(recipient, text, context, cb):\n    cb()\n"
SPM_STRINGIFY_JS = (
    "module.exports = function(recipient, text, context, cb) { cb(null, JSON.stringify({})); };"
)
SPM_STRINGIFY_PY = "def rule(recipient, text, context, cb):\n    cb(None, json.dumps({}))\n"
NUMBER = "1-999-888-657-2134"
TEXT = "dis iz a text"
CHECKED = {
    "message_type": "sms",
    "action": "enrollment",
    "language": "korean",
    "code": "SOMEOTP12345",
    "ip": "127.0.0.1",
    "user_agent": "someAgent",
}
GOOD_CLIENT = {"client_id": "someClientId", "name": "Test Application", "client_metadata": {}}
SFA = {**CHECKED, "action": "second-factor-authentication"}


def _spm_invalid(title: str, context: JSON, message: str, **body: JSON) -> Case:
    return Case(
        source=SPM,
        title=title,
        compiler="send-phone-message",
        js=SPM_NOOP_JS,
        python=SPM_NOOP_PY,
        body={"recipient": NUMBER, "text": TEXT, "context": context, **body},
        expected=error(message),
    )


def _spm_context(name: str) -> str:
    return f"Body.context.{name} received by extensibility point is not a string"


MESSAGE_TYPE = "Body.context.message_type received by extensibility point is not `sms` or `voice`"
ACTION = (
    "Body.context.action received by extensibility point is not `enrollment` or "
    "`second-factor-authentication`"
)

SEND_PHONE_MESSAGE = [
    Case(
        source=SPM,
        title="compiles to a function with 3 arguments",
        compiler="send-phone-message",
        js=SPM_NOOP_JS,
        python=SPM_NOOP_PY,
        compile_only=True,
    ),
    Case(
        source=SPM,
        title="invalid payload: rejects when recipient is not set",
        compiler="send-phone-message",
        js=SPM_NOOP_JS,
        python=SPM_NOOP_PY,
        body={"text": TEXT, "context": {}},
        expected=error("Body.recipient received by extensibility point is not a string"),
    ),
    Case(
        source=SPM,
        title="invalid payload: rejects when text is not set",
        compiler="send-phone-message",
        js=SPM_NOOP_JS,
        python=SPM_NOOP_PY,
        body={"recipient": NUMBER, "context": {}},
        expected=error("Body.text received by extensibility point is not a string"),
    ),
    _spm_invalid(
        "invalid payload: context: rejects context is not an object",
        "context",
        "Body.context received by extensibility point is not an object",
    ),
    _spm_invalid(
        "invalid payload: context: rejects bad message_type",
        {"message_type": "telephone"},
        MESSAGE_TYPE,
    ),
    _spm_invalid(
        "invalid payload: context: does not fail on `voice` message_type",
        {"message_type": "voice"},
        ACTION,
    ),
    _spm_invalid(
        "invalid payload: context: does not fail on `second-factor-authentication` action type",
        {"message_type": "sms", "action": "second-factor-authentication"},
        _spm_context("language"),
    ),
    _spm_invalid(
        "invalid payload: context: rejects bad action",
        {"message_type": "sms", "action": "wrong"},
        ACTION,
    ),
    _spm_invalid(
        "invalid payload: context: rejects bad language",
        {"message_type": "sms", "action": "enrollment", "language": {}},
        _spm_context("language"),
    ),
    _spm_invalid(
        "invalid payload: context: rejects bad code",
        {"message_type": "sms", "action": "enrollment", "language": "korean", "code": 12345},
        _spm_context("code"),
    ),
    _spm_invalid(
        "invalid payload: context: rejects bad ip",
        {
            "message_type": "sms",
            "action": "enrollment",
            "language": "korean",
            "code": "SOMEOTP12345",
            "ip": 127,
        },
        _spm_context("ip"),
    ),
    _spm_invalid(
        "invalid payload: context: rejects bad user_agent",
        {**CHECKED, "user_agent": {}},
        _spm_context("user_agent"),
    ),
    _spm_invalid(
        "invalid payload: context: invalid client: rejects bad client format",
        {**CHECKED, "client": "123"},
        "Body.context.client received by extensibility point is not an object",
    ),
    _spm_invalid(
        "invalid payload: context: invalid client: rejects bad client_id",
        {**CHECKED, "client": {"client_id": 123}},
        "Body.context.client.client_id received by extensibility point is not a string",
    ),
    _spm_invalid(
        "invalid payload: context: invalid client: rejects bad name",
        {**CHECKED, "client": {"client_id": "someClientId", "name": {}}},
        "Body.context.client.name received by extensibility point is not a string",
    ),
    _spm_invalid(
        "invalid payload: context: invalid client: rejects bad client_metadata",
        {
            **CHECKED,
            "client": {
                "client_id": "someClientId",
                "name": "Test Application",
                "client_metadata": "someBadData",
            },
        },
        "Body.context.client.client_metadata received by extensibility point is not an object",
    ),
    _spm_invalid(
        "invalid payload: context: rejects bad user format",
        {**CHECKED, "client": GOOD_CLIENT, "user": "someBadUserFormat"},
        "Body.context.user received by extensibility point is not an object",
    ),
    Case(
        source=SPM,
        title="valid payload: works without client",
        compiler="send-phone-message",
        js=SPM_STRINGIFY_JS,
        python=SPM_STRINGIFY_PY,
        body={"recipient": NUMBER, "text": TEXT, "context": {**CHECKED, "user": {}}},
        expected=success("{}"),
        note=STRINGIFY,
    ),
    Case(
        source=SPM,
        title="valid payload: works with a client",
        compiler="send-phone-message",
        js=SPM_STRINGIFY_JS,
        python=SPM_STRINGIFY_PY,
        body={
            "recipient": NUMBER,
            "text": TEXT,
            "context": {**SFA, "user": {}, "client": GOOD_CLIENT},
        },
        expected=success("{}"),
        note=STRINGIFY,
    ),
    Case(
        source=SPM,
        title="valid payload: works with a client with no client_metadata",
        compiler="send-phone-message",
        js=SPM_STRINGIFY_JS,
        python=SPM_STRINGIFY_PY,
        body={
            "recipient": NUMBER,
            "text": TEXT,
            "context": {**SFA, "user": {}, "client": GOOD_CLIENT},
        },
        expected=success("{}"),
        note="The reference test's body does carry client_metadata ({}), despite its title. "
        + STRINGIFY,
    ),
    Case(
        source=SPM,
        title="valid payload: provides a custom error object",
        compiler="send-phone-message",
        js=(
            "module.exports = function(recipient, text, context, cb) "
            '{ cb(new SendPhoneMessageError("e1", "e2")); };'
        ),
        python=(
            "def rule(recipient, text, context, cb):\n    cb(SendPhoneMessageError('e1', 'e2'))\n"
        ),
        body={
            "recipient": NUMBER,
            "text": TEXT,
            "context": {**SFA, "user": {}, "client": GOOD_CLIENT},
        },
        expected={
            "status": "error",
            "data": {"message": "e1", "name": "SendPhoneMessageError", "friendlyMessage": "e2"},
        },
    ),
]


# -- user-registration.tests.js (the reference tests pre-user-registration) --------------------

USR = "user-registration.tests.js"
USR_NOOP_JS = "module.exports = function(user, context, cb) { cb(); };"
USR_NOOP_PY = "def rule(user, context, cb):\n    cb()\n"
USR_BODY: JSON = {"user": {}, "context": {"connection": {}}}


def _usr(title: str, expected: JSON, body: JSON = None, **extra: Any) -> Case:
    return Case(
        source=USR,
        title=title,
        compiler="pre-user-registration",
        js=extra.pop("js", USR_NOOP_JS),
        python=extra.pop("python", USR_NOOP_PY),
        body=USR_BODY if body is None else body,
        expected=expected,
        **extra,
    )


USER_REGISTRATION = [
    Case(
        source=USR,
        title="compiles to a function with 3 arguments",
        compiler="pre-user-registration",
        js="module.exports = function(user, context, cb) { cb(null, user); };",
        python="def rule(user, context, cb):\n    cb(None, user)\n",
        compile_only=True,
    ),
    _usr(
        "success for no-op callback",
        success({}),
        note="Python's cb() is JS's cb(): the compiler answers {} for any falsy result.",
    ),
    _usr(
        "success when setting app_metadata and user_metadata",
        success({"user": {"app_metadata": {"foo": 1}, "user_metadata": {"bar": 2}}}),
        js=(
            "module.exports = function(user, context, cb) { cb(null, { user: "
            "{ app_metadata: { foo: 1 }, user_metadata: { bar: 2 } } }); };"
        ),
        python="""\
def rule(user, context, cb):
    cb(None, {'user': {'app_metadata': {'foo': 1}, 'user_metadata': {'bar': 2}}})
""",
    ),
    _usr(
        "rejects calls with invalid payload",
        error("Body received by extensibility point is not an object"),
        body="no good",
    ),
    _usr(
        "rejects calls with invalid payload (bad user)",
        error("Body.user received by extensibility point is not an object"),
        body={"user": "bad user", "context": {"connection": {}}},
    ),
    _usr(
        "rejects calls with invalid payload (bad context)",
        error("Body.context received by extensibility point is not an object"),
        body={"user": {}, "context": "bad context"},
    ),
    _usr(
        "rejects calls with invalid payload (bad connection)",
        error("Body.context.connection received by extensibility point is not an object"),
        body={"user": {}, "context": {"connection": "bad connection"}},
    ),
    _usr("rejects calls without authorization secret", UNAUTHORIZED, secrets=SECRET),
    _usr(
        "rejects calls with wrong authorization secret",
        UNAUTHORIZED,
        secrets=SECRET,
        headers=BAD_AUTH,
    ),
    _usr(
        "provides a custom error object",
        {
            "status": "error",
            "data": {
                "message": "message",
                "name": "PreUserRegistrationError",
                "friendlyMessage": "friendly message",
            },
        },
        js=(
            "module.exports = function(user, context, cb) "
            '{ cb(new PreUserRegistrationError("message", "friendly message")); };'
        ),
        python=(
            "def rule(user, context, cb):\n"
            "    cb(PreUserRegistrationError('message', 'friendly message'))\n"
        ),
    ),
]


CASES: list[Case] = [
    *CLIENT_CREDENTIALS_EXCHANGE,
    *GENERIC,
    *PASSWORD_EXCHANGE,
    *SEND_PHONE_MESSAGE,
    *USER_REGISTRATION,
]

# api.test.js: ``typeof Compilers[name] === 'function'`` for each export it names.
API_EXPORTS = {
    "has generic api": ["generic"],
    "has client-credentials-exchange api": [
        "client-credentials-exchange",
        "password-exchange",
        "post-change-password",
        "pre-user-registration",
        "post-user-registration",
        "generic",
    ],
}
