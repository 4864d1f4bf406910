"""``pre-user-registration``, ``post-user-registration`` and ``post-change-password``.

One reference module serves all three points: ``(user, context, cb)`` where ``context`` is a
copy of ``body.context`` plus ``webtask``. The reference wraps the callback as
``cb(e, e ? undefined : (d || {}))``, so any falsy result answers ``{}``. Rules may fail with
``PreUserRegistrationError(message, friendly_message)``.
"""

from __future__ import annotations

from compilers import extension
from compilers.base import HookRequest, Invocation, Outcome, Reply, RuleError
from compilers.extension import NOT_OBJECT, is_object, prop

USER = "Body.user received by extensibility point is not an object"
CONTEXT = "Body.context received by extensibility point is not an object"
CONNECTION = "Body.context.connection received by extensibility point is not an object"
POINTS = ("pre-user-registration", "post-user-registration", "post-change-password")


def check(body: extension.Body) -> str | None:
    """The first validation failure's message, or None."""
    if not is_object(body):
        return NOT_OBJECT
    if not is_object(prop(body, "user")):
        return USER
    context = prop(body, "context")
    if not is_object(context):
        return CONTEXT
    if not is_object(prop(context, "connection")):
        return CONNECTION
    return None


class UserRegistration:
    """The user-registration family; ``point`` names which one (they behave identically)."""

    def __init__(self, point: str) -> None:
        if point not in POINTS:
            raise ValueError(
                f"Unknown user-registration point {point!r}; expected one of {POINTS}."
            )
        self.name = f"auth0-ext-compilers/{point}"
        self.arity_error = f"A {point} rule must take (user, context, cb)."

    def prepare(self, request: HookRequest) -> Invocation | Reply:
        body = extension.authorized_body(request)
        if isinstance(body, Reply):
            return body
        problem = check(body)
        if problem is not None:
            return extension.error_reply(RuleError(message=problem))
        # check() passed, so body and body.context are JSON objects.
        context = dict(extension.field(body, "context"))
        context["webtask"] = extension.webtask_context(request, body)
        user = extension.field(body, "user")
        return Invocation(args_by_arity={3: [user, context]}, arity_error=self.arity_error)

    def respond(self, outcome: Outcome) -> Reply:
        if outcome.error is not None:
            return extension.rule_failure_reply(outcome.error)
        result = outcome.result
        return extension.success_reply(result if extension.is_truthy(result) else {})
