from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.server import Server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One shared server; tests use their own container names."""
    srv = Server(
        tmp_path_factory.mktemp("shared") / "data",
        env={"WTHOST_RULE_TIMEOUT_MS": "3000", "WTHOST_RULE_CPU_MS": "2000"},
    )
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """A private server with its own settings, stopped after the test."""
    started: list[Server] = []

    def make(**env: str) -> Server:
        srv = Server(tmp_path / f"data{len(started)}", env=env)
        started.append(srv)
        return srv

    try:
        yield make
    finally:
        for srv in started:
            srv.stop()
