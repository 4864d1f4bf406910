"""Secrets at rest: AES-256-GCM with a random 96-bit nonce, bound to where the value belongs."""

from __future__ import annotations

import base64
import json
import secrets as _random
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PREFIX = "v1."


class DecryptionError(ValueError):
    """A ciphertext was altered, moved to another record, or made with another key."""


class SecretBox:
    """Encrypts JSON values; ``aad`` ties a ciphertext to its owner (e.g. ``container/name``)."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    def seal(self, value: Any, aad: str) -> str:
        nonce = _random.token_bytes(12)
        plaintext = json.dumps(value, separators=(",", ":")).encode()
        sealed = self._aead.encrypt(nonce, plaintext, aad.encode())
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def open(self, token: str, aad: str) -> Any:
        if not token.startswith(_PREFIX):
            raise DecryptionError("Not a wthost ciphertext.")
        body = token[len(_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            plaintext = self._aead.decrypt(raw[:12], raw[12:], aad.encode())
        except (ValueError, InvalidTag) as exc:
            raise DecryptionError("Ciphertext does not decrypt with this key and owner.") from exc
        return json.loads(plaintext)
