"""``auth0-ext-compilers/generic``: the extension secret check around a plain webtask.

A 2-argument rule ``(ctx, cb)`` gets the reference envelope (``ctx.body`` is the body the
compiler read). The reference runs a 3-argument rule ``(ctx, req, res)`` raw, after the same
secret check; this runtime does not hand rules ``req``/``res`` yet, so that form answers a clear
error envelope instead (the secret is still checked first, as in the reference).
"""

from __future__ import annotations

from compilers import extension
from compilers.base import HookRequest, Invocation, Outcome, Reply, RuleError

RAW_UNSUPPORTED = (
    "The (ctx, req, res) form of a generic rule is not supported by this runtime yet: "
    "take (ctx, cb) instead."
)
ARITY = "A generic rule must take (ctx, cb)."


class Generic:
    """Authorize with the extension secret, then run ``(ctx, cb)`` inside the envelope."""

    name = "auth0-ext-compilers/generic"

    def prepare(self, request: HookRequest) -> Invocation | Reply:
        denied = extension.authorize(request)
        if denied is not None:
            return extension.error_reply(denied)
        body = extension.read_body(request)
        # A body that does not parse fails only the wrapped form: the raw form reads its own.
        wrapped = (
            body if isinstance(body, RuleError) else [extension.webtask_context(request, body)]
        )
        return Invocation(
            args_by_arity={2: wrapped, 3: RuleError(message=RAW_UNSUPPORTED)},
            arity_error=ARITY,
        )

    def respond(self, outcome: Outcome) -> Reply:
        return extension.respond(outcome)
