"""``auth0-ext-compilers/password-exchange``.

Two rule shapes, told apart by arity: the reference's ``(user, client, scope, audience,
context, cb)`` and the seed's ``(client, scope, audience, context, cb)``. Checks run in the
reference's order with its exact messages; the ``user`` check applies to the 6-argument form only.
"""

from __future__ import annotations

from compilers import extension
from compilers.base import HookRequest, Invocation, Outcome, Reply, RuleError
from compilers.extension import NOT_OBJECT

AUDIENCE = "Body.audience received by extensibility point is not a string"
SCOPE = "Body.scope received by extensibility point is neither empty nor an array"
USER = "Body.user received by extensibility point is not an object"
CLIENT = "Body.client received by extensibility point is not an object"
ARITY = (
    "A password-exchange rule must take (user, client, scope, audience, context, cb) "
    "or (client, scope, audience, context, cb)."
)


def _check(body: extension.Body, *, with_user: bool) -> str | None:
    if not extension.is_object(body):
        return NOT_OBJECT
    if not isinstance(extension.field(body, "audience"), str):
        return AUDIENCE
    scope = extension.field(body, "scope")
    if extension.is_truthy(scope) and not isinstance(scope, list):
        return SCOPE
    if with_user and not extension.is_object(extension.field(body, "user")):
        return USER
    if not extension.is_object(extension.field(body, "client")):
        return CLIENT
    return None


class PasswordExchange:
    """Authorize with the extension secret, validate the body, build both argument lists."""

    name = "auth0-ext-compilers/password-exchange"

    def prepare(self, request: HookRequest) -> Invocation | Reply:
        body = extension.authorized_body(request)
        if isinstance(body, Reply):
            return body
        problems = {5: _check(body, with_user=False), 6: _check(body, with_user=True)}
        if problems[5] is not None and problems[5] == problems[6]:
            return extension.error_reply(RuleError(message=problems[5]))
        try:
            context = extension.rule_context(body, request)
        except extension.NullDereference as crash:
            # A null context: the reference throws once validation has passed. The seed form
            # shares the context, so it crashes too.
            return extension.crash_reply(crash)
        names = {5: ["client", "scope", "audience"], 6: ["user", "client", "scope", "audience"]}
        return Invocation(
            args_by_arity={
                arity: (
                    [*(extension.field(body, name) for name in names[arity]), context]
                    if problem is None
                    else RuleError(message=problem)
                )
                for arity, problem in problems.items()
            },
            arity_error=ARITY,
            undefined_args={arity: extension.absent(body, names[arity]) for arity in names},
        )

    def respond(self, outcome: Outcome) -> Reply:
        return extension.respond(outcome)
