from __future__ import annotations

from pathlib import Path

import pytest

from runtime.crypto import DecryptionError, SecretBox
from runtime.keys import KeyFileError, load_or_create_keys


def test_seal_and_open() -> None:
    box = SecretBox(b"k" * 32)
    sealed = box.seal({"a": "secret"}, "c/n")
    assert "secret" not in sealed
    assert box.open(sealed, "c/n") == {"a": "secret"}


def test_ciphertext_is_bound_to_its_owner_and_key() -> None:
    box = SecretBox(b"k" * 32)
    sealed = box.seal({"a": 1}, "c/n")
    with pytest.raises(DecryptionError):
        box.open(sealed, "c/other")
    with pytest.raises(DecryptionError):
        SecretBox(b"j" * 32).open(sealed, "c/n")
    with pytest.raises(DecryptionError):
        box.open(sealed[:-2] + "AA", "c/n")


def test_keys_are_created_once_with_mode_0600(tmp_path: Path) -> None:
    first = load_or_create_keys(tmp_path)
    second = load_or_create_keys(tmp_path)
    assert first == second
    for path in tmp_path.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600
    assert "key" not in repr(first).replace("token_kid", "").replace("<keys hidden>", "")


def test_damaged_key_file_is_reported(tmp_path: Path) -> None:
    load_or_create_keys(tmp_path)
    (tmp_path / "secrets.key").write_text("{broken")
    with pytest.raises(KeyFileError, match="restore"):
        load_or_create_keys(tmp_path)
