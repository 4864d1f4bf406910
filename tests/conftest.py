from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No WTHOST_* variable from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("WTHOST_"):
            monkeypatch.delenv(name)
