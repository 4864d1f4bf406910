"""Imports flow one way: runtime → compilers, sandbox; sandbox → compilers; compilers → none."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {"compilers": {"runtime", "sandbox"}, "sandbox": {"runtime"}, "runtime": set()}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_flow_one_way(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
        if _imports(path) & FORBIDDEN[package]
    }
    assert offenders == {}


def test_compilers_do_no_io() -> None:
    banned = {"os", "socket", "subprocess", "asyncio", "sqlite3", "pathlib", "httpx", "starlette"}
    for path in (ROOT / "compilers").rglob("*.py"):
        assert not (_imports(path) & banned), path
