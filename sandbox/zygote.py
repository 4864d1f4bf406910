"""The zygote: a clean process that the server starts by exec and that forks workers.

It imports everything a worker needs once (RestrictedPython, msgpack, the policy, the JS engine,
libc/libseccomp handles), so a new worker costs a fork instead of a Python start-up. It never
runs user code and never hardens itself; each forked worker hardens itself before reading any.

Control channel: a SOCK_SEQPACKET socket (fd given on the command line), one frame per packet:

    server → zygote   spawn   {id}  + SCM_RIGHTS [worker stdin fd, worker stdout fd]
    zygote → server   spawned {id, pid} | spawn_failed {id, message}
    zygote → server   exit    {pid, code}       code < 0 means killed by signal -code

The zygote dies with the server (parent-death signal) and its workers die with it.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import sys

from sandbox import protocol
from sandbox.harden import PR_SET_PDEATHSIG, Hardener

MAX_CONTROL_BYTES = 65536


def _send(ctrl: socket.socket, message: protocol.Message) -> None:
    ctrl.sendall(protocol.encode(message))


def _reap(ctrl: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(ctrl, {"t": "exit", "pid": pid, "code": os.waitstatus_to_exitcode(status)})


def _child(stdin_fd: int, stdout_fd: int, hardener: Hardener) -> None:
    """Runs in the forked worker: own session, only fds 0-2, then the worker's main loop."""
    from sandbox.worker import main as worker_main

    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGPIPE):
            signal.signal(signum, signal.SIG_DFL)
        os.dup2(stdin_fd, 0)
        os.dup2(stdout_fd, 1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.closerange(3, 1 << 16)
        worker_main(hardener)
    finally:
        os._exit(1)


def serve(ctrl_fd: int) -> None:
    hardener = Hardener()
    libc = hardener.libc
    if libc is not None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    ctrl = socket.socket(fileno=ctrl_fd)
    ctrl.setblocking(True)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    decoder = protocol.Decoder(MAX_CONTROL_BYTES)
    while True:
        readable, _, _ = select.select([ctrl.fileno(), wake_r], [], [])
        if wake_r in readable:
            os.read(wake_r, 4096)
            _reap(ctrl)
        if ctrl.fileno() not in readable:
            continue
        try:
            data, fds, _, _ = socket.recv_fds(ctrl, MAX_CONTROL_BYTES, 2)
        except ConnectionError:
            data, fds = b"", []
        if not data:
            os._exit(0)  # the server is gone; workers follow through their death signal
        for message in decoder.feed(data):
            if message.get("t") != "spawn" or len(fds) != 2:
                for fd in fds:
                    os.close(fd)
                _send(
                    ctrl, {"t": "spawn_failed", "id": message.get("id"), "message": "bad request"}
                )
                continue
            stdin_fd, stdout_fd = fds
            try:
                pid = os.fork()
            except OSError as exc:
                _send(ctrl, {"t": "spawn_failed", "id": message.get("id"), "message": str(exc)})
                pid = -1
            if pid == 0:
                ctrl.close()
                _child(stdin_fd, stdout_fd, hardener)
            os.close(stdin_fd)
            os.close(stdout_fd)
            if pid > 0:
                _send(ctrl, {"t": "spawned", "id": message.get("id"), "pid": pid})


def main() -> None:
    # Imported here (not at module level) so `python -c` boot order stays: preload, then this.
    import sandbox.worker  # noqa: F401  (pre-import everything a worker needs)

    serve(int(sys.argv[1]))
