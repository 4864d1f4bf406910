"""The ``wthost`` command: serve, token create, doctor."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import socket
import sys
import time
from collections.abc import Sequence

from runtime import backends, keys_cli, tokens
from runtime.keys import KeyFileError, node_keys
from runtime.oauth import cli as oauth_cli
from runtime.settings import LAYERS, Settings, SettingsError

logger = logging.getLogger("wthost")


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_environ(
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        data_dir=getattr(args, "data_dir", None),
    )


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


async def _serve(settings: Settings) -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from runtime.app import create_app

    sock = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    sock.listen(1024)
    host, port = sock.getsockname()[:2]
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 5
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    app = create_app(settings)
    logger.info("wthost listening on http://%s:%d (data dir %s)", host, port, settings.data_path)
    await serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]


def cmd_serve(args: argparse.Namespace) -> int:
    from hypercorn.utils import LifespanFailureError

    settings = _settings(args)
    _configure_logging(settings.log_level)
    try:
        asyncio.run(_serve(settings))
    except LifespanFailureError:
        print("wthost: the server could not start; see the error above.", file=sys.stderr)
        return 1
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    settings = _settings(args)
    keys = node_keys(settings)
    claims: dict[str, object] = {"jti": tokens.new_jti(), "iat": int(time.time()), "ca": []}
    if args.admin:
        claims["dd"] = 3
    else:
        claims["ten"] = args.container
        claims["dd"] = 1
    print(tokens.sign(claims, keys))
    return 0


async def _doctor(settings: Settings) -> dict[str, str]:
    from runtime.app import pool_config
    from sandbox.pool import WorkerPool

    pool = WorkerPool(pool_config(settings.replace(sandbox_require=(), spare_workers=0)))
    try:
        return await pool.start()
    finally:
        await pool.close()


def cmd_doctor(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _configure_logging("warning")
    layers = asyncio.run(_doctor(settings))
    reachable = asyncio.run(backends.probe(settings))
    required = set(settings.sandbox_require)
    if args.json:
        print(json.dumps({"layers": layers, "required": sorted(required), "backends": reachable}))
    else:
        print("wthost sandbox isolation (proved with a real worker):")
        for name in LAYERS:
            status = layers.get(name, "missing: not reported")
            mark = "ok " if status == "live" else "!! "
            need = " (required)" if name in required else ""
            print(f"  {mark}{name:<16} {status}{need}")
        print("wthost backends (connected to once):")
        for role, report in reachable.items():
            mark = "ok " if report["ok"] else "!! "
            print(f"  {mark}{role:<16} {report['backend']}: {report['detail']}")
    missing = [name for name in required if layers.get(name) != "live"]
    if missing:
        print(f"Required layers not live: {', '.join(missing)}", file=sys.stderr)
        return 1
    down = [report["backend"] for report in reachable.values() if not report["ok"]]
    if down:
        print(f"Backends not reachable: {', '.join(down)}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wthost",
        description="Self-hosted, Webtask-compatible rule runtime.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="Run the HTTP server.", description="Run the HTTP server.")
    serve.add_argument("--host", help="Listen address (WTHOST_HOST, default 127.0.0.1).")
    serve.add_argument(
        "--port", type=int, help="Listen port; 0 picks a free one (WTHOST_PORT, default 8080)."
    )
    serve.add_argument("--data-dir", help="Data folder (WTHOST_DATA_DIR, default ./wthost-data).")
    serve.set_defaults(handler=cmd_serve)

    token = sub.add_parser(
        "token", help="Manage webtask tokens.", description="Manage webtask tokens."
    )
    token_sub = token.add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    create = token_sub.add_parser(
        "create",
        help="Print a new v1 webtask token.",
        description="Print a new v1 webtask token signed with the data dir's key.",
    )
    who = create.add_mutually_exclusive_group(required=True)
    who.add_argument("--admin", action="store_true", help="A master token for every container.")
    who.add_argument("--container", help="A profile token limited to one container.")
    create.add_argument("--data-dir", help="Data folder (WTHOST_DATA_DIR).")
    create.set_defaults(handler=cmd_token_create)

    doctor = sub.add_parser(
        "doctor",
        help="Report which sandbox isolation layers are live and which backends are reachable.",
        description="Start a real worker and report each isolation layer as live or missing; "
        "connect to the store and bus in use (WTHOST_DATABASE_URL, WTHOST_REDIS_URL).",
    )
    doctor.add_argument("--data-dir", help="Data folder (WTHOST_DATA_DIR).")
    doctor.add_argument("--json", action="store_true", help="Print the report as JSON.")
    doctor.set_defaults(handler=cmd_doctor)
    oauth_cli.add_commands(sub)
    keys_cli.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except (SettingsError, KeyFileError) as exc:
        print(f"wthost: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"wthost: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
