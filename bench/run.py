"""Run the wthost benchmarks and print a Markdown report of ratios against a same-run baseline.

    .venv/bin/python bench/run.py [--duration 10] [--connections 16] [--samples 40]

Needs `wrk` (Debian package `wrk`). Starts bench/app.py (wthost + a no-op route in one
hypercorn) with a temporary data dir, uploads the seed rule in Python and JavaScript, then:
- warm throughput and latency with wrk against the no-op route and both rules;
- first call after an upload (new code version in a warm container);
- first call into a new container (upload starts its worker, then the first call);
- idle worker memory (RSS and PSS from /proc).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
BODY = {
    "client": {"id": "bench"},
    "scope": ["read:sample"],
    "audience": "https://someapi.com/api",
    "context": {},
}
SECRET = "bench-secret"
META = {
    "wt-compiler": "auth0-ext-compilers/password-exchange",
    "auth0-extension": "runtime",
    "auth0-extension-name": "password-exchange",
    "auth0-extension-secret": SECRET,
}
SEED_PY = (ROOT / "examples/seed/rule.py").read_text()
SEED_JS = (ROOT / "examples/seed/myrule.js").read_text()


def wrk(url: str, duration: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-s",
            str(ROOT / "bench/post.lua"),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    percentiles = {}
    for pct, value, unit in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        factor = {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
        percentiles[int(pct)] = float(value) * factor
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": percentiles.get(50, float("nan")),
        "p99_ms": percentiles.get(99, float("nan")),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
    }


def put(client: httpx.Client, token: str, container: str, name: str, code: str) -> None:
    response = client.put(
        f"/api/webtask/{container}/{name}",
        json={"code": code, "meta": META, "secrets": {"auth0-extension-secret": SECRET}},
        headers={"Authorization": f"Bearer {token}"},
    )
    response.raise_for_status()


def call_ms(client: httpx.Client, container: str, name: str) -> float:
    started = time.perf_counter()
    response = client.post(
        f"/api/run/{container}/{name}", json=BODY, headers={"Authorization": f"Bearer {SECRET}"}
    )
    elapsed = (time.perf_counter() - started) * 1000
    assert response.json()["status"] == "success", response.text
    return elapsed


def worker_memory() -> list[dict[str, int]]:
    rows = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.stat(f"/proc/{pid}").st_uid != 65534:
                continue
            fields = dict(
                line.split(":", 1)
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
            )
        except OSError:
            continue
        rows.append({k: int(fields[k].split()[0]) for k in ("Rss", "Pss")})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--samples", type=int, default=40, help="cold-path samples")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    data = Path(tempfile.mkdtemp(prefix="wthost-bench-"))
    port_file = data / "port"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WTHOST_")}
    env.update(
        {
            "WTHOST_DATA_DIR": str(data / "data"),
            "WTHOST_LOG_LEVEL": "warning",
            "WTHOST_MAX_WORKERS": os.environ.get("BENCH_MAX_WORKERS", "64"),
            "WTHOST_SPARE_WORKERS": "2",
        }
    )
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "bench/app.py"), str(port_file)], cwd=ROOT, env=env
    )
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the bench server did not start")
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port_file.read_text()}"
        token = subprocess.run(
            [
                sys.executable,
                "-m",
                "runtime",
                "token",
                "create",
                "--admin",
                "--data-dir",
                str(data / "data"),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        client = httpx.Client(base_url=base, timeout=30)
        while client.get("/healthz").status_code != 200:
            time.sleep(0.05)
        put(client, token, "bench", "py", SEED_PY)
        put(client, token, "bench", "js", SEED_JS)
        for name in ("py", "js"):
            for _ in range(50):
                call_ms(client, "bench", name)
        results: dict[str, Any] = {}
        for label, path in (
            ("noop", "/bench/noop"),
            ("python", "/api/run/bench/py"),
            ("javascript", "/api/run/bench/js"),
        ):
            results[label] = wrk(base + path, args.duration, args.connections)
        after_upload = []
        for i in range(args.samples):
            put(client, token, "bench", "py", SEED_PY + f"\n# version {i}\n")
            after_upload.append(call_ms(client, "bench", "py"))
        new_container_put, new_container_call = [], []
        for i in range(args.samples):
            started = time.perf_counter()
            put(client, token, f"fresh{i}", "py", SEED_PY)
            new_container_put.append((time.perf_counter() - started) * 1000)
            new_container_call.append(call_ms(client, f"fresh{i}", "py"))
        time.sleep(1)
        memory = worker_memory()
        report(results, after_upload, new_container_put, new_container_call, memory, args)
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(data, ignore_errors=True)
    return 0


def report(
    results: dict[str, Any],
    after_upload: list[float],
    new_put: list[float],
    new_call: list[float],
    memory: list[dict[str, int]],
    args: argparse.Namespace,
) -> None:
    noop = results["noop"]
    print(f"## wthost benchmark ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores)\n")
    print(f"wrk -t2 -c{args.connections} -d{args.duration}s, POST of the seed body.\n")
    print("| route | req/s | ratio to no-op | p50 ms | p99 ms | non-2xx |")
    print("|---|---|---|---|---|---|")
    for label in ("noop", "python", "javascript"):
        row = results[label]
        print(
            f"| {label} | {row['rps']:.0f} | {row['rps'] / noop['rps']:.2f} | "
            f"{row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['non_2xx']:.0f} |"
        )
    print()
    print(
        f"First call after an upload (n={len(after_upload)}): "
        f"p50 {statistics.median(after_upload):.1f} ms, max {max(after_upload):.1f} ms"
    )
    print(
        f"Upload into a new container, which starts its worker (n={len(new_put)}): "
        f"p50 {statistics.median(new_put):.1f} ms"
    )
    print(
        f"First call into a new container (n={len(new_call)}): "
        f"p50 {statistics.median(new_call):.1f} ms; upload + first call p50 "
        f"{statistics.median([a + b for a, b in zip(new_put, new_call, strict=True)]):.1f} ms"
    )
    if memory:
        rss = statistics.median(m["Rss"] for m in memory) / 1024
        pss = statistics.median(m["Pss"] for m in memory) / 1024
        print(f"Idle workers ({len(memory)}): median RSS {rss:.1f} MiB, PSS {pss:.1f} MiB")
    print("\n```json\n" + json.dumps(results, indent=1) + "\n```")


if __name__ == "__main__":
    sys.exit(main())
