"""OS layers a worker applies to itself before it reads any user code.

Order matters and is fixed: rlimits → unshare(net, ipc, uts, mount) → drop to an unprivileged
uid/gid → prctl(no_new_privs, parent-death signal, not dumpable) → seccomp allow-list. Each step
reports ``"live"`` or ``"missing: <why>"``; the supervisor decides whether that is acceptable.
libc and libseccomp are loaded by path before anything is locked down.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import signal
from dataclasses import dataclass

LIVE = "live"

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
PR_SET_PDEATHSIG = 1
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_KILL_PROCESS = 0x80000000


def SCMP_ACT_ERRNO(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


ALLOW = (
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "close",
    "fstat",
    "newfstatat",
    "lseek",
    "mmap",
    "munmap",
    "mremap",
    "mprotect",
    "brk",
    "madvise",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sigaltstack",
    "futex",
    "getpid",
    "gettid",
    "getppid",
    "getrandom",
    "clock_gettime",
    "clock_getres",
    "gettimeofday",
    "clock_nanosleep",
    "nanosleep",
    "exit",
    "exit_group",
    "fcntl",
    "ioctl",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getresuid",
    "getresgid",
    "sysinfo",
    "getrlimit",
    "setrlimit",
    "getrusage",
    "sched_yield",
    "sched_getaffinity",
    "restart_syscall",
    "rseq",
    "uname",
    "getcwd",
    "poll",
    "ppoll",
    "select",
    "pselect6",
)
KILL = (
    "execve",
    "execveat",
    "fork",
    "vfork",
    "clone",
    "clone3",
    "socket",
    "socketpair",
    "connect",
    "bind",
    "listen",
    "accept",
    "accept4",
    "sendto",
    "sendmsg",
    "sendmmsg",
    "recvfrom",
    "recvmsg",
    "recvmmsg",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "keyctl",
    "add_key",
    "request_key",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "personality",
    "kill",
    "tkill",
    "tgkill",
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setfsuid",
    "setfsgid",
    "setgroups",
    "capset",
    "mknod",
    "mknodat",
    "open_by_handle_at",
    "name_to_handle_at",
    "swapon",
    "swapoff",
    "reboot",
    "syslog",
    "acct",
    "settimeofday",
    "clock_settime",
    "adjtimex",
    "iopl",
    "ioperm",
    "pidfd_open",
    "pidfd_getfd",
    "pidfd_send_signal",
    "fanotify_init",
)


# Allowed only for the calling process (pid argument 0): every worker shares one uid, so an
# unrestricted prlimit64 would let an escaped rule change another container's limits.
SELF_ONLY = ("prlimit64",)
SCMP_CMP_EQ = 4


class ScmpArgCmp(ctypes.Structure):
    """libseccomp's ``struct scmp_arg_cmp``."""

    _fields_ = (
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """What a worker is allowed: set by the server in the ``init`` frame."""

    cpu_ms: int
    memory_mb: int
    uid: int
    nofile: int = 16
    nice: int = 10
    layers: tuple[str, ...] = ("rlimits", "unshare", "drop_privileges", "prctl", "seccomp")


def _load(name: str) -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(name, use_errno=True)
    except OSError:
        return None


class Hardener:
    """Holds the C libraries (loaded early, while files can still be opened) and applies layers."""

    def __init__(self) -> None:
        self.libc = _load("libc.so.6")
        self.seccomp = _load("libseccomp.so.2")
        if self.seccomp is not None:
            self.seccomp.seccomp_init.restype = ctypes.c_void_p
            self.seccomp.seccomp_init.argtypes = [ctypes.c_uint32]
            self.seccomp.seccomp_rule_add.argtypes = [
                ctypes.c_void_p,
                ctypes.c_uint32,
                ctypes.c_int,
                ctypes.c_uint,
            ]
            self.seccomp.seccomp_rule_add_array.argtypes = [
                ctypes.c_void_p,
                ctypes.c_uint32,
                ctypes.c_int,
                ctypes.c_uint,
                ctypes.POINTER(ScmpArgCmp),
            ]
            self.seccomp.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
            self.seccomp.seccomp_load.argtypes = [ctypes.c_void_p]
            self.seccomp.seccomp_release.argtypes = [ctypes.c_void_p]

    def apply(self, limits: Limits) -> dict[str, str]:
        steps = (
            ("rlimits", self.rlimits),
            ("unshare", self.unshare),
            ("drop_privileges", self.drop_privileges),
            ("prctl", self.prctl),
            ("seccomp", self.load_seccomp),
        )
        report: dict[str, str] = {}
        for name, step in steps:
            if name not in limits.layers:
                report[name] = "missing: disabled by configuration"
                continue
            try:
                report[name] = step(limits)
            except OSError as exc:
                report[name] = f"missing: {os.strerror(exc.errno or 0) or exc}"
        return report

    def rlimits(self, limits: Limits) -> str:
        # Rules run below the server's priority: a CPU-bound rule cannot starve the server's
        # event loop, and waking a worker does not preempt the server mid-request.
        os.nice(limits.nice)
        memory = limits.memory_mb * 2**20
        cpu_s = max(1, -(-limits.cpu_ms // 1000))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, resource.RLIM_INFINITY))
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.nofile, limits.nofile))
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (0, 0))
        if resource.getrlimit(resource.RLIMIT_FSIZE) != (0, 0):
            return "missing: RLIMIT_FSIZE did not stick"
        return LIVE

    def unshare(self, limits: Limits) -> str:
        if self.libc is None:
            return "missing: libc not loadable"
        flags = CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS
        if os.geteuid() != 0:
            flags |= CLONE_NEWUSER
        before = os.stat("/proc/self/ns/net").st_ino
        if self.libc.unshare(flags) != 0:
            raise OSError(ctypes.get_errno(), "unshare")
        if os.stat("/proc/self/ns/net").st_ino == before:
            return "missing: the network namespace did not change"
        # Keep mount events from propagating back to the host namespace.
        if self.libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
            raise OSError(ctypes.get_errno(), "mount")
        return LIVE

    def drop_privileges(self, limits: Limits) -> str:
        if os.geteuid() == 0 and os.getuid() == 0:
            os.setgroups([])
            os.setresgid(limits.uid, limits.uid, limits.uid)
            os.setresuid(limits.uid, limits.uid, limits.uid)
        if 0 in os.getresuid():
            return "missing: still uid 0"
        return LIVE

    def prctl(self, limits: Limits) -> str:
        if self.libc is None:
            return "missing: libc not loadable"
        parent = os.getppid()
        for option, value in (
            (PR_SET_NO_NEW_PRIVS, 1),
            (PR_SET_PDEATHSIG, signal.SIGKILL),
            (PR_SET_DUMPABLE, 0),
        ):
            if self.libc.prctl(option, value, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl")
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(0)
        if self.libc.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1:
            return "missing: no_new_privs is not set"
        if self.libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0:
            return "missing: the process is still dumpable"
        return LIVE

    def load_seccomp(self, limits: Limits) -> str:
        lib = self.seccomp
        if lib is None:
            return "missing: libseccomp.so.2 not found"
        ctx = lib.seccomp_init(SCMP_ACT_ERRNO(errno.EPERM))
        if not ctx:
            return "missing: seccomp_init failed"
        try:
            for action, names in ((SCMP_ACT_ALLOW, ALLOW), (SCMP_ACT_KILL_PROCESS, KILL)):
                for name in names:
                    number = lib.seccomp_syscall_resolve_name(name.encode())
                    if number < 0:
                        continue  # not on this architecture
                    if lib.seccomp_rule_add(ctx, action, number, 0) != 0:
                        return f"missing: could not add rule for {name}"
            pid_is_self = (ScmpArgCmp * 1)(ScmpArgCmp(arg=0, op=SCMP_CMP_EQ, datum_a=0, datum_b=0))
            for name in SELF_ONLY:
                number = lib.seccomp_syscall_resolve_name(name.encode())
                if number >= 0 and lib.seccomp_rule_add_array(
                    ctx, SCMP_ACT_ALLOW, number, 1, pid_is_self
                ):
                    return f"missing: could not add rule for {name}"
            result = lib.seccomp_load(ctx)
            if result != 0:
                return f"missing: seccomp_load failed ({os.strerror(-result)})"
        finally:
            lib.seccomp_release(ctx)
        try:  # proof: opening any file must now be refused
            os.close(os.open("/", os.O_RDONLY))
        except PermissionError:
            return LIVE
        return "missing: the filter loaded but files can still be opened"


def set_call_cpu_budget(cpu_ms: int) -> None:
    """Let the next call use ``cpu_ms`` more CPU time before SIGXCPU ends the worker."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    soft = int(used + max(1, cpu_ms / 1000)) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
