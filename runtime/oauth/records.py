"""What the token server stores per tenant (container): APIs, clients and users."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Grant = Literal["password", "client_credentials"]
GRANTS: tuple[Grant, ...] = ("password", "client_credentials")


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiRecord:
    """A resource server: tokens name it in ``aud``; ``scopes`` are the ones it defines."""

    container: str
    identifier: str
    name: str
    scopes: tuple[str, ...]
    created_at: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientRecord:
    """An application. Confidential clients keep only a hash of their secret."""

    container: str
    client_id: str
    name: str
    public: bool
    grants: tuple[Grant, ...]
    metadata: Mapping[str, str] = field(default_factory=dict)
    secret_hash: str | None = None
    created_at: float = 0.0

    def __repr__(self) -> str:
        return f"ClientRecord(container={self.container!r}, client_id={self.client_id!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRecord:
    """A database user: ``email`` is stored lower-cased; the password only as an argon2id hash."""

    container: str
    user_id: str
    email: str
    password_hash: str
    created_at: float = 0.0

    def __repr__(self) -> str:
        return f"UserRecord(container={self.container!r}, user_id={self.user_id!r})"
