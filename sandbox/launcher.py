"""Server side of the zygote: start it by exec, ask it for workers, learn how they exit.

``Zygote.spawn()`` creates the worker's two pipes here, hands the child ends to the zygote over
SCM_RIGHTS, and returns asyncio streams for our ends plus a future for the exit code. If the
zygote dies, the next ``spawn`` starts a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from sandbox import protocol
from sandbox.errors import WorkerCrashed

logger = logging.getLogger(__name__)

_ROOT = str(Path(__file__).resolve().parent.parent)


def zygote_script(preload: tuple[str, ...]) -> str:
    """The ``-c`` program of the zygote: import ``preload`` modules, then serve."""
    imports = "".join(f"import {name}; " for name in preload)
    return (
        f"import sys; sys.path.insert(0, {_ROOT!r}); {imports}"
        "from sandbox.zygote import main; main()"
    )


@dataclass(eq=False)
class Spawned:
    """A forked worker: its pid, our ends of its pipes, and its exit code when it ends."""

    pid: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    exited: asyncio.Future[int]

    def kill(self) -> None:
        if not self.exited.done():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.pid, signal.SIGKILL)


class Zygote:
    """One zygote process and its control socket."""

    def __init__(self, preload: tuple[str, ...] = ()) -> None:
        self._preload = preload
        self._proc: asyncio.subprocess.Process | None = None
        self._ctrl: socket.socket | None = None
        self._decoder = protocol.Decoder(65536)
        self._pending: dict[int, asyncio.Future[int]] = {}
        self._exits: dict[int, asyncio.Future[int]] = {}
        self._early_exits: dict[int, int] = {}
        self._next_id = 0
        self._lock = asyncio.Lock()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None and self._ctrl is not None

    async def start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-I",
                "-B",
                "-c",
                zygote_script(self._preload),
                str(theirs.fileno()),
                pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                env={},
                cwd="/",
                start_new_session=True,
            )
        finally:
            theirs.close()
        ours.setblocking(False)
        self._ctrl = ours
        self._decoder = protocol.Decoder(65536)
        asyncio.get_running_loop().add_reader(ours.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        ctrl = self._ctrl
        if ctrl is None:
            return
        try:
            data = ctrl.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._lost()
            return
        try:
            messages = self._decoder.feed(data)
        except protocol.ProtocolViolation:
            logger.error("the sandbox zygote sent an invalid frame; restarting it")
            self._lost()
            return
        for message in messages:
            self._dispatch(message)

    def _dispatch(self, message: protocol.Message) -> None:
        kind = message.get("t")
        if kind == "spawned":
            future = self._pending.pop(int(message.get("id", -1)), None)
            if future is not None and not future.done():
                future.set_result(int(message["pid"]))
        elif kind == "spawn_failed":
            future = self._pending.pop(int(message.get("id", -1)), None)
            if future is not None and not future.done():
                future.set_exception(WorkerCrashed(f"fork failed: {message.get('message')}"))
        elif kind == "exit":
            pid, code = int(message["pid"]), int(message["code"])
            exited = self._exits.pop(pid, None)
            if exited is None:
                self._early_exits[pid] = code
            elif not exited.done():
                exited.set_result(code)

    def _lost(self) -> None:
        """The zygote went away: fail pending spawns; running workers die with it."""
        if self._ctrl is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._ctrl.fileno())
            self._ctrl.close()
            self._ctrl = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(WorkerCrashed("the sandbox zygote exited"))
        self._pending.clear()
        for exited in self._exits.values():
            if not exited.done():
                exited.set_result(-signal.SIGKILL)
        self._exits.clear()

    async def spawn(self, timeout_s: float = 10.0) -> Spawned:
        async with self._lock:
            if not self.alive:
                await self.close()
                await self.start()
            ctrl = self._ctrl
            assert ctrl is not None  # started above
            loop = asyncio.get_running_loop()
            self._next_id += 1
            request_id = self._next_id
            pid_future: asyncio.Future[int] = loop.create_future()
            self._pending[request_id] = pid_future
            to_worker_r, to_worker_w = os.pipe()
            from_worker_r, from_worker_w = os.pipe()
            try:
                socket.send_fds(
                    ctrl,
                    [protocol.encode({"t": "spawn", "id": request_id})],
                    [to_worker_r, from_worker_w],
                )
            except OSError as exc:
                for fd in (to_worker_r, to_worker_w, from_worker_r, from_worker_w):
                    os.close(fd)
                self._pending.pop(request_id, None)
                self._lost()
                raise WorkerCrashed(f"could not reach the sandbox zygote ({exc})") from exc
            finally:
                # Only the worker may hold these ends, or we would never see its EOF.
                with contextlib.suppress(OSError):
                    os.close(to_worker_r)
                with contextlib.suppress(OSError):
                    os.close(from_worker_w)
        try:
            async with asyncio.timeout(timeout_s):
                pid = await pid_future
        except BaseException:
            os.close(to_worker_w)
            os.close(from_worker_r)
            raise
        exited: asyncio.Future[int] = loop.create_future()
        if pid in self._early_exits:
            exited.set_result(self._early_exits.pop(pid))
        else:
            self._exits[pid] = exited
        reader = asyncio.StreamReader(limit=2**26)
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(from_worker_r, "rb", 0)
        )
        transport, protocol_ = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(to_worker_w, "wb", 0)
        )
        writer = asyncio.StreamWriter(transport, protocol_, None, loop)
        return Spawned(pid=pid, reader=reader, writer=writer, exited=exited)

    async def close(self) -> None:
        proc, self._proc = self._proc, None
        self._lost()
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await proc.wait()
