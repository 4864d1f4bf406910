"""Keys shared by the nodes of a cluster: from the environment, exported from a data dir, and
checked against the shared database at start-up. Key material never appears in a message."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from pathlib import Path

import pytest

from runtime.backends import check_keys, fingerprint
from runtime.keys import KeyFileError, export_lines, load_or_create_keys, node_keys
from runtime.oauth.signing import export_line, load_or_create_signing_key, node_signing_key
from runtime.settings import Settings
from runtime.sqlite_store import SQLiteStore

TOKEN = base64.b64encode(b"t" * 40).decode()
SECRETS = base64.b64encode(b"s" * 32).decode()
BOTH = (
    "Set both WTHOST_TOKEN_KEY and WTHOST_SECRETS_KEY, or neither (then the data dir's key files "
    "are used)."
)


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_environ(env, data_dir=str(tmp_path / "data"))


def test_environment_keys_replace_the_key_files(tmp_path: Path) -> None:
    keys = node_keys(settings(tmp_path, WTHOST_TOKEN_KEY=TOKEN, WTHOST_SECRETS_KEY=SECRETS))
    assert (keys.token_kid, keys.token_key, keys.secrets_key) == ("1", b"t" * 40, b"s" * 32)
    assert not (tmp_path / "data").exists()  # no key file was made


def test_without_environment_keys_the_data_dir_files_are_used(tmp_path: Path) -> None:
    assert node_keys(settings(tmp_path)) == load_or_create_keys(tmp_path / "data")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WTHOST_TOKEN_KEY": TOKEN}, BOTH),
        ({"WTHOST_SECRETS_KEY": SECRETS}, BOTH),
        (
            {"WTHOST_TOKEN_KEY": "not base64!", "WTHOST_SECRETS_KEY": SECRETS},
            "WTHOST_TOKEN_KEY is not valid base64.",
        ),
        (
            {
                "WTHOST_TOKEN_KEY": base64.b64encode(b"short").decode(),
                "WTHOST_SECRETS_KEY": SECRETS,
            },
            "WTHOST_TOKEN_KEY holds 5 bytes; it needs 32 or more.",
        ),
        (
            {"WTHOST_TOKEN_KEY": TOKEN, "WTHOST_SECRETS_KEY": TOKEN},
            "WTHOST_SECRETS_KEY holds 40 bytes; it needs exactly 32 (AES-256).",
        ),
    ],
)
def test_bad_environment_keys_are_named_but_never_quoted(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    with pytest.raises(KeyFileError) as failed:
        node_keys(settings(tmp_path, **env))
    assert str(failed.value) == message
    for value in env.values():
        assert value not in str(failed.value)


def test_exported_keys_give_another_node_the_same_keys(tmp_path: Path) -> None:
    keys = load_or_create_keys(tmp_path / "data")
    signing = load_or_create_signing_key(tmp_path / "data")
    lines = [*export_lines(keys), export_line(signing)]
    env = dict(line.split("=", 1) for line in lines)
    assert sorted(env) == ["WTHOST_SECRETS_KEY", "WTHOST_SIGNING_KEY", "WTHOST_TOKEN_KEY"]
    other = settings(tmp_path / "elsewhere", **env)
    assert node_keys(other) == keys
    assert node_signing_key(other).kid == signing.kid
    pem = base64.b64decode(env["WTHOST_SIGNING_KEY"]).decode()
    assert node_signing_key(settings(tmp_path, WTHOST_SIGNING_KEY=pem)).kid == signing.kid


def test_a_token_key_with_another_kid_cannot_be_exported(tmp_path: Path) -> None:
    keys = dataclasses.replace(load_or_create_keys(tmp_path), token_kid="7")
    with pytest.raises(KeyFileError, match="kid '7'"):
        export_lines(keys)


@pytest.mark.parametrize("value", ["-----BEGIN PRIVATE KEY-----\nnope\n", "bm9wZQ==", "??"])
def test_a_bad_signing_key_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(KeyFileError, match="WTHOST_SIGNING_KEY") as failed:
        node_signing_key(settings(tmp_path, WTHOST_SIGNING_KEY=value))
    assert "nope" not in str(failed.value)


def test_fingerprints_name_keys_without_revealing_them() -> None:
    assert fingerprint(b"a" * 32) == fingerprint(b"a" * 32)
    assert fingerprint(b"a" * 32) != fingerprint(b"b" * 32)
    assert len(fingerprint(b"a" * 32)) == 16


def test_the_first_node_registers_its_keys_and_others_must_match(tmp_path: Path) -> None:
    async def main() -> None:
        store = SQLiteStore(tmp_path / "db.sqlite")
        await store.open()
        try:
            keys = load_or_create_keys(tmp_path / "one")
            await check_keys(store, keys, "kid-1")
            await check_keys(store, keys, "kid-1")  # the same keys again: fine
            with pytest.raises(KeyFileError, match=r"node's signing key differs.*SIGNING_KEY"):
                await check_keys(store, keys, "kid-2")
            other = load_or_create_keys(tmp_path / "two")
            with pytest.raises(KeyFileError, match=r"node's token key differs.*TOKEN_KEY"):
                await check_keys(store, other, "kid-1")
            mixed = dataclasses.replace(keys, secrets_key=other.secrets_key)
            with pytest.raises(KeyFileError, match=r"node's secrets key differs.*SECRETS_KEY"):
                await check_keys(store, mixed, "kid-1")
        finally:
            await store.close()

    asyncio.run(main())
