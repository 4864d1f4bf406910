"""Worker-side objects of the plain webtask model for Python rules: ``res`` and ``ctx.storage``.

``RuleResponse`` streams ``head`` and ``chunk`` frames to the server as the rule writes, so a
large response is never buffered in the server. ``RuleStorage`` follows webtask-runtime's
storage semantics and reaches the server's store through the channel's RPC.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sandbox.channel import Channel, RPCError
from sandbox.values import JSObject, to_plain, to_rule

NO_GET_BEFORE_SET = (
    "When calling storage.set without having called storage.get before, you must specify "
    "the .force option."
)
CONFLICT = "Item was modified since it was read."


class StorageError(Exception):
    """A storage call failed; ``code`` 409 with ``conflict`` = the current data on a conflict."""

    def __init__(self, message: str, code: int, conflict: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.conflict = conflict
        self.wt_props = {"code": code} if conflict is None else {"code": code, "conflict": conflict}


class RuleStorage:
    """``ctx.storage``: ``get([options], cb)``/``set(data, [options], cb)``, or Pythonic
    ``data = get()`` and ``set(data, force=True)`` which raise ``StorageError``."""

    def __init__(self, channel: Channel, call_id: int) -> None:
        self._channel = channel
        self._call_id = call_id
        self._etag: int | None = None
        self._read = False

    @property
    def etag(self) -> int | None:
        """The etag of the data last read or written (None before a read, or when empty)."""
        return self._etag

    def get(self, options: Any = None, cb: Callable[..., Any] | None = None) -> Any:
        if cb is None and callable(options):
            cb, options = options, None
        try:
            value = self._channel.rpc(self._call_id, "storage.get", {})
        except RPCError as exc:
            return _deliver(cb, StorageError(str(exc), exc.code), None)
        self._etag = value.get("etag")
        self._read = True
        data = value.get("data")
        return _deliver(cb, None, None if data is None else to_rule(data))

    def set(
        self,
        data: Any,
        options: Any = None,
        cb: Callable[..., Any] | None = None,
        *,
        force: bool = False,
    ) -> Any:
        if cb is None and callable(options):
            cb, options = options, None
        force = force or bool(isinstance(options, dict) and options.get("force"))
        if data is not None and not self._read and not force:
            raise ValueError(NO_GET_BEFORE_SET)
        args: dict[str, Any] = {
            "data": None if data is None else to_plain(data),
            "mode": "force" if force else "match",
            "etag": self._etag,
        }
        try:
            value = self._channel.rpc(self._call_id, "storage.set", args)
        except RPCError as exc:
            conflict = exc.details.get("conflict") if isinstance(exc.details, dict) else None
            message = CONFLICT if exc.code == 409 else str(exc)
            return _deliver(cb, StorageError(message, exc.code, to_rule(conflict)), None)
        self._etag = value.get("etag")
        self._read = True
        return _deliver(cb, None, None)


def _deliver(cb: Callable[..., Any] | None, error: Exception | None, value: Any) -> Any:
    if cb is not None:
        cb(error, value) if error is not None else cb(None, value)
        return None
    if error is not None:
        raise error
    return value


class ResponseError(Exception):
    """The rule misused ``res`` (wrong types, writing after ``end``)."""


class RuleResponse:
    """``res`` of the ``(ctx, req, res)`` model, Node-style and Pythonic names alike."""

    _guarded_writes = True  # rules may set res.statusCode, as in Node
    _channel: Channel
    _call_id: int
    _max: int
    _sent: int
    _headers: dict[str, str]
    statusCode: int
    headersSent: bool
    finished: bool

    def __init__(self, channel: Channel, call_id: int, max_bytes: int) -> None:
        object.__setattr__(self, "_channel", channel)
        object.__setattr__(self, "_call_id", call_id)
        object.__setattr__(self, "_max", max_bytes)
        object.__setattr__(self, "_sent", 0)
        object.__setattr__(self, "_headers", {})
        object.__setattr__(self, "statusCode", 200)
        object.__setattr__(self, "headersSent", False)
        object.__setattr__(self, "finished", False)

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "statusCode":
            raise AttributeError(f"res.{name} cannot be set.")
        if not isinstance(value, int) or not 100 <= value <= 599:
            raise ResponseError(f"res.statusCode must be an HTTP status, not {value!r}.")
        object.__setattr__(self, name, value)

    def setHeader(self, name: str, value: Any) -> None:
        if self.headersSent:
            raise ResponseError("Headers were already sent.")
        self._headers[str(name).lower()] = str(value)

    set_header = setHeader

    def getHeader(self, name: str) -> str | None:
        value: str | None = self._headers.get(str(name).lower())
        return value

    get_header = getHeader

    def writeHead(self, status: int, *rest: Any) -> RuleResponse:
        self.statusCode = status
        headers = next((r for r in rest if isinstance(r, dict)), None)
        for key, value in (headers or {}).items():
            self.setHeader(key, value)
        self._flush_head()
        return self

    write_head = writeHead

    def write(self, data: Any, *_: Any) -> bool:
        if self.finished:
            raise ResponseError("write after end")
        chunk = _bytes(data)
        self._flush_head()
        if chunk:
            total = self._sent + len(chunk)
            if total > self._max:
                raise ResponseError(f"Response body is limited to {self._max} bytes.")
            object.__setattr__(self, "_sent", total)
            self._channel.send({"t": "chunk", "id": self._call_id, "data": chunk})
        return True

    def end(self, data: Any = None, *_: Any) -> None:
        if self.finished:
            return
        if data is not None:
            self.write(data)
        self._flush_head()
        object.__setattr__(self, "finished", True)

    def _flush_head(self) -> None:
        if self.headersSent:
            return
        object.__setattr__(self, "headersSent", True)
        self._channel.send(
            {"t": "head", "id": self._call_id, "status": self.statusCode, "headers": self._headers}
        )


def _bytes(data: Any) -> bytes:
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    if isinstance(data, str):
        return data.encode()
    if data is None:
        return b""
    if isinstance(data, dict | list):
        return json.dumps(to_plain(data)).encode()
    raise ResponseError(f"res.write takes str or bytes, not {type(data).__name__}.")


def request_object(req: Any) -> JSObject:
    """``req`` for the raw model: method, url, headers, query, body, x_wt from the server."""
    value = to_rule(req if isinstance(req, dict) else {})
    assert isinstance(value, JSObject)  # to_rule maps dicts to JSObject
    return value
