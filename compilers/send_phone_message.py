"""``auth0-ext-compilers/send-phone-message``: ``(recipient, text, context, cb)``.

Every check of the reference, in its order and with its messages; ``context`` is
``body.context`` plus ``webtask``. ``context.client`` is optional (checked only when present),
and so is ``context.client.client_metadata``. Like the reference, the checks use ``typeof``:
a ``null`` user or client_metadata passes, and a ``null`` body, context or client makes the
reference throw. Rules may fail with ``SendPhoneMessageError(message, friendly_message)``.
"""

from __future__ import annotations

from compilers import extension
from compilers.base import HookRequest, Invocation, Outcome, Reply, RuleError
from compilers.extension import NOT_OBJECT, UNDEFINED, prop, typeof

RECIPIENT = "Body.recipient received by extensibility point is not a string"
TEXT = "Body.text received by extensibility point is not a string"
CONTEXT = "Body.context received by extensibility point is not an object"
MESSAGE_TYPE = "Body.context.message_type received by extensibility point is not `sms` or `voice`"
ACTION = (
    "Body.context.action received by extensibility point is not `enrollment` or "
    "`second-factor-authentication`"
)
CLIENT = "Body.context.client received by extensibility point is not an object"
CLIENT_ID = "Body.context.client.client_id received by extensibility point is not a string"
CLIENT_NAME = "Body.context.client.name received by extensibility point is not a string"
CLIENT_METADATA = (
    "Body.context.client.client_metadata received by extensibility point is not an object"
)
USER = "Body.context.user received by extensibility point is not an object"
ARITY = "A send-phone-message rule must take (recipient, text, context, cb)."
MESSAGE_TYPES = ("sms", "voice")
ACTIONS = ("enrollment", "second-factor-authentication")
STRING_FIELDS = ("language", "code", "ip", "user_agent")


def _string_problem(field: str) -> str:
    return f"Body.context.{field} received by extensibility point is not a string"


def _one_of(value: extension.Body, allowed: tuple[str, ...]) -> bool:
    return isinstance(value, str) and value in allowed


def _client_problem(client: extension.Body) -> str | None:
    if typeof(client) != "object":
        return CLIENT
    if typeof(prop(client, "client_id")) != "string":
        return CLIENT_ID
    if typeof(prop(client, "name")) != "string":
        return CLIENT_NAME
    metadata = prop(client, "client_metadata")
    if metadata is not UNDEFINED and typeof(metadata) != "object":
        return CLIENT_METADATA
    return None


def check(body: extension.Body) -> str | None:
    """The first validation failure's message, or None (``NullDereference`` where JS throws)."""
    if typeof(body) != "object":
        return NOT_OBJECT
    if typeof(prop(body, "recipient")) != "string":
        return RECIPIENT
    if typeof(prop(body, "text")) != "string":
        return TEXT
    context = prop(body, "context")
    if typeof(context) != "object":
        return CONTEXT
    if not _one_of(prop(context, "message_type"), MESSAGE_TYPES):
        return MESSAGE_TYPE
    if not _one_of(prop(context, "action"), ACTIONS):
        return ACTION
    for name in STRING_FIELDS:
        if typeof(prop(context, name)) != "string":
            return _string_problem(name)
    client = prop(context, "client")
    if client is not UNDEFINED:
        problem = _client_problem(client)
        if problem is not None:
            return problem
    if typeof(prop(context, "user")) != "object":
        return USER
    return None


class SendPhoneMessage:
    """Authorize with the extension secret, validate the body, build the argument list."""

    name = "auth0-ext-compilers/send-phone-message"

    def prepare(self, request: HookRequest) -> Invocation | Reply:
        body = extension.authorized_body(request)
        if isinstance(body, Reply):
            return body
        try:
            problem = check(body)
        except extension.NullDereference as crash:
            return extension.crash_reply(crash)
        if problem is not None:
            return extension.error_reply(RuleError(message=problem))
        # check() passed, so body and body.context are JSON objects.
        context = dict(extension.field(body, "context"))
        context["webtask"] = extension.webtask_context(request, body)
        args = [extension.field(body, "recipient"), extension.field(body, "text"), context]
        return Invocation(args_by_arity={4: args}, arity_error=ARITY)

    def respond(self, outcome: Outcome) -> Reply:
        return extension.respond(outcome)
