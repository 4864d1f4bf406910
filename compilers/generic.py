"""``auth0-ext-compilers/generic``: the extension secret check around a plain webtask.

A 2-argument rule ``(ctx, cb)`` gets the reference envelope (``ctx.body`` is the body the
compiler read). A 3-argument rule ``(ctx, req, res)`` runs raw after the same secret check, as in
the reference: it writes its own response (streamed), with the platform's ``ctx`` and ``req``.
"""

from __future__ import annotations

from compilers import context, extension
from compilers.base import HookRequest, Invocation, Outcome, Reply, RuleError

ARITY = "A generic rule must take (ctx, cb) or (ctx, req, res)."


class Generic:
    """Authorize with the extension secret, then run ``(ctx, cb)`` inside the envelope, or
    ``(ctx, req, res)`` raw."""

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
        raw = context.raw_args(request.ctx, request.req, request.body, request.parse_body)
        return Invocation(
            args_by_arity={2: wrapped, 3: raw},
            arity_error=ARITY,
            raw_arities=frozenset({3}),
            storage=True,
        )

    def respond(self, outcome: Outcome) -> Reply:
        return extension.respond(outcome)
