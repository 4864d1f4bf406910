"""Two ``wthost serve`` nodes on one PostgreSQL database and one Redis, as behind a load
balancer: what one node writes the other serves, logs cross nodes, and a node killed with
SIGKILL under load costs the other node nothing and loses nothing."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.integration.server import Server
from tests.support.services import REDIS_URL, postgres_database

CONTAINER = "acme"


def version_rule(version: int) -> str:
    return (
        f"def f(ctx, cb):\n    print('node output v{version}')\n    cb(None, {{'v': {version}}})\n"
    )


def cluster_keys() -> dict[str, str]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return {
        "WTHOST_TOKEN_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "WTHOST_SECRETS_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "WTHOST_SIGNING_KEY": base64.b64encode(pem).decode(),
    }


class Cluster:
    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp = tmp
        self.env = env
        self.nodes: list[Server] = []

    def start(self, name: str, **extra: str) -> Server:
        node = Server(self.tmp / name, env={**self.env, **extra})
        self.nodes.append(node)
        return node

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with postgres_database() as url:
        env = {
            "WTHOST_DATABASE_URL": url,
            "WTHOST_REDIS_URL": REDIS_URL,
            "WTHOST_RULE_TIMEOUT_MS": "5000",
            "WTHOST_SPARE_WORKERS": "1",
            **cluster_keys(),
        }
        cluster = Cluster(tmp_path_factory.mktemp("cluster"), env)
        try:
            cluster.start("a")
            cluster.start("b")
            yield cluster
        finally:
            cluster.stop()


def run(node: Server, name: str, **params: str) -> httpx.Response:
    return node.client.post(f"/api/run/{CONTAINER}/{name}", params=params, json={})


def test_both_nodes_report_the_shared_backends(cluster: Cluster) -> None:
    for node in cluster.nodes[:2]:
        backends = node.client.get("/healthz").json()["backends"]
        assert backends["store"].startswith("postgresql postgresql://postgres@")
        assert backends["bus"] == f"redis {REDIS_URL}"


def test_created_on_a_runs_on_b_with_its_secrets(cluster: Cluster) -> None:
    a, b = cluster.nodes[:2]
    code = "def f(ctx, cb):\n    cb(None, {'secret': ctx.secrets.API_KEY})\n"
    created = a.put(CONTAINER, "created-on-a", code, secrets={"API_KEY": "k-123"})
    assert created.status_code == 200, created.text
    # A token minted by A (inside the webtask record) is valid on B too: the keys are shared.
    token = created.json()["token"]
    # (a webtask token may read its own webtask's storage, nothing else of the container)
    own = b.client.get(f"/api/webtask/{CONTAINER}/created-on-a/data", headers=b.auth(token))
    assert own.status_code == 200, own.text
    answer = run(b, "created-on-a")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"secret": "k-123"}


def test_an_update_on_a_is_served_by_b_within_a_second(cluster: Cluster) -> None:
    a, b = cluster.nodes[:2]
    assert a.put(CONTAINER, "versioned", version_rule(1)).status_code == 200
    assert run(b, "versioned").json() == {"v": 1}  # now in B's cache
    assert run(b, "versioned").json() == {"v": 1}
    assert a.put(CONTAINER, "versioned", version_rule(2)).status_code == 200
    written = time.monotonic()
    while run(b, "versioned").json() != {"v": 2}:
        assert time.monotonic() - written < 1.0, "B still serves the old code after 1 s"
    latency = time.monotonic() - written
    assert [run(b, "versioned").json() for _ in range(3)] == [{"v": 2}] * 3
    print(f"invalidation latency A->B: {latency * 1000:.0f} ms")
    assert a.client.delete(f"/api/webtask/{CONTAINER}/versioned", headers=a.auth()).status_code in (
        200,
        204,
    )
    deleted = time.monotonic()
    while run(b, "versioned").status_code != 404:
        assert time.monotonic() - deleted < 1.0, "B still runs a deleted webtask after 1 s"


def read_stream(node: Server, container: str, records: list[dict[str, Any]]) -> httpx.Client:
    token = node.cli("token", "create", "--container", container).strip()
    client = httpx.Client(timeout=30)
    opened = threading.Event()

    def read() -> None:
        try:
            with client.stream(
                "GET", f"{node.url}/api/logs/tenant/{container}", params={"key": token}
            ) as response:
                opened.set()
                for line in response.iter_lines():
                    if line.startswith("data:{") and line != "data:{}":
                        records.append(json.loads(line[5:]))
        except httpx.HTTPError:
            pass  # closed by the test

    threading.Thread(target=read, daemon=True).start()
    assert opened.wait(10)
    return client


def test_rule_output_on_b_appears_in_the_log_stream_on_a(cluster: Cluster) -> None:
    a, b = cluster.nodes[:2]
    assert a.put(CONTAINER, "talker", version_rule(7)).status_code == 200
    records: list[dict[str, Any]] = []
    stream = read_stream(a, CONTAINER, records)
    try:
        deadline = time.monotonic() + 5
        printed: list[dict[str, Any]] = []
        while not printed:
            # Interest travels through Redis: the first run may come just before B hears of it.
            assert time.monotonic() < deadline, f"no line from B in A's stream: {records}"
            assert run(b, "talker").status_code == 200
            time.sleep(0.1)
            printed = [r for r in records if r["msg"] == "node output v7"]
        assert printed[0]["pid"] == b.proc.pid
        assert printed[0]["sandbox"] is True
        assert printed[0]["container"] == CONTAINER
        assert b.proc.pid != a.proc.pid
    finally:
        stream.close()


def test_keys_that_differ_from_the_cluster_refuse_to_start(cluster: Cluster) -> None:
    other = base64.b64encode(secrets.token_bytes(32)).decode()
    with pytest.raises(RuntimeError) as failed:
        cluster.start("wrong-keys", WTHOST_SECRETS_KEY=other)
    message = str(failed.value)
    assert "This node's secrets key differs from the one the shared database is used with" in (
        message
    )
    assert other not in message


def test_killing_a_under_load_costs_b_nothing_and_loses_nothing(cluster: Cluster) -> None:
    a, b = cluster.nodes[:2]
    assert a.put(CONTAINER, "steady", version_rule(3)).status_code == 200
    stop = threading.Event()
    b_results: list[int | str] = []
    written: list[str] = []

    def load_b() -> None:
        with httpx.Client(base_url=b.url, timeout=10) as client:
            while not stop.is_set():
                try:
                    response = client.post(f"/api/run/{CONTAINER}/steady", json={})
                    b_results.append(response.status_code)
                except httpx.HTTPError as exc:
                    b_results.append(type(exc).__name__)

    def write_a() -> None:
        with httpx.Client(base_url=a.url, timeout=10, headers=a.auth()) as client:
            for i in range(10_000):
                if stop.is_set():
                    return
                name = f"written-{i}"
                try:
                    response = client.put(
                        f"/api/webtask/{CONTAINER}/{name}", json={"code": version_rule(i)}
                    )
                except httpx.HTTPError:
                    return  # A is gone
                if response.status_code == 200:
                    written.append(name)

    workers = [threading.Thread(target=load_b) for _ in range(2)]
    workers.append(threading.Thread(target=write_a))
    for worker in workers:
        worker.start()
    try:
        time.sleep(1.5)
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(10)
        killed_at = len(b_results)
        time.sleep(2.0)
    finally:
        stop.set()
        for worker in workers:
            worker.join(20)
    after_kill = b_results[killed_at:]
    assert written, "A acknowledged no write before it was killed"
    assert len(after_kill) >= 5, f"B answered only {len(after_kill)} requests after the kill"
    failures = [result for result in b_results if result != 200]
    assert failures == [], f"B failed {len(failures)} of {len(b_results)} requests"
    print(
        f"B: {len(b_results)} requests, {len(after_kill)} after the kill, 0 failed; "
        f"A acknowledged {len(written)} writes before SIGKILL"
    )

    # Every write A acknowledged before it died is there, on B and on A restarted.
    restarted = cluster.start("a")
    for node in (b, restarted):
        names = {
            item["name"]
            for item in node.client.get(
                f"/api/webtask/{CONTAINER}", params={"limit": "10000"}, headers=node.auth()
            ).json()
        }
        assert set(written) <= names
    last = written[-1]
    index = int(last.rsplit("-", 1)[1])
    assert run(restarted, last).json() == {"v": index}
    assert run(restarted, "steady").json() == {"v": 3}


def doctor(env: dict[str, str], tmp: Path) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WTHOST_")}
    return subprocess.run(
        [sys.executable, "-m", "runtime", "doctor", "--json", "--data-dir", str(tmp)],
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_doctor_reports_the_backends_and_that_they_answer(cluster: Cluster, tmp_path: Path) -> None:
    result = doctor(cluster.env, tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)["backends"]
    assert report["store"]["ok"] is True
    assert report["store"]["backend"].startswith("postgresql postgresql://postgres@127.0.0.1")
    assert re.search(r"PostgreSQL \d+\.\d+, schema version \d+$", report["store"]["detail"])
    assert report["bus"] == {
        "backend": f"redis {REDIS_URL}",
        "ok": True,
        "detail": report["bus"]["detail"],
    }
    assert report["bus"]["detail"].startswith("reachable in ")


def test_doctor_fails_on_unreachable_backends_without_showing_passwords(tmp_path: Path) -> None:
    env = {
        "WTHOST_DATABASE_URL": "postgresql://wthost:hunter2@127.0.0.1:1/wthost",
        "WTHOST_REDIS_URL": "redis://:hunter3@127.0.0.1:1/0",
    }
    result = doctor(env, tmp_path)
    assert result.returncode == 1
    report = json.loads(result.stdout)["backends"]
    assert report["store"]["ok"] is False
    assert report["store"]["backend"] == "postgresql postgresql://wthost:***@127.0.0.1:1/wthost"
    assert report["bus"]["ok"] is False
    assert report["bus"]["backend"] == "redis redis://:***@127.0.0.1:1/0"
    assert "Backends not reachable: postgresql postgresql://wthost:***@" in result.stderr
    assert "hunter" not in result.stdout + result.stderr


NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def documented_nginx_config() -> str:
    text = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text()
    block = text.split("<!-- nginx:start -->")[1].split("<!-- nginx:end -->")[0]
    return block.strip().removeprefix("```nginx").removesuffix("```")


@pytest.fixture
def nginx(cluster: Cluster, tmp_path: Path) -> Iterator[tuple[str, Server, Server]]:
    """nginx running the docs' configuration in front of two new nodes of the cluster."""
    if NGINX is None:
        if os.environ.get("CI"):
            pytest.fail(
                "nginx is missing: make test installs it as root (apt-get install nginx-light)"
            )
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    first, second = cluster.start("n1"), cluster.start("n2")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    addresses = iter(node.url.removeprefix("http://") for node in (first, second))
    config = re.sub(
        r"server 10\.0\.0\.1\d:8080",
        lambda _: f"server {next(addresses)}",
        documented_nginx_config(),
    )
    assert next(addresses, None) is None, "the docs' upstream no longer lists two nodes"
    config = config.replace("listen 80;", f"listen 127.0.0.1:{port};")
    temp = "\n".join(
        f"    {kind}_temp_path {tmp_path}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = (
        f"daemon off;\nworker_processes 1;\npid {tmp_path}/nginx.pid;\n"
        f"error_log {tmp_path}/error.log;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n    access_log off;\n{temp}\n{config}\n}}\n"
    )
    conf = tmp_path / "nginx.conf"
    conf.write_text(main)
    checked = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-c", str(conf)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    proc = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", first, second
    finally:
        proc.terminate()
        proc.wait(10)
        assert proc.stderr is not None
        proc.stderr.close()


def test_the_documented_nginx_config_balances_streams_and_fails_over(
    nginx: tuple[str, Server, Server],
) -> None:
    url, first, second = nginx
    headers = first.auth()
    with httpx.Client(base_url=url, timeout=10) as client:
        put = client.put(
            f"/api/webtask/{CONTAINER}/balanced", json={"code": version_rule(5)}, headers=headers
        )
        assert put.status_code == 200, put.text
        # Host (with its port) reaches the node: URLs it returns point at the balancer.
        assert put.json()["webtask_url"] == f"{url}/api/run/{CONTAINER}/balanced"

        # Log streams work through nginx. Two of them: least_conn puts one on each node (an open
        # stream is an active connection), so runs then alternate between the nodes; each
        # stream shows the lines of both.
        records: list[dict[str, Any]] = []
        token = first.cli("token", "create", "--container", CONTAINER).strip()
        stream = httpx.Client(timeout=30)

        def read(opened: threading.Event) -> None:
            try:
                with stream.stream(
                    "GET", f"{url}/api/logs/tenant/{CONTAINER}", params={"key": token}
                ) as response:
                    opened.set()
                    for line in response.iter_lines():
                        if line.startswith("data:{") and line != "data:{}":
                            records.append(json.loads(line[5:]))
            except httpx.HTTPError:
                pass

        for _ in range(2):
            opened = threading.Event()
            threading.Thread(target=read, args=(opened,), daemon=True).start()
            assert opened.wait(10)
        try:
            pids = {first.proc.pid, second.proc.pid}
            deadline = time.monotonic() + 10
            seen: set[int] = set()
            while seen != pids:
                assert time.monotonic() < deadline, f"runs reached only {seen} of {pids}"
                assert client.post(f"/api/run/{CONTAINER}/balanced", json={}).json() == {"v": 5}
                time.sleep(0.05)
                seen = {r["pid"] for r in records if r["msg"] == "node output v5"}
        finally:
            stream.close()

        # A node killed under load: only requests it held at that moment may fail.
        results: list[tuple[float, int | str]] = []
        stop = threading.Event()

        def load() -> None:
            with httpx.Client(base_url=url, timeout=10) as c:
                while not stop.is_set():
                    try:
                        status: int | str = c.post(f"/api/run/{CONTAINER}/balanced").status_code
                    except httpx.HTTPError as exc:
                        status = type(exc).__name__
                    results.append((time.monotonic(), status))

        threads = [threading.Thread(target=load) for _ in range(2)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(0.5)
            second.proc.send_signal(signal.SIGKILL)
            second.proc.wait(10)
            killed = time.monotonic()
            time.sleep(1.5)
        finally:
            stop.set()
            for thread in threads:
                thread.join(20)
        failed = [(t, s) for t, s in results if s != 200]
        assert len(failed) <= len(threads), f"more failures than requests in flight: {failed}"
        assert all(t < killed + 0.5 for t, _ in failed), failed
        after = [s for t, s in results if t > killed + 0.5]
        assert len(after) >= 20
        assert set(after) == {200}
        print(
            f"through nginx: {len(results)} requests, {len(failed)} failed (in flight on the "
            f"killed node), {len(after)} after it, all 200"
        )
