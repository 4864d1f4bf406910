"""A real ``wthost serve`` process on 127.0.0.1:0 for integration tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
SEED_PY = """\
def rule(client, scope, audience, context, cb):
    access_token = {}
    access_token['https://foo.com/claim'] = 'bar'
    access_token['scope'] = scope
    access_token['scope'].append('extra')
    cb(None, access_token)
"""
SEED_BODY: dict[str, Any] = {
    "client": {"id": "sample-client", "name": "Sample", "tenant": "acme", "metadata": {}},
    "scope": ["read:sample"],
    "audience": "https://someapi.com/api",
    "context": {"ip": "127.0.0.1", "userAgent": "pytest"},
}
PASSWORD_EXCHANGE = "auth0-ext-compilers/password-exchange"


def hook_meta(secret: str) -> dict[str, str]:
    return {
        "wt-compiler": PASSWORD_EXCHANGE,
        "auth0-extension": "runtime",
        "auth0-extension-name": "password-exchange",
        "auth0-extension-secret": secret,
    }


class Server:
    """Starts ``python -m runtime serve --port 0`` and reads the bound port from its log."""

    def __init__(self, data_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.data_dir = data_dir
        environ = {k: v for k, v in os.environ.items() if not k.startswith("WTHOST_")}
        environ.update(env or {})
        self.env = environ
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "runtime", "serve", "--port", "0", "--data-dir", str(data_dir)],
            cwd=ROOT,
            env=environ,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self.url = self._wait_for_url()
            self.client = httpx.Client(base_url=self.url, timeout=30)
            self._wait_healthy()
        except BaseException:
            # A server that failed to start leaves no process or open file behind.
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            if hasattr(self, "client"):
                self.client.close()
            self._log.close()
            raise
        self.admin_token = self.cli("token", "create", "--admin").strip()

    def _wait_for_url(self) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            match = re.search(r"listening on (http://[\d.]+:\d+)", text)
            if match:
                return match.group(1)
            if self.proc.poll() is not None:
                raise RuntimeError(f"wthost serve exited early:\n{text}")
            time.sleep(0.05)
        raise RuntimeError("wthost serve did not report its address in 30 s")

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"wthost serve exited:\n{self.log_path.read_text()}")
            time.sleep(0.05)
        raise RuntimeError("wthost serve did not become healthy in 30 s")

    def cli(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "runtime", *args, "--data-dir", str(self.data_dir)],
            cwd=ROOT,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.admin_token}"}

    def put(
        self,
        container: str,
        name: str,
        code: str,
        *,
        meta: Mapping[str, str] | None = None,
        secrets: Mapping[str, str] | None = None,
        token: str | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {"code": code}
        if meta is not None:
            body["meta"] = dict(meta)
        if secrets is not None:
            body["secrets"] = dict(secrets)
        return self.client.put(
            f"/api/webtask/{container}/{name}", json=body, headers=self.auth(token)
        )

    def put_hook(self, container: str, name: str, code: str, secret: str = "s3cret") -> None:
        response = self.put(
            container,
            name,
            code,
            meta=hook_meta(secret),
            secrets={"auth0-extension-secret": secret},
        )
        assert response.status_code == 200, response.text

    def run_hook(
        self,
        container: str,
        name: str,
        body: Any = None,
        secret: str = "s3cret",
    ) -> httpx.Response:
        return self.client.post(
            f"/api/run/{container}/{name}",
            json=SEED_BODY if body is None else body,
            headers={"Authorization": f"Bearer {secret}"},
        )

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
