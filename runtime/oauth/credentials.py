"""Password and client-secret hashing.

User passwords are low-entropy: argon2id (argon2-cffi's RFC 9106 low-memory profile) in a
thread, with a dummy verification for unknown users so timing does not reveal who exists.
Client secrets are 384 random bits we generate ourselves, so a fast SHA-256 digest is enough
(a slow hash would only make every client-credentials request slower).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher(type=Type.ID)
SECRET_PREFIX = "sha256:"


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    return _HASHER.hash(secrets.token_hex(16))


async def check_password(password_hash: str | None, password: str) -> bool:
    """Verify off the event loop; ``None`` (unknown user) costs the same and fails."""
    if password_hash is None:
        await asyncio.to_thread(verify_password, _dummy_hash(), password)
        return False
    return await asyncio.to_thread(verify_password, password_hash, password)


def new_client_id() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(32))


def new_client_secret() -> str:
    return secrets.token_urlsafe(48)


def hash_client_secret(secret: str) -> str:
    return SECRET_PREFIX + hashlib.sha256(secret.encode()).hexdigest()


def check_client_secret(secret_hash: str | None, presented: str) -> bool:
    if not secret_hash or not secret_hash.startswith(SECRET_PREFIX):
        return False
    return hmac.compare_digest(secret_hash, hash_client_secret(presented))
