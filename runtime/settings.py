"""The one place that reads configuration: ``Settings.from_environ(environ)``.

Every knob is a ``WTHOST_*`` environment variable declared in ``SETTINGS`` with its default and
help text; the README's configuration table is checked against this list by a test.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from runtime.client_ip import Network, parse_networks

Isolation = Literal["container", "invocation"]
LAYERS = ("rlimits", "unshare", "drop_privileges", "prctl", "seccomp")


class SettingsError(ValueError):
    """A ``WTHOST_*`` variable has a value we cannot use (the operator's mistake)."""


def _int(lo: int, hi: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw.strip())
        if not lo <= value <= hi:
            raise ValueError(f"expected an integer from {lo} to {hi}")
        return value

    return parse


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value

    return parse


def _layers(raw: str) -> tuple[str, ...]:
    value = raw.strip().lower()
    if value in ("", "none"):
        return ()
    if value == "all":
        return LAYERS
    names = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [name for name in names if name not in LAYERS]
    if unknown:
        raise ValueError(f"unknown layer {unknown[0]!r}; expected 'all', 'none' or {LAYERS}")
    return names


def _networks(raw: str) -> tuple[Network, ...]:
    return parse_networks(raw)


def _str(raw: str) -> str:
    return raw.strip()


def _url_or_empty(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if value and not value.startswith(("http://", "https://")):
        raise ValueError("expected an http:// or https:// URL")
    return value


def _issuer(raw: str) -> str:
    value = _url_or_empty(raw)
    return value + "/" if value else ""


def _tenant(raw: str) -> str:
    value = raw.strip()
    if not re.fullmatch(r"[-a-zA-Z0-9._~!$+=:@]{1,128}", value):
        raise ValueError("expected a container name (1-128 of a-z, A-Z, 0-9, -._~!$+=:@)")
    return value


def _database_url(raw: str) -> str:
    value = raw.strip()
    if value and not value.startswith(("postgresql://", "postgres://")):
        raise ValueError("expected a postgresql:// URL")
    return value


def _redis_url(raw: str) -> str:
    value = raw.strip()
    if value and not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("expected a redis://, rediss:// or unix:// URL")
    return value


@dataclass(frozen=True, slots=True)
class Setting:
    """One ``WTHOST_*`` variable: the field it fills, its default and what it means."""

    field: str
    default: str
    parse: Callable[[str], Any]
    help: str

    @property
    def env(self) -> str:
        return "WTHOST_" + self.field.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("host", "127.0.0.1", _str, "Address `wthost serve` listens on."),
    Setting(
        "trusted_proxies",
        "",
        _networks,
        "Comma list of proxy IPs/CIDRs whose `X-Forwarded-For` gives the client address "
        "(login throttle, hooks' `context.ip`); empty trusts none.",
    ),
    Setting("port", "8080", _int(0, 65535), "TCP port `wthost serve` listens on."),
    Setting("data_dir", "./wthost-data", _str, "Folder for the SQLite database and key files."),
    Setting(
        "public_url",
        "",
        _url_or_empty,
        "Base URL used in `webtask_url` (default: from the request).",
    ),
    Setting("log_level", "info", _choice("debug", "info", "warning", "error"), "Server log level."),
    Setting(
        "rule_timeout_ms",
        "20000",
        _int(50, 600_000),
        "Wall-clock limit of one rule call; the worker is killed after it.",
    ),
    Setting(
        "rule_cpu_ms", "10000", _int(100, 600_000), "CPU time one rule call may use (RLIMIT_CPU)."
    ),
    Setting(
        "rule_memory_mb", "256", _int(64, 16384), "Address-space limit of a worker (RLIMIT_AS)."
    ),
    Setting(
        "rule_log_bytes",
        "65536",
        _int(1024, 16 * 2**20),
        "Output (print/console) one call may write.",
    ),
    Setting(
        "rule_result_bytes",
        "1048576",
        _int(1024, 64 * 2**20),
        "Largest encoded result a worker may send back.",
    ),
    Setting("rule_recursion", "200", _int(50, 5000), "Python recursion limit inside rules."),
    Setting(
        "max_body_bytes",
        "1048576",
        _int(1024, 64 * 2**20),
        "Largest request body accepted by any endpoint.",
    ),
    Setting(
        "max_code_bytes",
        "524288",
        _int(1024, 16 * 2**20),
        "Largest rule source accepted at upload.",
    ),
    Setting(
        "isolation",
        "container",
        _choice("container", "invocation"),
        "`container`: a warm worker per container; `invocation`: a fresh worker per call.",
    ),
    Setting("max_workers", "16", _int(1, 4096), "Most worker processes alive at once."),
    Setting(
        "container_workers",
        "4",
        _int(1, 4096),
        "Most workers one container may hold at once; more concurrent calls queue (fairness, p99).",
    ),
    Setting(
        "spare_workers", "2", _int(0, 64), "Pre-hardened workers kept ready for new containers."
    ),
    Setting(
        "worker_max_calls", "1000", _int(1, 10_000_000), "Recycle a worker after this many calls."
    ),
    Setting("worker_idle_s", "300", _int(1, 86400), "Stop a worker idle this long."),
    Setting("max_queue", "64", _int(0, 100_000), "Calls that may wait for a worker before 503."),
    Setting(
        "sandbox_uid",
        "65534",
        _int(1, 2**31 - 1),
        "Unprivileged uid/gid workers drop to (when started as root).",
    ),
    Setting(
        "sandbox_require",
        "none",
        _layers,
        "Layers that must be live or the server refuses to start: `all`, `none` or a list of "
        + ", ".join(LAYERS)
        + ".",
    ),
    # OAuth2 token server (runtime/oauth)
    Setting(
        "tenant", "default", _tenant, "Container served by `/oauth/token` (the default tenant)."
    ),
    Setting(
        "issuer",
        "",
        _issuer,
        "Token `iss`, ending in `/` (default: the public or request base URL plus `/`).",
    ),
    Setting("token_lifetime", "86400", _int(60, 31_536_000), "Access token lifetime in seconds."),
    Setting(
        "login_max_failures",
        "10",
        _int(1, 10_000),
        "Failed password logins for one user from one IP before `/oauth/token` refuses them.",
    ),
    Setting(
        "login_lockout_s",
        "900",
        _int(1, 86400),
        "Window in seconds over which failed logins are counted, and how long a lockout lasts.",
    ),
    Setting(
        "hooks_url",
        "",
        _url_or_empty,
        "Remote hook mode: base URL of the webtask server that runs the tenant's hooks "
        "(default: run them in-process).",
    ),
    Setting(
        "hooks_token",
        "",
        _str,
        "Remote hook mode: a webtask token for the tenant's container on `WTHOST_HOOKS_URL`.",
    ),
    # Cron (runtime/cron)
    Setting(
        "cron_scheduler",
        "on",
        _choice("on", "off"),
        "`off`: this node fires no cron runs (the cron API still works).",
    ),
    Setting(
        "cron_poll_ms", "1000", _int(50, 60_000), "How often the scheduler looks for due runs."
    ),
    Setting("cron_concurrency", "4", _int(1, 1000), "Most cron runs one node fires at once."),
    # Scale-out (docs/deploy.md): shared backends and the keys every node must share
    Setting(
        "database_url",
        "",
        _database_url,
        "PostgreSQL URL (`postgresql://user:password@host:5432/db`) of the store shared by all "
        "nodes (default: SQLite in the data dir).",
    ),
    Setting(
        "database_pool_size",
        "10",
        _int(1, 1000),
        "Most PostgreSQL connections one node opens.",
    ),
    Setting(
        "redis_url",
        "",
        _redis_url,
        "Redis URL (`redis://host:6379/0`) for log streams and cache invalidation across nodes "
        "(default: in-process, one node).",
    ),
    Setting(
        "token_key",
        "",
        _str,
        "Base64 key (32+ bytes) that signs webtask tokens, instead of the data dir's "
        "`webtask-token.key`; set with `WTHOST_SECRETS_KEY` (`wthost keys export`).",
    ),
    Setting(
        "secrets_key",
        "",
        _str,
        "Base64 AES-256 key that seals secrets at rest, instead of the data dir's `secrets.key`.",
    ),
    Setting(
        "signing_key",
        "",
        _str,
        "RSA private key (PEM, or base64 of the PEM) that signs OAuth access tokens, instead of "
        "the data dir's `oauth-signing-key.pem`.",
    ),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """All configuration, read once. Build it with ``Settings.from_environ``."""

    host: str = "127.0.0.1"
    trusted_proxies: tuple[Network, ...] = ()
    port: int = 8080
    data_dir: str = "./wthost-data"
    public_url: str = ""
    log_level: str = "info"
    rule_timeout_ms: int = 20000
    rule_cpu_ms: int = 10000
    rule_memory_mb: int = 256
    rule_log_bytes: int = 65536
    rule_result_bytes: int = 1048576
    rule_recursion: int = 200
    max_body_bytes: int = 1048576
    max_code_bytes: int = 524288
    isolation: Isolation = "container"
    max_workers: int = 16
    container_workers: int = 4
    spare_workers: int = 2
    worker_max_calls: int = 1000
    worker_idle_s: int = 300
    max_queue: int = 64
    sandbox_uid: int = 65534
    sandbox_require: tuple[str, ...] = ()
    tenant: str = "default"
    issuer: str = ""
    token_lifetime: int = 86400
    login_max_failures: int = 10
    login_lockout_s: int = 900
    hooks_url: str = ""
    hooks_token: str = ""
    cron_scheduler: str = "on"
    cron_poll_ms: int = 1000
    cron_concurrency: int = 4
    # URLs may carry a password and keys are secret: none of them is in the repr.
    database_url: str = dataclasses.field(default="", repr=False)
    database_pool_size: int = 10
    redis_url: str = dataclasses.field(default="", repr=False)
    token_key: str = dataclasses.field(default="", repr=False)
    secrets_key: str = dataclasses.field(default="", repr=False)
    signing_key: str = dataclasses.field(default="", repr=False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Parse every ``WTHOST_*`` variable; unknown names and bad values raise SettingsError."""
        env = os.environ if environ is None else environ
        known = {setting.env: setting for setting in SETTINGS}
        for name in env:
            if name.startswith("WTHOST_") and name not in known:
                raise SettingsError(
                    f"Unknown setting {name}. Known settings: {', '.join(sorted(known))}."
                )
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = env.get(setting.env, setting.default)
            try:
                values[setting.field] = setting.parse(raw)
            except ValueError as exc:
                raise SettingsError(f"{setting.env} has value {raw!r}: {exc}.") from exc
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)
