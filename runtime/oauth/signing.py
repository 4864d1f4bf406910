"""The RS256 key that signs access tokens: a PEM file in the data dir (0600), ``kid`` = its
RFC 7638 JWK thumbprint, published at ``/.well-known/jwks.json``."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from runtime.keys import KeyFileError

if TYPE_CHECKING:
    from runtime.settings import Settings

SIGNING_KEY_FILE = "oauth-signing-key.pem"


@dataclass(frozen=True, slots=True)
class SigningKey:
    """An RSA private key and its key id."""

    kid: str
    private_key: rsa.RSAPrivateKey

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r}, <key hidden>)"

    def sign(self, claims: Mapping[str, Any]) -> str:
        return jwt.encode(
            dict(claims),
            self.private_key,
            algorithm="RS256",
            headers={"kid": self.kid, "typ": "JWT"},
        )

    def jwk(self) -> dict[str, Any]:
        return {**_public_jwk(self.private_key), "kid": self.kid, "alg": "RS256", "use": "sig"}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk()]}


def _public_jwk(key: rsa.RSAPrivateKey) -> dict[str, Any]:
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {"kty": "RSA", "n": jwk["n"], "e": jwk["e"]}


def thumbprint(key: rsa.RSAPrivateKey) -> str:
    """RFC 7638: SHA-256 over the required members in lexicographic order, base64url."""
    members = _public_jwk(key)
    canonical = json.dumps(
        {"e": members["e"], "kty": "RSA", "n": members["n"]}, separators=(",", ":")
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _create(path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Write aside, then link into place: two processes starting at once agree on one key.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_or_create_signing_key(data_dir: Path) -> SigningKey:
    """The data dir's signing key, generated (RSA 2048) on first use."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SIGNING_KEY_FILE
    if not path.exists():
        _create(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise KeyFileError(f"Signing key {path} is unreadable ({exc}); restore it.") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFileError(f"Signing key {path} is not an RSA key; restore it.")
    return SigningKey(kid=thumbprint(key), private_key=key)


def _pem_from_env(value: str) -> bytes:
    """``WTHOST_SIGNING_KEY``: the PEM itself, or base64 of it (one line, easier in env files)."""
    text = value.strip()
    if text.startswith("-----BEGIN"):
        return text.encode()
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise KeyFileError("WTHOST_SIGNING_KEY is neither a PEM key nor base64 of one.") from exc


def node_signing_key(settings: Settings) -> SigningKey:
    """The key from ``WTHOST_SIGNING_KEY`` when set, else the data dir's signing key."""
    if not settings.signing_key:
        return load_or_create_signing_key(settings.data_path)
    try:
        key = serialization.load_pem_private_key(_pem_from_env(settings.signing_key), password=None)
    except (ValueError, TypeError) as exc:
        # The parser's message never contains key material; the value is not quoted.
        raise KeyFileError(f"WTHOST_SIGNING_KEY is not a usable private key ({exc}).") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFileError("WTHOST_SIGNING_KEY is not an RSA key.")
    return SigningKey(kid=thumbprint(key), private_key=key)


def export_line(key: SigningKey) -> str:
    """The ``WTHOST_SIGNING_KEY=`` line that gives another node this key (base64 of the PEM)."""
    pem = key.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return f"WTHOST_SIGNING_KEY={base64.b64encode(pem).decode()}"
