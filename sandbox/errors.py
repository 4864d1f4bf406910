"""Errors raised by the sandbox package; each says whose fault it is."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class SandboxError(Exception):
    """Base class: a rule could not be run to an answer."""


class ExecutionTimeout(SandboxError):
    """The rule did not answer within the wall-clock limit; its worker was killed (rule's fault)."""

    def __init__(self, timeout_ms: int) -> None:
        super().__init__(
            f"Request to Webtask exceeded allowed execution time: the rule did not finish "
            f"within {timeout_ms} ms."
        )
        self.timeout_ms = timeout_ms


class WorkerCrashed(SandboxError):
    """The worker died or misbehaved mid-call: a limit killed it, or it broke (``reason`` says)."""

    def __init__(self, reason: str, returncode: int | None = None) -> None:
        super().__init__(f"The rule's sandbox process ended: {reason}.")
        self.reason = reason
        self.returncode = returncode


class PoolBusy(SandboxError):
    """Every worker is busy and the wait queue is full (load; retry later)."""

    def __init__(self, retry_after_s: int = 1) -> None:
        super().__init__("All sandbox workers are busy and the queue is full; retry shortly.")
        self.retry_after_s = retry_after_s


class PoolClosed(SandboxError):
    """The pool is shutting down (*our* shutdown, not a failure)."""


class SandboxUnavailable(SandboxError):
    """Required isolation layers are not live on this host (the operator must fix the host)."""

    def __init__(self, missing: dict[str, str]) -> None:
        detail = "; ".join(f"{name}: {status}" for name, status in missing.items())
        super().__init__(
            f"Required sandbox layers are not live ({detail}). Run `wthost doctor`, fix the "
            "host, or relax WTHOST_SANDBOX_REQUIRE."
        )
        self.missing = missing


class CompileFailed(SandboxError):
    """The rule source does not compile or load (the uploader's fault)."""

    def __init__(self, language: str, diagnostics: Sequence[dict[str, Any]]) -> None:
        first = diagnostics[0] if diagnostics else {"line": 0, "column": 0, "message": "unknown"}
        super().__init__(
            f"Unable to compile the {language} rule: line {first.get('line', 0)}, column "
            f"{first.get('column', 0)}: {first.get('message', '')}"
        )
        self.language = language
        self.diagnostics = list(diagnostics)
