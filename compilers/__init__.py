"""Compilers selected by meta ``wt-compiler``: trusted, pure adapters around a rule.

``get_compiler(meta)`` returns the compiler for a webtask (the plain webtask model when meta
names none) or raises ``UnknownCompiler``.
"""

from __future__ import annotations

from collections.abc import Mapping

from compilers.base import (
    JSON,
    Compiler,
    HookRequest,
    Invocation,
    Outcome,
    Reply,
    RuleError,
)
from compilers.client_credentials_exchange import ClientCredentialsExchange
from compilers.generic import Generic
from compilers.password_exchange import PasswordExchange
from compilers.send_phone_message import SendPhoneMessage
from compilers.user_registration import POINTS, UserRegistration
from compilers.webtask import PlainWebtask

__all__ = [
    "JSON",
    "PLAIN",
    "REGISTRY",
    "Compiler",
    "HookRequest",
    "Invocation",
    "Outcome",
    "Reply",
    "RuleError",
    "UnknownCompiler",
    "get_compiler",
]


class UnknownCompiler(LookupError):
    """Meta ``wt-compiler`` names a compiler this server does not have (the uploader's mistake)."""

    def __init__(self, name: str) -> None:
        known = ", ".join(sorted(REGISTRY))
        super().__init__(f"Unknown wt-compiler {name!r}. Available compilers: {known}.")
        self.compiler_name = name


# Only the full ``auth0-ext-compilers/<export>`` names: ``wt-compiler`` names a node module (and
# optionally one of its exports), and the bare export names are not modules of their own.
EXTENSION_COMPILERS: tuple[Compiler, ...] = (
    ClientCredentialsExchange(),
    PasswordExchange(),
    *(UserRegistration(point) for point in POINTS),
    SendPhoneMessage(),
    Generic(),
)
REGISTRY: dict[str, Compiler] = {compiler.name: compiler for compiler in EXTENSION_COMPILERS}


PLAIN: Compiler = PlainWebtask()


def get_compiler(meta: Mapping[str, str]) -> Compiler:
    """The compiler named by ``meta['wt-compiler']``; the plain webtask model when absent."""
    name = meta.get("wt-compiler")
    if not name:
        return PLAIN
    compiler = REGISTRY.get(name)
    if compiler is None:
        raise UnknownCompiler(name)
    return compiler
