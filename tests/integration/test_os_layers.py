"""The OS layers contain rules that have really escaped RestrictedPython.

A test-only policy (``tests.support.exposed_modules``, preloaded into the zygote) hands rules the
real ``json`` module, which reopens reference rows 29-33: ``json.codecs.sys.modules['os']`` and
``json.codecs.builtins`` reach the interpreter. Every rule here starts from that escape and tries
to write or read files, spawn processes, open sockets, sleep past the wall clock, or reach
another container's worker. Each attempt must end in its specific outcome: the worker killed by
seccomp (``WorkerCrashed``, "forbidden system call") or ``EPERM`` surfacing as the rule's
``OSError``. After each one the pool must still serve the same and other containers.

A second pool runs without seccomp to prove the layers beneath it (network namespace, uid drop,
rlimits, not dumpable) on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from compilers.base import Invocation, Outcome
from runtime.app import pool_config
from runtime.keys import SECRETS_KEY_FILE, TOKEN_KEY_FILE, load_or_create_keys
from runtime.settings import LAYERS, Settings
from sandbox.errors import ExecutionTimeout, WorkerCrashed
from sandbox.pool import WorkerPool

pytestmark = pytest.mark.integration

ESCAPE = """\
def rule(client, scope, audience, context, cb):
    sys = json.codecs.sys
    os = sys.modules['os']
    b = json.codecs.builtins
    imp = b.getattr(b, '__import__')
"""
BENIGN = "def rule(client, scope, audience, context, cb):\n    cb(None, {'ok': scope})\n"
VAULT = """\
kept = []

def rule(client, scope, audience, context, cb):
    kept.append(context.webtask.secrets.vault)
    os = json.codecs.sys.modules['os']
    cb(None, {'pid': os.getpid(), 'secret': kept[-1]})
"""
VAULT_SECRET = "VAULT-" + uuid.uuid4().hex
FORBIDDEN_SYSCALL = "the rule attempted a forbidden system call"
EPERM = "[Errno 1] Operation not permitted"


def escape(body: str) -> str:
    """A rule that starts from the escape and then runs ``body``."""
    return ESCAPE + "".join(f"    {line}\n" for line in body.split("\n"))


@dataclass
class Sandbox:
    """A started ``WorkerPool`` driven from a test through one event loop."""

    runner: asyncio.Runner
    pool: WorkerPool

    def run(self, container: str, code: str, **context: Any) -> Outcome:
        """Run ``code`` in ``container``; ``context`` becomes the rule's ``context``."""
        digest = hashlib.sha256(code.encode()).hexdigest()
        invocation = Invocation(
            args_by_arity={5: [{"id": "client"}, ["read"], "aud", context]},
            arity_error="The rule must take (client, scope, audience, context, cb).",
        )
        return self.runner.run(
            self.pool.run(container, digest, code, invocation, language="python")
        )

    def result(self, container: str, code: str, **context: Any) -> Any:
        outcome = self.run(container, code, **context)
        assert outcome.error is None, outcome.error
        return outcome.result

    def error(self, container: str, code: str, **context: Any) -> str:
        outcome = self.run(container, code, **context)
        assert outcome.error is not None, outcome.result
        return outcome.error.message

    def crash(self, container: str, code: str, **context: Any) -> str:
        with pytest.raises(WorkerCrashed) as crashed:
            self.run(container, code, **context)
        return crashed.value.reason

    def assert_serves(self, *containers: str) -> None:
        """The pool still answers: in the attacker's container and in a fresh one."""
        for container in (*containers, f"fresh-{uuid.uuid4().hex[:8]}"):
            assert self.result(container, BENIGN) == {"ok": ["read"]}


def _settle(sandbox: Sandbox) -> None:
    """Wait for spare workers being started, so closing the pool interrupts no start-up."""

    async def settle() -> None:
        wanted = sandbox.pool.config.spare_workers
        for _ in range(500):
            if sandbox.pool.snapshot()["spare"] >= wanted:
                return
            await asyncio.sleep(0.01)

    sandbox.runner.run(settle())


def _start(runner: asyncio.Runner, layers: tuple[str, ...]) -> Sandbox:
    settings = Settings(
        rule_timeout_ms=2000,
        rule_cpu_ms=1000,
        rule_memory_mb=256,
        max_workers=8,
        spare_workers=1,
        sandbox_require=layers,
    )
    config = pool_config(settings)
    worker = dataclasses.replace(
        config.worker, layers=layers, preload=("tests.support.exposed_modules",)
    )
    pool = WorkerPool(dataclasses.replace(config, worker=worker))
    runner.run(pool.start())
    return Sandbox(runner, pool)


@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as loop:
        yield loop


@pytest.fixture(scope="module")
def sealed(runner: asyncio.Runner) -> Iterator[Sandbox]:
    """Every layer live (the pool refuses to start otherwise)."""
    sandbox = _start(runner, LAYERS)
    try:
        yield sandbox
    finally:
        _settle(sandbox)
        runner.run(sandbox.pool.close())


@pytest.fixture(scope="module")
def unsealed(runner: asyncio.Runner) -> Iterator[Sandbox]:
    """Every layer but seccomp: what stands behind the filter if it ever lets a call through."""
    sandbox = _start(runner, tuple(layer for layer in LAYERS if layer != "seccomp"))
    try:
        yield sandbox
    finally:
        _settle(sandbox)
        runner.run(sandbox.pool.close())


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A host TCP socket on loopback that no rule may reach."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        yield server


def _assert_nobody_connected(server: socket.socket) -> None:
    with pytest.raises(BlockingIOError):
        server.accept()


def _vault(sandbox: Sandbox, container: str) -> int:
    """Run the vault rule in ``container``; returns its worker's pid."""
    answer = sandbox.result(container, VAULT, webtask={"secrets": {"vault": VAULT_SECRET}})
    assert answer["secret"] == VAULT_SECRET
    return int(answer["pid"])


# -- the escape is real, and runs as nobody ------------------------------------------------


def test_sealed_pool_has_every_layer_live(sealed: Sandbox) -> None:
    assert sealed.pool.layers == {layer: "live" for layer in LAYERS}


def test_escape_reaches_os_but_runs_as_uid_65534(sealed: Sandbox) -> None:
    ids = sealed.result(
        "esc-uid",
        escape("cb(None, [os.getresuid(), os.getresgid()])"),
    )
    assert ids == [[65534] * 3, [65534] * 3]


def test_escaped_rule_cannot_regain_root(sealed: Sandbox) -> None:
    assert sealed.crash("esc-setuid", escape("os.setuid(0)")) == FORBIDDEN_SYSCALL
    sealed.assert_serves("esc-setuid")


# -- no file written, no file read -----------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "message"),
    [
        ("os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)", "{EPERM}: '{path}'"),
        ("b.open(path, 'w').write('pwned')", "{EPERM}: '{path}'"),
        ("os.mkdir(path)", "{EPERM}: '{path}'"),
        ("os.symlink('/etc/passwd', path)", "{EPERM}: '/etc/passwd' -> '{path}'"),
    ],
    ids=["os-open-create", "builtin-open-write", "mkdir", "symlink"],
)
def test_escaped_rule_cannot_create_a_file(sealed: Sandbox, attempt: str, message: str) -> None:
    path = Path(f"/tmp/wthost-escape-{uuid.uuid4().hex}")
    error = sealed.error("esc-write", escape(f"path = {str(path)!r}\n{attempt}"))
    assert error == message.format(EPERM=EPERM, path=path)
    assert not path.exists()
    assert not path.is_symlink()
    sealed.assert_serves("esc-write")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with real key files, as the server keeps them."""
    path = tmp_path_factory.mktemp("keys")
    load_or_create_keys(path)
    return path


@pytest.mark.parametrize(
    "target",
    [
        "/etc/passwd",
        "/proc/self/environ",
        "/proc/self/mem",
        "/proc/1/cmdline",
        f"data:{TOKEN_KEY_FILE}",
        f"data:{SECRETS_KEY_FILE}",
    ],
)
def test_escaped_rule_cannot_read_a_file(sealed: Sandbox, data_dir: Path, target: str) -> None:
    path = str(data_dir / target[5:]) if target.startswith("data:") else target
    assert Path(path).exists()
    error = sealed.error("esc-read", escape(f"cb(None, b.open({path!r}, 'rb').read())"))
    assert error == f"{EPERM}: {path!r}"
    sealed.assert_serves("esc-read")


def test_escaped_rule_cannot_list_a_directory(sealed: Sandbox) -> None:
    assert sealed.error("esc-list", escape("cb(None, os.listdir('/'))")) == f"{EPERM}: '/'"


def test_escaped_rule_cannot_import_new_code(sealed: Sandbox) -> None:
    # Importing needs files: subprocess was never loaded into the worker, so it cannot be.
    error = sealed.error("esc-import", escape("cb(None, str(imp('subprocess')))"))
    assert error == "No module named 'subprocess'"


# -- no process spawned ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "attempt",
    [
        "os.system('touch ' + path)",
        "os.fork()",
        "os.posix_spawn('/usr/bin/touch', ['touch', path], {})",
        "os.execv('/usr/bin/touch', ['touch', path])",
    ],
    ids=["os-system", "os-fork", "posix-spawn", "execv"],
)
def test_escaped_rule_cannot_spawn_a_process(sealed: Sandbox, attempt: str) -> None:
    path = Path(f"/tmp/wthost-escape-{uuid.uuid4().hex}")
    reason = sealed.crash("esc-spawn", escape(f"path = {str(path)!r}\n{attempt}\ncb(None, 1)"))
    assert reason == FORBIDDEN_SYSCALL
    assert not path.exists()
    sealed.assert_serves("esc-spawn")


# -- no socket opened --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attempt",
    [
        "sys.modules['socket'].socket()",
        "sys.modules['socket'].socketpair()",
        "sys.modules['socket'].create_connection(('127.0.0.1', port), 1)",
    ],
    ids=["socket", "socketpair", "connect-to-host-listener"],
)
def test_escaped_rule_cannot_open_a_socket(
    sealed: Sandbox, listener: socket.socket, attempt: str
) -> None:
    port = listener.getsockname()[1]
    reason = sealed.crash("esc-net", escape(f"port = {port}\n{attempt}\ncb(None, 1)"))
    assert reason == FORBIDDEN_SYSCALL
    _assert_nobody_connected(listener)
    sealed.assert_serves("esc-net")


def test_escaped_rule_cannot_outlive_the_wall_clock(sealed: Sandbox) -> None:
    with pytest.raises(ExecutionTimeout, match="within 2000 ms"):
        sealed.run("esc-sleep", escape("sys.modules['time'].sleep(30)\ncb(None, 1)"))
    sealed.assert_serves("esc-sleep")


def test_escaped_rule_cannot_lie_to_the_supervisor(sealed: Sandbox) -> None:
    # Garbage on the reply pipe: the supervisor refuses the frame and kills the worker.
    reason = sealed.crash("esc-pipe", escape("os.write(1, b'\\xff' * 64)\ncb(None, 1)"))
    assert reason.startswith("the worker sent an invalid reply")
    sealed.assert_serves("esc-pipe")


# -- another container's worker stays out of reach ----------------------------------------------

PROC_SCAN = """\
mine = os.getpid()
found = {}
for pid in range(max(2, context.victim - 5000), context.victim + 5000):
    proc = '/proc/%d' % pid
    if pid != mine and b.getattr(os.path, 'exists')(proc) and os.stat(proc).st_uid == 65534:
        try:
            found[str(pid)] = str(b.open(proc + '/' + what, 'rb').read()[:64])
        except OSError as error:
            found[str(pid)] = str(error)
cb(None, found)"""


@pytest.mark.parametrize("what", ["mem", "environ", "cmdline", "maps"])
def test_escaped_rule_cannot_read_other_workers_through_proc(sealed: Sandbox, what: str) -> None:
    victim = _vault(sealed, "vault-proc")
    found = sealed.result("esc-proc", escape(f"what = {what!r}\n{PROC_SCAN}"), victim=victim)
    # Other workers are visible to stat(), but none of them can be opened.
    assert str(victim) in found
    assert found == {pid: f"{EPERM}: '/proc/{pid}/{what}'" for pid in found}
    assert _vault(sealed, "vault-proc") == victim


@pytest.mark.parametrize(
    "attempt",
    [
        "libc.ptrace(16, victim, 0, 0)",  # PTRACE_ATTACH
        "libc.process_vm_readv(victim, 0, 0, 0, 0, 0)",
        "os.kill(victim, 9)",
    ],
    ids=["ptrace-attach", "process-vm-readv", "kill"],
)
def test_escaped_rule_cannot_touch_another_workers_process(sealed: Sandbox, attempt: str) -> None:
    victim = _vault(sealed, "vault-touch")
    code = escape(
        "\n".join(
            (
                "libc = sys.modules['ctypes'].CDLL(None)",
                "victim = context.victim",
                attempt,
                "cb(None, 1)",
            )
        )
    )
    assert sealed.crash("esc-touch", code, victim=victim) == FORBIDDEN_SYSCALL
    assert _vault(sealed, "vault-touch") == victim
    sealed.assert_serves("esc-touch")


def test_escaped_rule_cannot_change_another_workers_limits(sealed: Sandbox) -> None:
    # All workers share uid 65534, so prlimit(2) on another worker's pid must be refused:
    # otherwise one container can set another's CPU or memory limit to zero.
    victim = _vault(sealed, "vault-limits")
    code = escape(
        "r = sys.modules['resource']\n"
        "r.prlimit(context.victim, r.RLIMIT_CPU, (0, 0))\n"
        "cb(None, 'changed')"
    )
    assert sealed.error("esc-limits", code, victim=victim) == EPERM
    assert _vault(sealed, "vault-limits") == victim


def test_another_containers_secret_never_reaches_the_attackers_worker(sealed: Sandbox) -> None:
    victim = _vault(sealed, "vault-heap")
    digest = hashlib.sha256(VAULT_SECRET.encode()).hexdigest()
    # Secrets reach a worker only inside JSON objects: look at every dict in the heap.
    scan = escape(
        "gc = imp('gc')\n"
        "sha256 = sys.modules['hashlib'].sha256\n"
        "scanned = 0\n"
        "hits = 0\n"
        "for obj in gc.get_objects():\n"
        "    if b.isinstance(obj, b.dict):\n"
        "        for value in obj.values():\n"
        "            scanned += 1\n"
        "            if b.isinstance(value, b.str) and len(value) == context.size:\n"
        "                hits += sha256(value.encode()).hexdigest() == context.digest\n"
        "cb(None, {'many': scanned > 10000, 'hits': hits})"
    )
    answer = sealed.result("esc-heap", scan, digest=digest, size=len(VAULT_SECRET))
    assert answer == {"many": True, "hits": 0}
    assert _vault(sealed, "vault-heap") == victim


# -- beneath seccomp: namespaces, uid, rlimits, not dumpable --------------------------------------


def test_unsealed_pool_reports_seccomp_missing(unsealed: Sandbox) -> None:
    assert unsealed.pool.layers == {
        **{layer: "live" for layer in LAYERS},
        "seccomp": "missing: disabled by configuration",
    }


def test_without_seccomp_the_only_network_interface_is_lo(unsealed: Sandbox) -> None:
    names = unsealed.result("bare-if", escape("cb(None, sys.modules['socket'].if_nameindex())"))
    assert names == [[1, "lo"]]
    dev = unsealed.result("bare-if", escape("cb(None, b.open('/proc/net/dev').read())"))
    assert [line.split(":")[0].strip() for line in dev.splitlines()[2:]] == ["lo"]


def test_without_seccomp_the_host_loopback_is_unreachable(
    unsealed: Sandbox, listener: socket.socket
) -> None:
    port = listener.getsockname()[1]
    code = escape(f"sys.modules['socket'].create_connection(('127.0.0.1', {port}), 1)")
    assert unsealed.error("bare-net", code) == "[Errno 101] Network is unreachable"
    _assert_nobody_connected(listener)


def test_without_seccomp_no_process_can_be_forked(unsealed: Sandbox) -> None:
    error = unsealed.error("bare-fork", escape("os.fork()"))
    assert error == "[Errno 11] Resource temporarily unavailable"


def test_without_seccomp_no_byte_reaches_a_file(unsealed: Sandbox) -> None:
    path = Path(f"/tmp/wthost-escape-{uuid.uuid4().hex}")
    try:
        code = escape(f"fd = os.open({str(path)!r}, os.O_CREAT | os.O_WRONLY)\nos.write(fd, b'x')")
        assert unsealed.error("bare-write", code) == "[Errno 27] File too large"
        # RLIMIT_FSIZE=0 lets the (empty) file be created but not written: seccomp is what
        # keeps the file system untouched altogether.
        assert path.stat().st_size == 0
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def test_without_seccomp_the_uid_cannot_become_root(unsealed: Sandbox) -> None:
    assert unsealed.result("bare-uid", escape("cb(None, os.getresuid())")) == [65534] * 3
    assert unsealed.error("bare-uid", escape("os.setuid(0)")) == EPERM


@pytest.mark.parametrize("what", ["mem", "environ"])
def test_without_seccomp_other_workers_are_not_dumpable(unsealed: Sandbox, what: str) -> None:
    victim = _vault(unsealed, "bare-vault")
    path = f"/proc/{victim}/{what}"
    code = escape(f"cb(None, str(b.open({path!r}, 'rb').read(64)))")
    assert unsealed.error("bare-proc", code) == f"[Errno 13] Permission denied: {path!r}"
    assert _vault(unsealed, "bare-vault") == victim


def test_without_seccomp_the_data_dirs_keys_stay_unreadable(
    unsealed: Sandbox, data_dir: Path
) -> None:
    path = str(data_dir / SECRETS_KEY_FILE)
    error = unsealed.error("bare-keys", escape(f"cb(None, b.open({path!r}, 'rb').read())"))
    assert error == f"[Errno 13] Permission denied: {path!r}"
