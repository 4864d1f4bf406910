"""The real wt-cli 11.0.2 (``wt`` and ``auth0``), installed with npm into ``.cache/npm-wt``.

The install runs once (a lock file guards concurrent sessions) and is skipped when the binary is
already there. Every ``WtCli`` has its own HOME, so ``~/.webtask`` profiles never leak between
tests or into the developer's home.
"""

from __future__ import annotations

import fcntl
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.integration.server import ROOT

WT_CLI = "wt-cli@11.0.2"
PREFIX = ROOT / ".cache" / "npm-wt"
BIN = PREFIX / "node_modules" / ".bin"


class WtInstallError(RuntimeError):
    """npm is missing or could not install wt-cli (the machine's problem, not the server's)."""


def ensure_wt_cli() -> Path:
    """Install wt-cli into ``.cache/npm-wt`` unless it is already there; returns the bin dir."""
    if (BIN / "wt").exists() and (BIN / "auth0").exists():
        return BIN
    npm = shutil.which("npm")
    if npm is None:
        raise WtInstallError("npm is not on PATH: install Node.js 20 and npm to run the wt tests.")
    PREFIX.mkdir(parents=True, exist_ok=True)
    with (PREFIX / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (BIN / "wt").exists():
            result = subprocess.run(
                [npm, "install", "--prefix", str(PREFIX), "--no-audit", "--no-fund", WT_CLI],
                capture_output=True,
                text=True,
                timeout=600,
                env={**os.environ, "NO_UPDATE_NOTIFIER": "1"},
            )
            if result.returncode != 0 or not (BIN / "wt").exists():
                raise WtInstallError(f"npm install {WT_CLI} failed:\n{result.stderr[-4000:]}")
    return BIN


class WtCli:
    """Runs ``wt``/``auth0`` with a private HOME; results keep stdout and stderr apart."""

    def __init__(self, home: Path) -> None:
        self.bin = ensure_wt_cli()
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        env = {
            k: v
            for k, v in os.environ.items()
            if k.lower() not in ("http_proxy", "https_proxy", "force_color")
        }
        env.update({"HOME": str(home), "NO_UPDATE_NOTIFIER": "1", "CI": "1"})
        self.env = env

    def run(
        self, program: str, *args: str, ok: bool = True, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.bin / program), *args],
            cwd=cwd or self.home,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        if ok and result.returncode != 0:
            raise AssertionError(
                f"{program} {' '.join(args)} exited {result.returncode}:\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}"
            )
        return result

    def wt(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("wt", *args, ok=ok)

    def auth0(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("auth0", *args, ok=ok)

    def profile(self) -> Mapping[str, object]:
        data: Mapping[str, object] = json.loads((self.home / ".webtask").read_text())
        return data

    def write(self, name: str, text: str) -> Path:
        path = self.home / name
        path.write_text(text)
        return path

    @contextmanager
    def stream(self, *args: str) -> Iterator[LineReader]:
        """A long-running ``wt`` command (``wt logs``) whose stdout is read line by line."""
        proc = subprocess.Popen(
            [str(self.bin / "wt"), *args],
            cwd=self.home,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        reader = LineReader(proc)
        try:
            yield reader
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            reader.close()


class LineReader:
    """Collects a process's output lines on a thread, so tests can wait with a timeout."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """After the process ended: let the pump reach EOF, then close the pipe."""
        self._thread.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, fragment: str, timeout: float = 20.0) -> str:
        """The first line (already seen or new) containing ``fragment``."""
        for line in self.lines:
            if fragment in line:
                return line
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                item = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if item is None:
                raise AssertionError(
                    f"wt exited ({self.proc.wait()}) before printing {fragment!r}:\n"
                    + "\n".join(self.lines)
                )
            self.lines.append(item)
            if fragment in item:
                return item
        raise AssertionError(
            f"no line with {fragment!r} within {timeout} s:\n" + "\n".join(self.lines)
        )
