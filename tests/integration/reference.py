"""The reference npm packages (auth0-ext-compilers 6.1.0, webtask-runtime 2.0.0) as an oracle.

Installed with npm into ``.cache/npm-ref`` on first use (not global, not committed), unless an
environment variable names a ``node_modules`` folder that already holds them. Tests ask them for
the exact answers our ported cases expect, so a drift from the reference fails a test.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess

import pytest

from tests.integration.server import ROOT

PACKAGES = ("auth0-ext-compilers@6.1.0", "webtask-runtime@2.0.0")
PREFIX = ROOT / ".cache" / "npm-ref"
MODULES = PREFIX / "node_modules"


def reference_node_modules(variable: str) -> str:
    """``$variable`` when set, else the packages installed into ``.cache/npm-ref``."""
    given = os.environ.get(variable)
    if given:
        return given
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.fail("Node.js and npm are needed to ask the reference packages for answers.")
    if all((MODULES / name.split("@")[0]).is_dir() for name in PACKAGES):
        return str(MODULES)
    PREFIX.mkdir(parents=True, exist_ok=True)
    with (PREFIX / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not all((MODULES / name.split("@")[0]).is_dir() for name in PACKAGES):
            result = subprocess.run(
                [npm, "install", "--prefix", str(PREFIX), "--no-audit", "--no-fund", *PACKAGES],
                capture_output=True,
                text=True,
                timeout=600,
                env={**os.environ, "NO_UPDATE_NOTIFIER": "1"},
            )
            if result.returncode != 0:
                pytest.fail(f"npm install {' '.join(PACKAGES)} failed:\n{result.stderr[-4000:]}")
    return str(MODULES)
