"""Webtask storage: one JSON document per named webtask, for ``ctx.storage`` and
``/api/webtask/{c}/{n}/data``.

Etags are integers from 1, one more per write. A write either forces, or expects an etag (the
one its reader saw), or expects nothing stored (``etag: null``, create-only); a mismatch is a
409 whose ``conflict`` is the current data. Documents are capped at 500 KB of JSON text.
Storage is for named webtasks only, as on webtask.io: code sent with the request has none.
"""

from __future__ import annotations

import json
from typing import Any

from runtime.errors import APIError, Conflict, NotFound, PayloadTooLarge
from runtime.store import StorageConflict, Store
from sandbox.channel import RPCError
from sandbox.process import RPCHandler

MAX_BYTES = 500 * 1024
MISMATCH = "Conditional PUT failed with etag mismatch"
UNNAMED = "Storage is only available to named webtasks; code sent with the request has none."


class StorageMismatch(Conflict):
    """A conditional write found another etag (the writer's conflict; nothing was written).
    ``current`` is the stored JSON text, None when nothing is stored."""

    def __init__(self, current: str | None) -> None:
        super().__init__(MISMATCH)
        self.current = current


def encode(data: Any) -> str:
    """JSON text of a document, or ``PayloadTooLarge`` above the cap."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) > MAX_BYTES:
        raise PayloadTooLarge(
            f"Storage data is {len(text.encode())} bytes of JSON, more than the "
            f"{MAX_BYTES}-byte limit."
        )
    return text


async def write(
    store: Store, container: str, name: str, text: str | None, *, etag: int | None, force: bool
) -> int:
    """Store ``text`` (None clears); the new etag. ``StorageMismatch`` on a mismatch,
    ``NotFound`` without the webtask."""
    try:
        written = await store.set_storage(container, name, text, etag=etag, force=force)
    except StorageConflict as exc:
        raise StorageMismatch(exc.current.data if exc.current is not None else None) from exc
    if written is None:
        raise NotFound(f"No such webtask: {container}/{name}.")
    return written


def rpc_handler(store: Store, container: str, name: str | None) -> RPCHandler:
    """Answers a rule's ``storage.get``/``storage.set`` for webtask ``container/name`` (None:
    an unnamed run, which has no storage)."""

    async def handle(op: str, args: dict[str, Any]) -> Any:
        if name is None:
            raise RPCError(UNNAMED, 400)
        if op == "storage.get":
            document = await store.get_storage(container, name)
            if document is None:
                return {"data": None, "etag": None}
            data = None if document.data is None else json.loads(document.data)
            return {"data": data, "etag": document.etag}
        if op == "storage.set":
            return await _set(store, container, name, args)
        raise RPCError(f"Unknown operation {op!r}.", 400)

    return handle


async def _set(store: Store, container: str, name: str, args: dict[str, Any]) -> Any:
    etag = args.get("etag")
    if etag is not None and (not isinstance(etag, int) or isinstance(etag, bool)):
        raise RPCError(f"A storage etag is an integer, not {etag!r}.", 400)
    try:
        data = args.get("data")
        text = None if data is None else encode(data)
        written = await write(
            store, container, name, text, etag=etag, force=args.get("mode") == "force"
        )
    except StorageMismatch as exc:
        conflict = None if exc.current is None else json.loads(exc.current)
        raise RPCError(MISMATCH, 409, {"conflict": conflict}) from exc
    except APIError as exc:
        raise RPCError(exc.message, exc.status) from exc
    except (TypeError, ValueError) as exc:
        raise RPCError(f"Storage data must be JSON data: {exc}.", 400) from exc
    return {"etag": written}
