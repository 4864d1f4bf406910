"""Frames between the server and a worker: a 4-byte big-endian length, then one msgpack map.

No I/O here. Every message is a map with ``t`` (its type). The order of a worker's life:

    server → worker   init    {limits}                          once, first
    worker → server   hello   {version, pid, layers}            once, after hardening
    server → worker   load    {hash, code, language?, webtask?} compile (cached by hash)
    worker → server   loaded  {hash, arity, language} | compile_error {diagnostics, language}
    server → worker   call    {id, hash, args, model?: "raw", storage?: true}
    worker → server   log     {id, line}                        zero or more, as printed
    worker → server   head    {id, status, headers}             raw model: once, then
    worker → server   chunk   {id, data}                        ... body bytes as written
    worker → server   rpc     {id, rpc, op, args}               e.g. storage.get / storage.set;
    server → worker   rpc_reply {rpc, ok, value | message, code, details}   the worker waits
    worker → server   result  {id, ok, value | error, thrown?, streamed?, exit?}  one per call

Decoding is strict: frames above ``max_frame_bytes`` or undecodable bytes raise
``ProtocolViolation`` and the worker is treated as hostile.
"""

from __future__ import annotations

import struct
from typing import Any

import msgpack

VERSION = 1
_HEADER = struct.Struct(">I")
Message = dict[str, Any]


class ProtocolViolation(Exception):
    """The peer sent bytes that are not a well-formed frame within the limits (its fault)."""


def encode(message: Message) -> bytes:
    """One frame. Raises ``TypeError``/``ValueError``/``OverflowError`` for non-plain data."""
    body: bytes = msgpack.packb(message, use_bin_type=True)
    return _HEADER.pack(len(body)) + body


class Decoder:
    """Incremental frame decoder: ``feed(bytes)`` returns the complete messages so far."""

    def __init__(self, max_frame_bytes: int) -> None:
        self._max = max_frame_bytes
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        self._buffer += data
        messages: list[Message] = []
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            if size > self._max:
                raise ProtocolViolation(f"Frame of {size} bytes exceeds the {self._max} limit.")
            end = _HEADER.size + size
            if len(self._buffer) < end:
                break
            body = bytes(self._buffer[_HEADER.size : end])
            del self._buffer[:end]
            messages.append(self._decode(body))
        return messages

    def _decode(self, body: bytes) -> Message:
        try:
            message = msgpack.unpackb(
                body,
                raw=False,
                strict_map_key=True,
                max_str_len=self._max,
                max_bin_len=self._max,
                max_array_len=self._max,
                max_map_len=self._max,
            )
        except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError) as exc:
            raise ProtocolViolation(f"Undecodable frame: {exc.__class__.__name__}.") from exc
        if not isinstance(message, dict) or not isinstance(message.get("t"), str):
            raise ProtocolViolation("Frame is not a message map with a type.")
        return message

    @property
    def pending_bytes(self) -> int:
        return len(self._buffer)
