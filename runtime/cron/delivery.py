"""How a cron run reaches its webtask: one ``POST /api/run/{c}/{n}`` through this node's own
ASGI app, in process — the same route, compiler and sandbox path as a client's request, without
a socket or knowing the port the server is bound to.

Only the first ``limit`` bytes of the answer are kept (history stores a capped body); the rest
is read and dropped so the rule's response completes normally.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.types import ASGIApp, Message


@dataclass(frozen=True, slots=True)
class Delivery:
    """The webtask's answer: status, headers (lower-case names) and the kept part of the body."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


class NoResponse(Exception):
    """The app ended without starting a response (a server bug, not the rule's fault)."""


class AppDelivery:
    """Calls webtasks through ``app``. ``public_url`` (may be empty) gives the Host header."""

    def __init__(self, app: ASGIApp, public_url: str, limit: int) -> None:
        self.app = app
        parts = urlsplit(public_url or "http://localhost")
        self.scheme = parts.scheme or "http"
        self.host = parts.netloc or "localhost"
        self.limit = limit

    async def __call__(
        self, container: str, name: str, headers: Mapping[str, str], body: bytes
    ) -> Delivery:
        # ASGI's path is decoded; raw_path is what went over the wire. Names have no '/'.
        path = f"/api/run/{container}/{name}"
        sent = {"host": self.host, "content-length": str(len(body)), **headers}
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": self.scheme,
            "path": path,
            "raw_path": quote(path).encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in sent.items()],
            "client": ("127.0.0.1", 0),
            "server": (self.host.rsplit(":", 1)[0], None),
        }
        answered = asyncio.Event()
        request: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
        start: dict[str, Any] = {}
        chunks: list[bytes] = []
        kept = 0

        async def receive() -> Message:
            if request:
                return request.pop()
            await answered.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal kept
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunk = bytes(message.get("body", b""))
                if kept < self.limit:
                    chunks.append(chunk[: self.limit - kept])
                    kept += len(chunks[-1])
                if not message.get("more_body", False):
                    answered.set()

        try:
            await self.app(scope, receive, send)
        except Exception:
            # Starlette re-raises after it has sent its 500: keep that answer.
            if not start:
                raise
        finally:
            answered.set()
        if not start:
            raise NoResponse("The run path ended without answering.")
        return Delivery(
            status=int(start["status"]),
            headers={
                k.decode("latin-1").lower(): v.decode("latin-1")
                for k, v in start.get("headers", [])
            },
            body=b"".join(chunks),
        )
