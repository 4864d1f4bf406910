"""Which store and bus a node uses, from its settings, and the checks that keep a cluster whole.

Embedded (the default): SQLite in the data dir and the in-process bus. Scale-out:
``WTHOST_DATABASE_URL`` selects PostgreSQL and ``WTHOST_REDIS_URL`` the Redis bus. The network
drivers are imported only when selected.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any

from runtime.bus import Bus, InProcessBus
from runtime.keys import KeyFileError, Keys
from runtime.store import Store

if TYPE_CHECKING:
    from runtime.settings import Settings

logger = logging.getLogger(__name__)


def redact(url: str) -> str:
    """``url`` without its password, for logs, errors and ``wthost doctor``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}{':***' if ':' in credentials else ''}@{host}"


def describe(settings: Settings) -> dict[str, str]:
    """The backends ``settings`` select, passwords hidden."""
    return {
        "store": f"postgresql {redact(settings.database_url)}"
        if settings.database_url
        else f"sqlite {settings.data_path / 'wthost.db'}",
        "bus": f"redis {redact(settings.redis_url)}" if settings.redis_url else "in-process",
    }


def make_store(settings: Settings) -> Store:
    if settings.database_url:
        from runtime.postgres_store import PostgresStore

        return PostgresStore(settings.database_url, pool_size=settings.database_pool_size)
    from runtime.sqlite_store import SQLiteStore

    return SQLiteStore(settings.data_path / "wthost.db")


async def start_bus(settings: Settings, store: Store) -> Bus:
    """The in-process bus, or a started Redis bus in the namespace of the store's cluster (nodes
    that share a database share channels; other clusters on the same Redis never mix)."""
    if not settings.redis_url:
        return InProcessBus()
    from runtime.redis_bus import RedisBus

    cluster = await store.setdefault("cluster_id", secrets.token_hex(8))
    bus = RedisBus(settings.redis_url, f"wthost:{cluster}")
    await bus.start()
    return bus


async def stop_bus(bus: Bus) -> None:
    close = getattr(bus, "close", None)
    if close is not None:
        await close()


def fingerprint(key: bytes) -> str:
    """Names a key without revealing it (an HMAC of a constant under the key)."""
    return hmac.new(key, b"wthost key fingerprint", hashlib.sha256).hexdigest()[:16]


async def check_keys(store: Store, keys: Keys, signing_kid: str) -> None:
    """Refuse to start a node whose keys differ from those the shared database was first used
    with: its tokens would fail on other nodes and it could not open stored secrets."""
    mine = {
        "token": ("WTHOST_TOKEN_KEY", fingerprint(keys.token_key)),
        "secrets": ("WTHOST_SECRETS_KEY", fingerprint(keys.secrets_key)),
        "signing": ("WTHOST_SIGNING_KEY", signing_kid),
    }
    for name, (variable, value) in mine.items():
        stored = await store.setdefault(f"key:{name}", value)
        if stored != value:
            raise KeyFileError(
                f"This node's {name} key differs from the one the shared database is used with; "
                f"give every node the same keys ({variable}, see `wthost keys export`)."
            )


async def probe(settings: Settings) -> dict[str, dict[str, Any]]:
    """Connect to each selected backend once: ``{"store"|"bus": {"backend", "ok", "detail"}}``."""
    shown = describe(settings)
    report: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    if settings.database_url:
        import asyncpg

        try:
            db = await asyncpg.connect(settings.database_url, timeout=5)
            try:
                version = 0
                if await db.fetchval("SELECT to_regclass('wthost_schema') IS NOT NULL"):
                    version = await db.fetchval("SELECT max(version) FROM wthost_schema")
                server = str(await db.fetchval("SHOW server_version")).split(" ")[0]
            finally:
                await db.close()
            detail = (
                f"reachable in {(time.perf_counter() - started) * 1000:.0f} ms, PostgreSQL "
                f"{server}, schema version {version or 0}"
            )
            report["store"] = {"backend": shown["store"], "ok": True, "detail": detail}
        except Exception as exc:  # any failure is the report, not a crash
            report["store"] = {"backend": shown["store"], "ok": False, "detail": _reason(exc)}
    else:
        report["store"] = {"backend": shown["store"], "ok": True, "detail": "embedded"}
    if settings.redis_url:
        import redis.asyncio as redis

        started = time.perf_counter()
        client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=5)
        try:
            await client.ping()
            detail = f"reachable in {(time.perf_counter() - started) * 1000:.0f} ms"
            report["bus"] = {"backend": shown["bus"], "ok": True, "detail": detail}
        except Exception as exc:  # any failure is the report, not a crash
            report["bus"] = {"backend": shown["bus"], "ok": False, "detail": _reason(exc)}
        finally:
            await client.aclose()
    else:
        report["bus"] = {"backend": shown["bus"], "ok": True, "detail": "embedded (one node)"}
    return report


def _reason(exc: Exception) -> str:
    return f"unreachable: {type(exc).__name__}: {exc}".rstrip(": ")
