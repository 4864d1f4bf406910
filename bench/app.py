"""The benchmark server: wthost's own app plus a no-op Starlette route, in one hypercorn.

Both routes share the process, event loop and HTTP stack, so the ratio between them isolates
what wthost adds (lookup, compiler, one round trip to a warm sandbox worker).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

from hypercorn.asyncio import serve
from hypercorn.config import Config
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runtime.app import create_app
from runtime.settings import Settings


async def noop(request: Request) -> Response:
    await request.body()
    return Response(b'{"ok":true}', media_type="application/json")


async def main(port_file: str) -> None:
    settings = Settings.from_environ(os.environ)
    app = create_app(settings)
    app.router.routes.insert(0, Route("/bench/noop", noop, methods=["GET", "POST"]))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    Path(port_file).write_text(str(sock.getsockname()[1]))  # noqa: ASYNC240 - before serving
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    await serve(app, config)  # type: ignore[arg-type]


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
