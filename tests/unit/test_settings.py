from __future__ import annotations

import re
from pathlib import Path

import pytest

from runtime.settings import LAYERS, SETTINGS, Settings, SettingsError

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults_match_the_dataclass() -> None:
    assert Settings.from_environ({}) == Settings()


def test_values_are_parsed() -> None:
    settings = Settings.from_environ(
        {"WTHOST_PORT": "9000", "WTHOST_ISOLATION": "Invocation", "WTHOST_SANDBOX_REQUIRE": "all"}
    )
    assert settings.port == 9000
    assert settings.isolation == "invocation"
    assert settings.sandbox_require == LAYERS


def test_bad_value_names_variable_and_value() -> None:
    with pytest.raises(SettingsError, match=r"WTHOST_RULE_TIMEOUT_MS has value 'abc'"):
        Settings.from_environ({"WTHOST_RULE_TIMEOUT_MS": "abc"})


def test_out_of_range_value_is_refused() -> None:
    with pytest.raises(SettingsError, match="from 50 to 600000"):
        Settings.from_environ({"WTHOST_RULE_TIMEOUT_MS": "1"})


def test_unknown_variable_is_an_error() -> None:
    with pytest.raises(SettingsError, match="Unknown setting WTHOST_TIMEOUT"):
        Settings.from_environ({"WTHOST_TIMEOUT": "1"})


def test_unknown_layer_is_refused() -> None:
    with pytest.raises(SettingsError, match="unknown layer 'selinux'"):
        Settings.from_environ({"WTHOST_SANDBOX_REQUIRE": "seccomp,selinux"})


def test_overrides_from_flags_win() -> None:
    assert Settings.from_environ({"WTHOST_PORT": "1"}, port=2).port == 2


def test_readme_documents_every_setting_with_its_default() -> None:
    text = README.read_text()
    table = text.split("<!-- settings:start -->")[1].split("<!-- settings:end -->")[0]
    rows = re.findall(r"^\| `(WTHOST_[A-Z_]+)` \| `([^`]*)` \|", table, re.M)
    assert rows == [(s.env, s.default) for s in SETTINGS]
