"""The worker pool: warm workers per container, spares, a bounded queue, recycling.

A worker serves one container for its whole life and never sees another container's code.
``compile`` checks and caches a rule in the container's worker; ``run`` hands a prepared
invocation to an idle worker of that container (starting or stealing one if needed) and returns
the rule's ``Outcome``. Failures surface as ``SandboxError`` subclasses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Literal

from compilers.base import Invocation, Outcome, RuleError
from sandbox.errors import (
    CompileFailed,
    ExecutionTimeout,
    PoolBusy,
    PoolClosed,
    SandboxError,
    SandboxUnavailable,
    WorkerCrashed,
)
from sandbox.launcher import Zygote
from sandbox.process import LoadInfo, OnLog, OnOutput, RPCHandler, WorkerConfig, WorkerProcess

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolConfig:
    worker: WorkerConfig
    max_workers: int
    max_queue: int
    max_calls: int
    idle_s: float
    spare_workers: int
    isolation: Literal["container", "invocation"]
    container_workers: int = 4
    required_layers: tuple[str, ...] = ()


class WorkerPool:
    """Owns every worker process; all methods are called from the server's event loop."""

    def __init__(self, config: PoolConfig) -> None:
        self.config = config
        self.zygote = Zygote(config.worker.preload)
        self._idle: dict[str, list[WorkerProcess]] = {}
        self._spares: list[WorkerProcess] = []
        self._busy: set[WorkerProcess] = set()
        self._starting = 0
        # Calls waiting for a worker, oldest first. A released worker is handed straight to
        # the oldest waiter of its container (so newcomers cannot overtake it); others are
        # woken with None to retry (evict an idle worker, start one).
        self._waiters: list[tuple[str, asyncio.Future[WorkerProcess | None]]] = []
        self._closed = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self.layers: dict[str, str] = {}
        self.stats = {"started": 0, "crashed": 0, "timeouts": 0, "recycled": 0, "evicted": 0}

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> dict[str, str]:
        """Start the zygote and a probe worker; record live layers; enforce the required ones."""
        await self.zygote.start()
        probe = await self._start_worker()
        self.stats["started"] += 1
        self.layers = dict(probe.layers)
        missing = {
            name: self.layers.get(name, "missing: not reported")
            for name in self.config.required_layers
            if self.layers.get(name) != "live"
        }
        if missing:
            await probe.kill()
            raise SandboxUnavailable(missing)
        self._spares.append(probe)
        self._spawn_task(self._reaper())
        self._refill_spares()
        return self.layers

    async def close(self) -> None:
        self._closed = True
        for _, waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(PoolClosed("The server is shutting down."))
        for task in list(self._tasks):
            task.cancel()
        workers = [*self._spares, *self._busy, *(w for ws in self._idle.values() for w in ws)]
        self._spares.clear()
        self._idle.clear()
        self._busy.clear()
        await asyncio.gather(*(worker.kill() for worker in workers), return_exceptions=True)
        await self.zygote.close()

    def _spawn_task(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- public operations ---------------------------------------------------------------

    async def compile(
        self,
        container: str,
        code_hash: str,
        code: str,
        language: str | None = None,
        *,
        module_api: dict[str, Any] | None = None,
    ) -> LoadInfo:
        """Compile and cache ``code`` in a worker of ``container``; ``CompileFailed`` if broken.

        ``language`` is meta ``wt-language`` when set; otherwise the worker detects it.
        ``module_api`` is what JavaScript code reads as ``module.webtask`` while it loads (its
        values must be part of ``code_hash``).
        """
        worker = await self._acquire(container)
        try:
            return await self._ensure_loaded(worker, code_hash, code, language, module_api)
        finally:
            self._release(worker)

    async def run(
        self,
        container: str,
        code_hash: str,
        code: str,
        invocation: Invocation,
        on_log: OnLog | None = None,
        language: str | None = None,
        *,
        on_output: OnOutput | None = None,
        rpc: RPCHandler | None = None,
        module_api: dict[str, Any] | None = None,
    ) -> Outcome:
        """Run one rule call in a worker of ``container``.

        Raw-model calls stream ``head``/``chunk`` frames to ``on_output``; storage requests
        of the rule go to ``rpc``.
        """
        worker = await self._acquire(container)
        try:
            info = await self._ensure_loaded(worker, code_hash, code, language, module_api)
            args = invocation.args_for(info.arity)
            if isinstance(args, RuleError):
                return Outcome(error=args, language=info.language)
            worker.calls += 1
            message = {"t": "call", "id": worker.next_id(), "hash": code_hash, "args": args}
            if info.arity in invocation.raw_arities:
                message["model"] = "raw"
            if invocation.storage:
                message["storage"] = True
            if undefined := invocation.undefined_for(info.arity):
                message["undefined"] = sorted(undefined)
            reply = await worker.exchange(
                message,
                timeout_ms=self.config.worker.timeout_ms,
                on_log=on_log,
                on_output=on_output,
                rpc=rpc,
            )
            return _outcome(reply, info.language)
        except SandboxError as exc:
            self._count_failure(exc)
            raise
        finally:
            self._release(worker)

    def snapshot(self) -> dict[str, Any]:
        idle = sum(len(ws) for ws in self._idle.values())
        return {
            "workers": idle + len(self._busy) + len(self._spares),
            "idle": idle,
            "busy": len(self._busy),
            "spare": len(self._spares),
            "queued": len(self._waiters),
            **self.stats,
        }

    # -- internals -----------------------------------------------------------------------

    async def _start_worker(self) -> WorkerProcess:
        return await WorkerProcess.start(self.config.worker, self.zygote)

    def _count_failure(self, exc: SandboxError) -> None:
        if isinstance(exc, WorkerCrashed):
            self.stats["crashed"] += 1
        elif isinstance(exc, ExecutionTimeout):
            self.stats["timeouts"] += 1

    async def _ensure_loaded(
        self,
        worker: WorkerProcess,
        code_hash: str,
        code: str,
        language: str | None,
        module_api: dict[str, Any] | None = None,
    ) -> LoadInfo:
        info = worker.loaded.get(code_hash)
        if info is not None:
            return info
        load: dict[str, Any] = {"t": "load", "hash": code_hash, "code": code, "language": language}
        if module_api is not None:
            load["webtask"] = module_api
        reply = await worker.exchange(load, timeout_ms=self.config.worker.timeout_ms)
        if reply.get("t") == "loaded":
            info = LoadInfo(arity=int(reply["arity"]), language=str(reply.get("language")))
            worker.loaded[code_hash] = info
            return info
        if reply.get("t") == "compile_error":
            diagnostics = [d for d in reply.get("diagnostics", []) if isinstance(d, dict)]
            raise CompileFailed(str(reply.get("language", "python")), diagnostics)
        await worker.kill()
        raise WorkerCrashed("the worker answered a load with an unexpected message")

    def _count(self, container: str) -> int:
        """Workers bound to ``container``, idle or busy."""
        busy = sum(1 for worker in self._busy if worker.container == container)
        return busy + len(self._idle.get(container, ()))

    def _total(self) -> int:
        idle = sum(len(ws) for ws in self._idle.values())
        return idle + len(self._busy) + len(self._spares) + self._starting

    async def _acquire(self, container: str) -> WorkerProcess:
        retried = False
        while True:
            if self._closed:
                raise PoolClosed("The server is shutting down.")
            idle = self._idle.get(container)
            while idle:
                worker = idle.pop()
                if worker.alive and not worker.exited:
                    self._busy.add(worker)
                    return worker
            if self._count(container) >= self.config.container_workers:
                pass  # this container has its share: wait for one of its own workers
            elif self._spares:
                worker = self._spares.pop()
                self._refill_spares()
                if worker.alive:
                    return self._bind(worker, container)
                continue
            elif self._total() < self.config.max_workers:
                return self._bind(await self._start_counted(), container)
            elif self._evict_one():
                continue
            if not retried and len(self._waiters) >= self.config.max_queue:
                raise PoolBusy()
            waiter: asyncio.Future[WorkerProcess | None] = (
                asyncio.get_running_loop().create_future()
            )
            entry = (container, waiter)
            # A waiter woken to retry keeps its place at the head of the line.
            self._waiters.insert(0 if retried else len(self._waiters), entry)
            try:
                handed = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    late = waiter.result()
                    if late is not None:
                        self._release(late)  # handed over just as we were cancelled
                raise
            finally:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(entry)
            if handed is not None:
                return handed
            retried = True

    def _bind(self, worker: WorkerProcess, container: str) -> WorkerProcess:
        worker.container = container
        self._busy.add(worker)
        return worker

    async def _start_counted(self) -> WorkerProcess:
        self._starting += 1
        try:
            worker = await self._start_worker()
            self.stats["started"] += 1
            return worker
        finally:
            self._starting -= 1
            self._wake()

    def _evict_one(self) -> bool:
        """Stop the least recently used idle worker (any container) to make room."""
        candidates = [w for ws in self._idle.values() for w in ws]
        if not candidates and self._spares:
            candidates = list(self._spares)
        if not candidates:
            return False
        victim = min(candidates, key=lambda w: w.last_used)
        self._forget(victim)
        self.stats["evicted"] += 1
        self._spawn_task(victim.kill())
        return True

    def _forget(self, worker: WorkerProcess) -> None:
        self._busy.discard(worker)
        if worker in self._spares:
            self._spares.remove(worker)
        if worker.container is not None:
            idle = self._idle.get(worker.container)
            if idle and worker in idle:
                idle.remove(worker)
                if not idle:
                    del self._idle[worker.container]

    def _release(self, worker: WorkerProcess) -> None:
        self._busy.discard(worker)
        recycle = (
            not worker.alive
            or self._closed
            or self.config.isolation == "invocation"
            or worker.calls >= self.config.max_calls
        )
        if recycle:
            if worker.alive:
                self.stats["recycled"] += 1
            self._spawn_task(worker.kill())
            self._refill_spares()
        else:
            assert worker.container is not None  # bound in _acquire
            for container, waiter in self._waiters:
                if container == worker.container and not waiter.done():
                    self._busy.add(worker)
                    waiter.set_result(worker)
                    return
            self._idle.setdefault(worker.container, []).append(worker)
        self._wake()

    def _wake(self) -> None:
        for _, waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
                return

    def _refill_spares(self) -> None:
        if self._closed:
            return
        wanted = self.config.spare_workers - len(self._spares) - self._starting
        room = self.config.max_workers - self._total()
        for _ in range(max(0, min(wanted, room))):
            self._spawn_task(self._add_spare())

    async def _add_spare(self) -> None:
        try:
            worker = await self._start_counted()
        except SandboxError as exc:
            logger.warning("could not start a spare worker: %s", exc)
            return
        if self._closed:
            await worker.kill()
            return
        self._spares.append(worker)
        self._wake()

    async def _reaper(self) -> None:
        while not self._closed:
            await asyncio.sleep(min(5.0, self.config.idle_s))
            deadline = time.monotonic() - self.config.idle_s
            for workers in list(self._idle.values()):
                for worker in [w for w in workers if w.last_used < deadline or not w.alive]:
                    self._forget(worker)
                    self._spawn_task(worker.kill())


def _outcome(reply: dict[str, Any], language: str | None = None) -> Outcome:
    if reply.get("t") != "result":
        raise WorkerCrashed("the worker answered a call with an unexpected message")
    if reply.get("ok"):
        return Outcome(
            result=reply.get("value"),
            streamed=bool(reply.get("streamed")),
            null=bool(reply.get("null")),
            language=language,
        )
    error = reply.get("error")
    error = error if isinstance(error, dict) else {}
    props = error.get("props")
    name = error.get("name")
    kind = error.get("type")
    text = error.get("text")
    return Outcome(
        error=RuleError(
            message=str(error.get("message", "Unknown error")),
            name=name if isinstance(name, str) else None,
            props=props if isinstance(props, dict) else {},
            kind=kind if isinstance(kind, str) else None,
            text=text if isinstance(text, str) else None,
            thrown=bool(reply.get("thrown")),
            plain=bool(error.get("plain")),
            value=error.get("value"),
        ),
        language=language,
    )
