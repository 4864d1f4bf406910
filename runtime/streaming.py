"""The ``(ctx, req, res)`` model's answer: the rule's own status, headers and body, streamed.

The worker sends a ``head`` frame, then ``chunk`` frames as the rule writes. The call runs as a
task; the answer starts once the head arrives. Chunks go through a small queue whose ``put`` the
worker's output waits on, so a slow client slows the rule down instead of filling the server's
memory. If the call ends before any head (the rule failed first), the compiler answers as for
any other model. A client that goes away stops the forwarding; the call still runs to its end.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from starlette.responses import Response, StreamingResponse

from compilers import Outcome
from sandbox.process import OnOutput
from sandbox.protocol import Message

logger = logging.getLogger(__name__)

QUEUE_CHUNKS = 8
MAX_HEADERS = 100
# The server frames the body itself; a rule's view of these would contradict it.
_MANAGED = frozenset(
    [
        "connection",
        "content-length",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ]
)
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_tasks: set[asyncio.Task[Any]] = set()  # calls still running after their client left


class _Output:
    """Receives one call's ``head``/``chunk`` frames (``on_output``)."""

    def __init__(self) -> None:
        self.head: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self.chunks: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_CHUNKS)
        self.gone = False

    async def on_output(self, frame: Message) -> None:
        if frame.get("t") == "head":
            if not self.head.done():
                self.head.set_result(frame)
            return
        data = frame.get("data")
        if self.gone or not isinstance(data, bytes) or not data:
            return
        await self.chunks.put(data)

    async def end(self) -> None:
        """No more output: an empty chunk (real chunks are never empty)."""
        if not self.gone:
            await self.chunks.put(b"")

    def leave(self) -> None:
        """The client is gone: drop what is queued and whatever comes next."""
        self.gone = True
        while not self.chunks.empty():
            self.chunks.get_nowait()


async def stream(
    start: Callable[[OnOutput], Awaitable[Outcome]], *, method: str
) -> Response | Outcome:
    """Run the call ``start(on_output)`` makes: the streamed response once the rule writes its
    head, else the call's outcome for the compiler to answer. Exceptions of the call before
    the head propagate."""
    output = _Output()

    async def run() -> Outcome:
        try:
            return await start(output.on_output)
        finally:
            await output.end()

    task = asyncio.ensure_future(run())
    _tasks.add(task)
    task.add_done_callback(_finished)
    try:
        waiting: set[asyncio.Future[Any]] = {task, output.head}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        output.leave()
        raise
    if not output.head.done():
        output.leave()
        return task.result()
    head = output.head.result()
    status = head.get("status")
    status = status if isinstance(status, int) and 200 <= status <= 599 else 500
    bodyless = method == "HEAD" or status in (204, 304)
    return StreamingResponse(
        _body(task, output, bodyless), status_code=status, headers=_headers(head.get("headers"))
    )


async def _body(
    task: asyncio.Task[Outcome], output: _Output, bodyless: bool
) -> AsyncIterator[bytes]:
    try:
        while True:
            chunk = await output.chunks.get()
            if not chunk:
                break
            if not bodyless:
                yield chunk
        outcome = await task  # a sandbox failure mid-stream aborts the connection
        if outcome.error is not None:
            logger.info("a streamed response ended with a rule error: %s", outcome.error.message)
    finally:
        output.leave()


def _finished(task: asyncio.Task[Any]) -> None:
    _tasks.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: the run path or the body reports it


def _headers(raw: Any) -> dict[str, str]:
    """The rule's headers that are valid HTTP and not the server's to set."""
    headers: dict[str, str] = {}
    if not isinstance(raw, Mapping):
        return headers
    for name, value in list(raw.items())[:MAX_HEADERS]:
        key, text = str(name).lower(), str(value)
        if key in _MANAGED or not _TOKEN.match(key) or _BAD_VALUE.search(text):
            continue
        try:
            text.encode("latin-1")
        except UnicodeEncodeError:
            continue
        headers[key] = text
    return headers
