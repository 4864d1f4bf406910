"""Raw-model streaming and storage RPC between a real pool and real hardened workers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from compilers.base import Invocation, Outcome
from runtime.app import pool_config
from runtime.settings import Settings
from sandbox.channel import RPCError
from sandbox.pool import WorkerPool

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


CTX = {"secrets": {"k": "v"}, "query": {}, "headers": {}}
REQ = {"method": "GET", "url": "/api/run/c/n/x?y=1", "headers": {"a": "b"}, "query": {"y": "1"}}


class MemoryStorage:
    """Webtask storage semantics: integer etags from 1; 409 with the current data on conflict."""

    def __init__(self) -> None:
        self.data: Any = None
        self.etag: int | None = None

    async def __call__(self, op: str, args: dict[str, Any]) -> Any:
        if op == "storage.get":
            return {"data": self.data, "etag": self.etag}
        if op == "storage.set":
            if args["mode"] == "match" and args["etag"] != self.etag:
                raise RPCError("conflict", 409, {"conflict": self.data})
            self.data = args["data"]
            self.etag = (self.etag or 0) + 1
            return {"etag": self.etag}
        raise RPCError(f"unknown op {op}", 400)


Run = Callable[..., Awaitable[tuple[Outcome, list[dict[str, Any]]]]]


@pytest.fixture
async def run() -> AsyncIterator[Run]:
    pool = WorkerPool(pool_config(Settings(rule_timeout_ms=5000, spare_workers=0)))
    await pool.start()

    async def call(
        code: str, args: list[Any], *, raw: bool = False, storage: Any = None
    ) -> tuple[Outcome, list[dict[str, Any]]]:
        output: list[dict[str, Any]] = []

        async def on_output(frame: dict[str, Any]) -> None:
            output.append(frame)

        invocation = Invocation(
            args_by_arity={len(args) + 1: args},
            arity_error="arity",
            raw_arities=frozenset({3}) if raw else frozenset(),
            storage=storage is not None,
        )
        outcome = await pool.run(
            "io", str(hash(code)), code, invocation, on_output=on_output, rpc=storage
        )
        return outcome, output

    try:
        yield call
    finally:
        await pool.close()


PY_RAW = """\
def rule(ctx, req, res):
    res.writeHead(201, {'Content-Type': 'text/plain', 'X-Seen': req.headers.a})
    res.write('hello ')
    res.end(req.url + ' ' + ctx.secrets.k)
"""
JS_RAW = """\
module.exports = function (ctx, req, res) {
  res.writeHead(201, {'Content-Type': 'text/plain', 'X-Seen': req.headers.a});
  res.write('hello ');
  setTimeout(() => res.end(req.url + ' ' + ctx.secrets.k), 10);
};
"""


@pytest.mark.parametrize("code", [PY_RAW, JS_RAW], ids=["python", "javascript"])
async def test_raw_model_streams_head_and_chunks(run: Run, code: str) -> None:
    outcome, output = await run(code, [CTX, REQ], raw=True)
    assert outcome.streamed
    assert outcome.error is None
    assert output[0] == {
        "t": "head",
        "id": output[0]["id"],
        "status": 201,
        "headers": {"content-type": "text/plain", "x-seen": "b"},
    }
    assert b"".join(f["data"] for f in output[1:]) == b"hello /api/run/c/n/x?y=1 v"


PY_STORAGE = """\
def rule(ctx, cb):
    data = ctx.storage.get()
    count = (data or {}).get('count', 0) + 1
    ctx.storage.set({'count': count})
    cb(None, {'count': count})
"""
JS_STORAGE = """\
module.exports = function (ctx, cb) {
  ctx.storage.get(function (err, data) {
    if (err) return cb(err);
    data = data || { count: 0 };
    data.count += 1;
    ctx.storage.set(data, function (err) { cb(err, { count: data.count }); });
  });
};
"""


@pytest.mark.parametrize("code", [PY_STORAGE, JS_STORAGE], ids=["python", "javascript"])
async def test_storage_round_trips_through_the_server(run: Run, code: str) -> None:
    storage = MemoryStorage()
    for expected in (1, 2, 3):
        outcome, _ = await run(code, [CTX], storage=storage)
        assert outcome.result == {"count": expected}
    assert storage.data == {"count": 3}
    assert storage.etag == 3


PY_CONFLICT = """\
def rule(ctx, cb):
    ctx.storage.get()
    def done(err, value):
        cb(None, {'code': err.code, 'conflict': err.conflict, 'message': str(err)})
    ctx.storage.set({'mine': True}, done)
"""
JS_CONFLICT = """\
module.exports = function (ctx, cb) {
  ctx.storage.get(function () {
    ctx.storage.set({ mine: true }, function (err) {
      cb(null, { code: err.code, conflict: err.conflict, message: err.message });
    });
  });
};
"""


@pytest.mark.parametrize("code", [PY_CONFLICT, JS_CONFLICT], ids=["python", "javascript"])
async def test_storage_conflict_is_409_with_current_data(run: Run, code: str) -> None:
    storage = MemoryStorage()
    original_get = storage.__call__

    async def racing(op: str, args: dict[str, Any]) -> Any:
        value = await original_get(op, args)
        if op == "storage.get":  # someone else writes between our read and our write
            storage.data, storage.etag = {"theirs": True}, (storage.etag or 0) + 1
        return value

    outcome, _ = await run(code, [CTX], storage=racing)
    assert outcome.result == {
        "code": 409,
        "conflict": {"theirs": True},
        "message": "Item was modified since it was read.",
    }


@pytest.mark.parametrize(
    "code",
    [
        "def rule(ctx, cb):\n    ctx.storage.set({'a': 1})\n",
        "module.exports = function (ctx, cb) { ctx.storage.set({a: 1}, cb); };",
    ],
    ids=["python", "javascript"],
)
async def test_set_without_get_needs_force(run: Run, code: str) -> None:
    outcome, _ = await run(code, [CTX], storage=MemoryStorage())
    assert outcome.error is not None
    assert "must specify the .force option" in outcome.error.message


async def test_storage_rpc_failure_reaches_the_rule(run: Run) -> None:
    async def broken(op: str, args: dict[str, Any]) -> Any:
        raise RPCError("Storage is down.", 503)

    code = (
        "def rule(ctx, cb):\n    ctx.storage.get(lambda err, data: cb(None, {'code': err.code}))\n"
    )
    outcome, _ = await run(code, [CTX], storage=broken)
    assert outcome.result == {"code": 503}
