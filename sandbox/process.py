"""One worker process seen from the server: start it, exchange frames, kill it.

Workers are forked by the zygote (sandbox.zygote, itself exec'd with an empty environment, cwd
``/``), keep only their two pipes and harden themselves before reading user code. Every exchange
has a deadline; on expiry, a malformed frame or EOF the worker is killed and the caller gets a
``SandboxError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox import protocol
from sandbox.channel import RPCError
from sandbox.errors import ExecutionTimeout, WorkerCrashed
from sandbox.launcher import Spawned, Zygote

logger = logging.getLogger(__name__)

SIGNAL_REASONS = {
    signal.SIGXCPU: "the rule used up its CPU time limit",
    signal.SIGSYS: "the rule attempted a forbidden system call",
    signal.SIGKILL: "the process was killed (memory or time limit)",
    signal.SIGSEGV: "the rule engine crashed",
    signal.SIGXFSZ: "the rule attempted to write a file",
    signal.SIGABRT: "the rule engine aborted",
}

OnLog = Callable[[str], None]
OnOutput = Callable[[protocol.Message], Awaitable[None]]
RPCHandler = Callable[[str, dict[str, Any]], Awaitable[Any]]


async def _answer_rpc(handler: RPCHandler | None, request: protocol.Message) -> protocol.Message:
    """Run a worker's RPC (e.g. storage) and build the ``rpc_reply`` frame."""
    reply: protocol.Message = {"t": "rpc_reply", "rpc": request.get("rpc")}
    args = request.get("args")
    try:
        if handler is None:
            raise RPCError("This call has no access to that service.", 501)
        value = await handler(str(request.get("op", "")), args if isinstance(args, dict) else {})
    except RPCError as exc:
        reply.update(ok=False, message=str(exc), code=exc.code, details=exc.details)
        return reply
    reply.update(ok=True, value=value)
    return reply


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerConfig:
    """Limits sent to every worker in its ``init`` frame, plus the supervisor's own caps."""

    timeout_ms: int
    cpu_ms: int
    memory_mb: int
    log_bytes: int
    result_bytes: int
    recursion: int
    uid: int
    layers: tuple[str, ...]
    start_timeout_s: float = 15.0
    # Modules imported before the worker serves. Production leaves it empty; tests use it to
    # load a deliberately weakened policy and prove the OS layers on real escapes.
    preload: tuple[str, ...] = ()

    @property
    def max_frame_bytes(self) -> int:
        return max(self.result_bytes, self.log_bytes) + 65536

    def init_frame(self) -> protocol.Message:
        return {
            "t": "init",
            "cpu_ms": self.cpu_ms,
            "memory_mb": self.memory_mb,
            "log_bytes": self.log_bytes,
            "result_bytes": self.result_bytes,
            "recursion": self.recursion,
            "uid": self.uid,
            "layers": list(self.layers),
        }


@dataclass
class LoadInfo:
    """What the worker reported about compiled code: its arity and language."""

    arity: int
    language: str


@dataclass(eq=False)
class WorkerProcess:
    """A started worker. ``container`` is set once, on first use, and never changes."""

    proc: Spawned
    config: WorkerConfig
    layers: dict[str, str]
    container: str | None = None
    loaded: dict[str, LoadInfo] = field(default_factory=dict)
    calls: int = 0
    last_used: float = field(default_factory=time.monotonic)
    alive: bool = True
    _decoder: protocol.Decoder | None = None
    _inbox: deque[protocol.Message] = field(default_factory=deque)
    _next_id: int = 0

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def exited(self) -> bool:
        return self.proc.exited.done()

    @classmethod
    async def start(cls, config: WorkerConfig, zygote: Zygote) -> WorkerProcess:
        proc = await zygote.spawn(config.start_timeout_s)
        worker = cls(proc=proc, config=config, layers={})
        worker._decoder = protocol.Decoder(config.max_frame_bytes)
        try:
            worker._send(config.init_frame())
            async with asyncio.timeout(config.start_timeout_s):
                hello = await worker._receive()
        except (TimeoutError, WorkerCrashed, protocol.ProtocolViolation) as exc:
            await worker.kill()
            raise WorkerCrashed(f"the worker did not start ({exc})") from exc
        if hello.get("t") != "hello" or hello.get("version") != protocol.VERSION:
            await worker.kill()
            raise WorkerCrashed("the worker spoke an unexpected protocol")
        worker.layers = {str(k): str(v) for k, v in dict(hello.get("layers", {})).items()}
        return worker

    def _send(self, message: protocol.Message) -> None:
        writer = self.proc.writer
        if writer.is_closing():
            raise WorkerCrashed("the worker's input pipe is closed")
        writer.write(protocol.encode(message))

    async def _receive(self) -> protocol.Message:
        assert self._decoder is not None  # set in start()
        while not self._inbox:
            chunk = await self.proc.reader.read(1 << 16)
            if not chunk:
                raise await self._crashed()
            self._inbox.extend(self._decoder.feed(chunk))
        return self._inbox.popleft()

    async def _crashed(self) -> WorkerCrashed:
        self.alive = False
        code: int | None
        try:
            async with asyncio.timeout(2):
                code = await asyncio.shield(self.proc.exited)
        except TimeoutError:
            await self.kill()
            code = self.proc.exited.result() if self.proc.exited.done() else None
        if code is not None and code < 0:
            reason = SIGNAL_REASONS.get(signal.Signals(-code), f"signal {-code}")
        else:
            reason = f"exit status {code}"
        return WorkerCrashed(reason, code)

    async def exchange(
        self,
        message: protocol.Message,
        *,
        timeout_ms: int,
        on_log: OnLog | None = None,
        on_output: OnOutput | None = None,
        rpc: RPCHandler | None = None,
    ) -> protocol.Message:
        """Send one request and return its reply. On the way, ``log`` frames go to ``on_log``,
        ``head``/``chunk`` frames (raw-model output) to ``on_output``, and ``rpc`` frames are
        answered by ``rpc``."""
        self.last_used = time.monotonic()
        try:
            async with asyncio.timeout(timeout_ms / 1000):
                self._send(message)
                while True:
                    reply = await self._receive()
                    kind = reply.get("t")
                    if kind == "log":
                        if on_log is not None:
                            on_log(str(reply.get("line", "")))
                    elif kind in ("head", "chunk"):
                        if on_output is None:
                            raise protocol.ProtocolViolation("unexpected response output")
                        await on_output(reply)
                    elif kind == "rpc":
                        self._send(await _answer_rpc(rpc, reply))
                    else:
                        if reply.get("exit"):
                            self.alive = False
                        return reply
        except TimeoutError as exc:
            await self.kill()
            raise ExecutionTimeout(timeout_ms) from exc
        except protocol.ProtocolViolation as exc:
            await self.kill()
            raise WorkerCrashed(f"the worker sent an invalid reply ({exc})") from exc
        except (ConnectionError, BrokenPipeError) as exc:
            raise await self._crashed() from exc
        finally:
            self.last_used = time.monotonic()

    def next_id(self) -> int:
        self._next_id += 1
        return self._next_id

    async def kill(self) -> None:
        self.alive = False
        self.proc.kill()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await asyncio.shield(self.proc.exited)
        self.proc.writer.close()

    def info(self) -> dict[str, Any]:
        return {"pid": self.pid, "container": self.container, "calls": self.calls}
