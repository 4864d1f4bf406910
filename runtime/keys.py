"""Key material kept in the data dir: created on first start, mode 0600, never logged.

A cluster gives every node the same keys through ``WTHOST_TOKEN_KEY`` and ``WTHOST_SECRETS_KEY``
(``node_keys``); ``wthost keys export`` prints them from a data dir.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runtime.settings import Settings

TOKEN_KEY_FILE = "webtask-token.key"
SECRETS_KEY_FILE = "secrets.key"


class KeyFileError(RuntimeError):
    """A key file exists but cannot be used (damaged or edited by hand: the operator's problem)."""


@dataclass(frozen=True, slots=True)
class Keys:
    """The HS256 key that signs webtask tokens and the AES-256-GCM key for secrets at rest."""

    token_kid: str
    token_key: bytes
    secrets_key: bytes

    def __repr__(self) -> str:
        return f"Keys(token_kid={self.token_kid!r}, <keys hidden>)"


def _write_private(path: Path, content: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)


def _read_json(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return {str(k): str(v) for k, v in data.items()}
    except (OSError, ValueError) as exc:
        raise KeyFileError(
            f"Key file {path} is unreadable ({exc}); restore it from backup."
        ) from exc


def load_or_create_keys(data_dir: Path) -> Keys:
    """Read the keys from ``data_dir``, creating missing ones with fresh random bytes."""
    data_dir.mkdir(parents=True, exist_ok=True)
    token_path = data_dir / TOKEN_KEY_FILE
    if not token_path.exists():
        _write_private(
            token_path,
            json.dumps({"kid": "1", "key": base64.b64encode(secrets.token_bytes(32)).decode()}),
        )
    secrets_path = data_dir / SECRETS_KEY_FILE
    if not secrets_path.exists():
        _write_private(
            secrets_path, json.dumps({"key": base64.b64encode(secrets.token_bytes(32)).decode()})
        )
    token = _read_json(token_path)
    box = _read_json(secrets_path)
    try:
        token_key = base64.b64decode(token["key"], validate=True)
        secrets_key = base64.b64decode(box["key"], validate=True)
    except (KeyError, ValueError) as exc:
        raise KeyFileError(f"Key files in {data_dir} are damaged; restore them.") from exc
    if len(secrets_key) != 32 or len(token_key) < 32:
        raise KeyFileError(f"Key files in {data_dir} hold keys of the wrong length; restore them.")
    return Keys(token_kid=token.get("kid", "1"), token_key=token_key, secrets_key=secrets_key)


def _env_key(variable: str, value: str) -> bytes:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except ValueError as exc:
        # Never quote the value: it is a key.
        raise KeyFileError(f"{variable} is not valid base64.") from exc


def node_keys(settings: Settings) -> Keys:
    """The keys from ``WTHOST_TOKEN_KEY`` and ``WTHOST_SECRETS_KEY`` when set (both or neither),
    else the data dir's key files."""
    if not settings.token_key and not settings.secrets_key:
        return load_or_create_keys(settings.data_path)
    if not settings.token_key or not settings.secrets_key:
        raise KeyFileError(
            "Set both WTHOST_TOKEN_KEY and WTHOST_SECRETS_KEY, or neither (then the data dir's "
            "key files are used)."
        )
    token_key = _env_key("WTHOST_TOKEN_KEY", settings.token_key)
    secrets_key = _env_key("WTHOST_SECRETS_KEY", settings.secrets_key)
    if len(token_key) < 32:
        raise KeyFileError(f"WTHOST_TOKEN_KEY holds {len(token_key)} bytes; it needs 32 or more.")
    if len(secrets_key) != 32:
        raise KeyFileError(
            f"WTHOST_SECRETS_KEY holds {len(secrets_key)} bytes; it needs exactly 32 (AES-256)."
        )
    return Keys(token_kid="1", token_key=token_key, secrets_key=secrets_key)


def export_lines(keys: Keys) -> list[str]:
    """``VARIABLE=value`` lines that give another node these keys."""
    if keys.token_kid != "1":
        raise KeyFileError(
            f"The token key has kid {keys.token_kid!r}; only kid '1' can be exported to "
            "WTHOST_TOKEN_KEY."
        )
    return [
        f"WTHOST_TOKEN_KEY={base64.b64encode(keys.token_key).decode()}",
        f"WTHOST_SECRETS_KEY={base64.b64encode(keys.secrets_key).decode()}",
    ]
