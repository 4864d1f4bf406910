"""``auth0-ext-compilers/client-credentials-exchange``: ``(client, scope, audience, context, cb)``.

Checks run in the reference's order with its exact messages (note the space in ``Body .x``).
The checks use ``typeof`` as the reference does, so a ``null`` client passes and a ``null`` body
or context makes the reference throw — answered here the way webtask-runtime answers it.
Rules may fail with ``InvalidRequestError``, ``InvalidScopeError`` or ``ServerError``.
"""

from __future__ import annotations

from compilers import extension
from compilers.base import HookRequest, Invocation, Outcome, Reply, RuleError
from compilers.extension import NOT_OBJECT, prop, typeof

CLIENT = "Body .client received by extensibility point is not an object"
SCOPE = "Body .scope received by extensibility point is neither empty nor an array"
AUDIENCE = "Body .audience received by extensibility point is not a string"
ARITY = "A client-credentials-exchange rule must take (client, scope, audience, context, cb)."


def check(body: extension.Body) -> str | None:
    """The first validation failure's message, or None (``NullDereference`` where JS throws)."""
    if typeof(body) != "object":
        return NOT_OBJECT
    if typeof(prop(body, "client")) != "object":
        return CLIENT
    scope = prop(body, "scope")
    if extension.is_truthy(scope) and not isinstance(scope, list):
        return SCOPE
    if typeof(prop(body, "audience")) != "string":
        return AUDIENCE
    return None


class ClientCredentialsExchange:
    """Authorize with the extension secret, validate the body, build the argument list."""

    name = "auth0-ext-compilers/client-credentials-exchange"

    def prepare(self, request: HookRequest) -> Invocation | Reply:
        body = extension.authorized_body(request)
        if isinstance(body, Reply):
            return body
        try:
            problem = check(body)
            if problem is not None:
                return extension.error_reply(RuleError(message=problem))
            context = extension.rule_context(body, request)
        except extension.NullDereference as crash:
            return extension.crash_reply(crash)
        names = ["client", "scope", "audience"]
        args = [*(extension.field(body, name) for name in names), context]
        return Invocation(
            args_by_arity={5: args},
            arity_error=ARITY,
            undefined_args={5: extension.absent(body, names)},
        )

    def respond(self, outcome: Outcome) -> Reply:
        return extension.respond(outcome)
