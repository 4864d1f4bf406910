"""runtime/storage.py and the storage HTTP API's parsing: what rules and clients are told."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from runtime import api_storage, storage, streaming
from runtime.errors import BadRequest, NotFound, PayloadTooLarge
from runtime.store import StorageDocument, check_etag
from sandbox.channel import RPCError


class MemoryStore:
    """The two storage methods of ``Store``, for one webtask ``c/w``."""

    def __init__(self) -> None:
        self.document: StorageDocument | None = None

    async def get_storage(self, container: str, name: str) -> StorageDocument | None:
        return self.document if (container, name) == ("c", "w") else None

    async def set_storage(
        self, container: str, name: str, data: str | None, *, etag: int | None, force: bool
    ) -> int | None:
        if (container, name) != ("c", "w"):
            return None
        check_etag(self.document, etag, force)
        new = (self.document.etag if self.document else 0) + 1
        self.document = StorageDocument(data=data, etag=new)
        return new


def rpc(store: MemoryStore, op: str, args: dict[str, Any], name: str | None = "w") -> Any:
    handler = storage.rpc_handler(store, "c", name)  # type: ignore[arg-type]

    async def call() -> Any:
        return await handler(op, args)

    return asyncio.run(call())


def test_rules_read_nothing_then_what_they_wrote() -> None:
    store = MemoryStore()
    assert rpc(store, "storage.get", {}) == {"data": None, "etag": None}
    written = rpc(store, "storage.set", {"data": {"a": [1]}, "mode": "match", "etag": None})
    assert written == {"etag": 1}
    assert store.document == StorageDocument(data='{"a":[1]}', etag=1)
    assert rpc(store, "storage.get", {}) == {"data": {"a": [1]}, "etag": 1}


def test_a_stale_write_is_409_with_the_current_data() -> None:
    store = MemoryStore()
    rpc(store, "storage.set", {"data": {"v": 1}, "mode": "force", "etag": None})
    rpc(store, "storage.set", {"data": {"v": 2}, "mode": "match", "etag": 1})
    with pytest.raises(RPCError) as conflict:
        rpc(store, "storage.set", {"data": {"v": 3}, "mode": "match", "etag": 1})
    assert conflict.value.code == 409
    assert str(conflict.value) == "Conditional PUT failed with etag mismatch"
    assert conflict.value.details == {"conflict": {"v": 2}}


def test_clearing_keeps_counting_and_reads_as_nothing() -> None:
    store = MemoryStore()
    rpc(store, "storage.set", {"data": [1], "mode": "force", "etag": None})
    assert rpc(store, "storage.set", {"data": None, "mode": "match", "etag": 1}) == {"etag": 2}
    assert rpc(store, "storage.get", {}) == {"data": None, "etag": 2}


@pytest.mark.parametrize(
    ("op", "args", "code"),
    [
        ("storage.set", {"data": "x" * (storage.MAX_BYTES + 1), "mode": "force"}, 413),
        ("storage.set", {"data": {}, "mode": "match", "etag": "1"}, 400),
        ("storage.drop", {}, 400),
    ],
)
def test_refused_requests(op: str, args: dict[str, Any], code: int) -> None:
    with pytest.raises(RPCError) as refused:
        rpc(MemoryStore(), op, args)
    assert refused.value.code == code


def test_unnamed_runs_have_no_storage() -> None:
    with pytest.raises(RPCError) as refused:
        rpc(MemoryStore(), "storage.get", {}, name=None)
    assert refused.value.code == 400
    assert str(refused.value) == storage.UNNAMED


def test_a_webtask_that_is_gone_is_404() -> None:
    handler = storage.rpc_handler(MemoryStore(), "c", "gone")  # type: ignore[arg-type]

    async def call() -> Any:
        return await handler("storage.set", {"data": 1, "mode": "force"})

    with pytest.raises(RPCError) as missing:
        asyncio.run(call())
    assert missing.value.code == 404
    with pytest.raises(NotFound):
        asyncio.run(
            storage.write(MemoryStore(), "c", "gone", "1", etag=None, force=True)  # type: ignore[arg-type]
        )


@pytest.mark.parametrize(("sent", "etag"), [(None, None), (3, 3), ("3", 3), (" 4 ", 4)])
def test_http_etags(sent: object, etag: int | None) -> None:
    assert api_storage._etag(sent) == etag


def test_http_etags_that_never_match_or_are_malformed() -> None:
    assert isinstance(api_storage._etag("abc"), api_storage._Never)
    with pytest.raises(BadRequest):
        api_storage._etag(True)
    with pytest.raises(BadRequest):
        api_storage._etag({"a": 1})


def test_http_documents_are_kept_as_sent() -> None:
    assert api_storage._document('{ "a" : 1 }') == '{ "a" : 1 }'
    assert api_storage._document("null") is None
    assert api_storage._document({"a": 1}) == '{"a":1}'
    with pytest.raises(BadRequest):
        api_storage._document("NaN")
    with pytest.raises(PayloadTooLarge):
        api_storage._document('"' + "x" * storage.MAX_BYTES + '"')


def test_streamed_headers_keep_only_valid_ones_the_rule_may_set() -> None:
    assert streaming._headers(
        {
            "Content-Type": "text/plain",
            "X-Ok": "1",
            "Content-Length": "5",
            "Transfer-Encoding": "chunked",
            "Bad Name": "x",
            "X-Split": "a\r\nSet-Cookie: evil=1",
            "X-Unicode": "é€",
        }
    ) == {"content-type": "text/plain", "x-ok": "1"}
    assert streaming._headers(None) == {}
