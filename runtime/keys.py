"""Key material kept in the data dir: created on first start, mode 0600, never logged."""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

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
