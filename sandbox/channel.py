"""The worker's end of its pipes: frames out on fd 1, frames in on fd 0.

Besides the request/reply of ``load`` and ``call``, a running call can ask the server for
something (``rpc``: storage reads and writes) and block until the ``rpc_reply`` arrives; the
server never sends anything else to a worker in the middle of a call.
"""

from __future__ import annotations

import os
from collections import deque
from typing import Any

from sandbox import protocol


class ChannelClosed(Exception):
    """The server closed the worker's input: the worker should exit."""


class RPCError(Exception):
    """The server refused or failed an RPC; ``code`` is an HTTP-like status (409 conflict...)."""

    def __init__(self, message: str, code: int = 500, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.details = details


class Channel:
    def __init__(self, max_frame_bytes: int, read_fd: int = 0, write_fd: int = 1) -> None:
        self._decoder = protocol.Decoder(max_frame_bytes)
        self._pending: deque[protocol.Message] = deque()
        self._read_fd = read_fd
        self._write_fd = write_fd
        self._rpc_id = 0

    def send(self, message: protocol.Message) -> None:
        view = memoryview(protocol.encode(message))
        while view:
            written = os.write(self._write_fd, view)
            view = view[written:]

    def receive(self) -> protocol.Message:
        while not self._pending:
            chunk = os.read(self._read_fd, 1 << 16)
            if not chunk:
                raise ChannelClosed()
            self._pending.extend(self._decoder.feed(chunk))
        return self._pending.popleft()

    def rpc(self, call_id: int, op: str, args: dict[str, Any]) -> Any:
        """Ask the server to do ``op`` for the running call and wait for its answer."""
        self._rpc_id += 1
        self.send({"t": "rpc", "id": call_id, "rpc": self._rpc_id, "op": op, "args": args})
        reply = self.receive()
        if reply.get("t") != "rpc_reply" or reply.get("rpc") != self._rpc_id:
            raise ChannelClosed()
        if not reply.get("ok"):
            raise RPCError(
                str(reply.get("message", "The server could not do that.")),
                int(reply.get("code", 500)),
                reply.get("details"),
            )
        return reply.get("value")
