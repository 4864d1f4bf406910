"""Create, list and delete a tenant's APIs, clients and users: shared by the CLI and the admin
HTTP API, so both validate alike. Raises ``runtime.errors`` API errors for bad input."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from runtime.errors import APIError, BadRequest, NotFound
from runtime.oauth import credentials
from runtime.oauth.records import GRANTS, ApiRecord, ClientRecord, Grant, UserRecord
from runtime.store import Store
from runtime.webtasks import NAME_RE

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
MAX_PASSWORD_CHARS = 1024


def check_name(kind: str, value: str) -> str:
    if not NAME_RE.match(value):
        raise BadRequest(
            f"Invalid {kind} name {value!r}: use 1-128 characters from a-z, A-Z, 0-9 and "
            "-._~!$+=:@."
        )
    return value


class Conflict(APIError):
    """The natural key (API identifier, email) is already taken in the tenant (caller's fault)."""

    status = 409
    error = "Conflict"


def check_scope(value: str) -> str:
    if not SCOPE_TOKEN.match(value):
        raise BadRequest(
            f"Invalid scope {value!r}: a scope is printable ASCII without spaces, '\"' or '\\'."
        )
    return value


def _check_text(kind: str, value: object, limit: int = 200) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise BadRequest(f"Invalid {kind} {value!r}: expected 1-{limit} characters.")
    if any(ord(ch) < 32 for ch in value):
        raise BadRequest(f"Invalid {kind} {value!r}: control characters are not allowed.")
    return value


def _check_identifier(value: object) -> str:
    identifier = _check_text("API identifier", value, 600)
    if any(ch.isspace() for ch in identifier):
        raise BadRequest(f"Invalid API identifier {identifier!r}: spaces are not allowed.")
    return identifier


def parse_metadata(pairs: Iterable[str], kind: str = "metadata") -> dict[str, str]:
    """``k=v`` strings (from the CLI) into a map; ``kind`` names them in the error."""
    metadata: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BadRequest(f"Invalid {kind} {pair!r}: expected key=value.")
        metadata[key] = value
    return metadata


def _check_metadata(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadRequest("Client metadata must be an object of strings.")
    if len(value) > 10:
        raise BadRequest(f"Client metadata has {len(value)} keys; at most 10 are allowed.")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise BadRequest(f"Client metadata {key!r} must map a string to a string.")
        if not 1 <= len(key) <= 255 or len(item) > 255:
            raise BadRequest(f"Client metadata {key!r}: keys and values are up to 255 characters.")
    return dict(value)


def _check_grants(value: object, public: bool) -> tuple[Grant, ...]:
    if value is None or value == []:
        return ("password",) if public else GRANTS
    if not isinstance(value, list | tuple):
        raise BadRequest("Client grants must be a list.")
    grants: list[Grant] = []
    for item in value:
        grant = next((g for g in GRANTS if g == item), None)
        if grant is None:
            raise BadRequest(f"Unknown grant {item!r}: expected one of {', '.join(GRANTS)}.")
        if grant not in grants:
            grants.append(grant)
    if public and "client_credentials" in grants:
        raise BadRequest("A public client cannot use client_credentials: it has no secret.")
    return tuple(grants)


def describe_api(api: ApiRecord) -> dict[str, Any]:
    return {
        "identifier": api.identifier,
        "name": api.name,
        "scopes": list(api.scopes),
        "tenant": api.container,
    }


def describe_client(client: ClientRecord, secret: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_id": client.client_id,
        "name": client.name,
        "tenant": client.container,
        "public": client.public,
        "grants": list(client.grants),
        "metadata": dict(client.metadata),
        "token_endpoint_auth_method": "none"
        if client.public
        else "client_secret_post client_secret_basic",
    }
    if secret is not None:
        body["client_secret"] = secret
    return body


def describe_user(user: UserRecord) -> dict[str, Any]:
    return {"user_id": user.user_id, "email": user.email, "tenant": user.container}


class Registry:
    """A tenant's OAuth records, validated on the way in."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def create_api(
        self, container: str, identifier: object, scopes: Sequence[object], name: object = None
    ) -> ApiRecord:
        check_name("container", container)
        api = ApiRecord(
            container=container,
            identifier=_check_identifier(identifier),
            name=_check_text("API name", name if name is not None else identifier, 600),
            scopes=tuple(dict.fromkeys(check_scope(_check_text("scope", s)) for s in scopes)),
            created_at=time.time(),
        )
        if not await self.store.add_api(api):
            raise Conflict(f"An API with identifier {api.identifier!r} exists in {container!r}.")
        return api

    async def list_apis(self, container: str) -> list[ApiRecord]:
        return await self.store.list_apis(check_name("container", container))

    async def delete_api(self, container: str, identifier: str) -> None:
        if not await self.store.delete_api(check_name("container", container), identifier):
            raise NotFound(f"No API with identifier {identifier!r} in {container!r}.")

    async def create_client(
        self,
        container: str,
        name: object,
        *,
        public: bool,
        grants: object = None,
        metadata: object = None,
    ) -> tuple[ClientRecord, str | None]:
        """The new client and, for a confidential one, its secret (shown once, stored hashed)."""
        check_name("container", container)
        secret = None if public else credentials.new_client_secret()
        client = ClientRecord(
            container=container,
            client_id=credentials.new_client_id(),
            name=_check_text("client name", name),
            public=public,
            grants=_check_grants(grants, public),
            metadata=_check_metadata(metadata),
            secret_hash=None if secret is None else credentials.hash_client_secret(secret),
            created_at=time.time(),
        )
        if not await self.store.add_client(client):
            raise Conflict(f"Client id {client.client_id!r} is taken; try again.")
        return client, secret

    async def list_clients(self, container: str) -> list[ClientRecord]:
        return await self.store.list_clients(check_name("container", container))

    async def delete_client(self, container: str, client_id: str) -> None:
        if not await self.store.delete_client(check_name("container", container), client_id):
            raise NotFound(f"No client {client_id!r} in {container!r}.")

    async def create_user(self, container: str, email: object, password: object) -> UserRecord:
        check_name("container", container)
        if not isinstance(email, str) or not EMAIL.match(email) or len(email) > 320:
            raise BadRequest(f"Invalid email {email!r}: expected name@domain.")
        if not isinstance(password, str) or not password:
            raise BadRequest("The password must be a non-empty string.")
        if len(password) > MAX_PASSWORD_CHARS:
            raise BadRequest(f"The password is longer than {MAX_PASSWORD_CHARS} characters.")
        user = UserRecord(
            container=container,
            user_id="auth0|" + secrets.token_hex(12),
            email=email.lower(),
            password_hash=await asyncio.to_thread(credentials.hash_password, password),
            created_at=time.time(),
        )
        if not await self.store.add_user(user):
            raise Conflict(f"A user with email {user.email!r} exists in {container!r}.")
        return user

    async def list_users(self, container: str) -> list[UserRecord]:
        return await self.store.list_users(check_name("container", container))

    async def delete_user(self, container: str, email: str) -> None:
        if not await self.store.delete_user(check_name("container", container), email.lower()):
            raise NotFound(f"No user with email {email!r} in {container!r}.")
