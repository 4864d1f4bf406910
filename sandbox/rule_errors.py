"""The error classes Python rules can raise or pass to ``cb``, as in auth0-ext-compilers 6.1.0.

The reference injects these classes into every extensibility rule (its "prelude"). Each one
sets ``name`` as an own property, so the error envelope shows it; the friendly-message ones add
``friendlyMessage`` (falling back to the message). ``describe_error`` in the worker reads
``wt_name`` and ``wt_props`` to report exactly those fields, nothing else.

Rules see the classes themselves (they cannot define classes of their own). They cannot change
them: RestrictedPython's write guard refuses attribute writes on anything but plain data, and
``wt_props`` is a fresh dict on every read.
"""

from __future__ import annotations

from typing import Any


def _truthy(value: object) -> bool:
    """JavaScript truthiness for a message (``friendlyMessage || message``)."""
    if value is None or value is False or value == "":
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == value and value != 0
    return True


class ExtensibilityUserError(Exception):
    """A failure the rule reports on purpose (the caller's or the rule's business, not ours).

    The envelope's ``data`` is ``{"message": …, "name": <class name>}``.
    """

    def __init__(self, message: Any = "") -> None:
        super().__init__(message)

    @property
    def message(self) -> str:
        """The message, as JavaScript's ``err.message``."""
        return str(self)

    @property
    def wt_name(self) -> str:
        """The ``name`` the envelope shows: the class name, like ``this.constructor.name``."""
        return type(self).__name__

    @property
    def wt_props(self) -> dict[str, Any]:
        """Own fields beyond ``message`` and ``name`` (a fresh dict on every read)."""
        return {}


class InvalidRequestError(ExtensibilityUserError):
    """client-credentials-exchange: the token request is invalid (OAuth2 ``invalid_request``)."""


class InvalidScopeError(ExtensibilityUserError):
    """client-credentials-exchange: a requested scope is refused (OAuth2 ``invalid_scope``)."""


class ServerError(ExtensibilityUserError):
    """client-credentials-exchange: the rule could not decide (OAuth2 ``server_error``)."""


class _FriendlyError(ExtensibilityUserError):
    """An error with a message for end users: ``friendlyMessage || message``."""

    def __init__(
        self,
        message: Any = "",
        friendly_message: Any = None,
        *,
        friendlyMessage: Any = None,  # the reference's spelling, for ported rules
    ) -> None:
        super().__init__(message)
        friendly = friendly_message if friendly_message is not None else friendlyMessage
        self.__friendly = friendly if _truthy(friendly) else message

    @property
    def friendly_message(self) -> Any:
        """The message shown to the end user."""
        return self.__friendly

    @property
    def friendlyMessage(self) -> Any:
        """The message shown to the end user (JavaScript spelling)."""
        return self.__friendly

    @property
    def wt_props(self) -> dict[str, Any]:
        return {"friendlyMessage": self.__friendly}


class PreUserRegistrationError(_FriendlyError):
    """pre-user-registration: refuse the sign-up with ``(message, friendly_message)``."""


class SendPhoneMessageError(_FriendlyError):
    """send-phone-message: the message could not be sent, with ``(message, friendly_message)``."""


RULE_ERRORS: dict[str, type[ExtensibilityUserError]] = {
    cls.__name__: cls
    for cls in (
        ExtensibilityUserError,
        InvalidRequestError,
        InvalidScopeError,
        ServerError,
        PreUserRegistrationError,
        SendPhoneMessageError,
    )
}
"""What ``sandbox.policy.rule_globals`` puts in every Python rule's namespace."""
