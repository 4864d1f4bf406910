"""The plain webtask model (no ``wt-compiler``): ``(cb)`` and ``(ctx, cb)``, answered as
webtask-runtime 2.0.0 does — ``cb(err)`` → 400 "Script returned an error.", falsy results → ``{}``.
"""

from __future__ import annotations

from compilers.base import HookRequest, Invocation, Outcome, Reply

SIGNATURES = (
    "Unable to compile submitted JavaScript. Supplied code must return or export a function "
    "with one of the supported signatures: ([ctx], callback) or (ctx, req, res)"
)


def _falsy(value: object) -> bool:
    return value is None or value is False or value == 0 or value == ""


class PlainWebtask:
    """Runs a plain webtask; ``ctx`` is the request's webtask context."""

    name = ""

    def prepare(self, request: HookRequest) -> Invocation | Reply:
        return Invocation(args_by_arity={1: [], 2: [dict(request.ctx)]}, arity_error=SIGNATURES)

    def respond(self, outcome: Outcome) -> Reply:
        if outcome.error is not None:
            message = outcome.error.message
            return Reply(
                status=400,
                body={
                    "code": 400,
                    "error": "Script returned an error.",
                    "details": f"Error: {message}" if message else "Error",
                    "message": message,
                },
            )
        return Reply(status=200, body={} if _falsy(outcome.result) else outcome.result)
