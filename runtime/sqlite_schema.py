"""The SQLite tables of the embedded store (webtasks, revocations, OAuth records, cluster
values); cron and storage keep theirs next to their SQL (runtime/cron/sqlite.py,
runtime/storage_sqlite.py)."""

from __future__ import annotations

SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS webtasks (
    container TEXT NOT NULL,
    name TEXT NOT NULL,
    code TEXT NOT NULL,
    meta_sealed TEXT NOT NULL,
    secrets_sealed TEXT,
    token TEXT NOT NULL,
    claims TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    exclusive TEXT,
    PRIMARY KEY (container, name)
);
CREATE TABLE IF NOT EXISTS webtask_meta (
    container TEXT NOT NULL,
    name TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (container, name, digest),
    FOREIGN KEY (container, name) REFERENCES webtasks (container, name) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS webtask_meta_digest ON webtask_meta (digest);
CREATE TABLE IF NOT EXISTS revocations (
    jti TEXT PRIMARY KEY,
    revoked_at REAL NOT NULL
);
"""


# OAuth2 token server (runtime/oauth): a tenant's APIs, clients and users.
OAUTH_SCHEMA = """
CREATE TABLE IF NOT EXISTS oauth_apis (
    container TEXT NOT NULL,
    identifier TEXT NOT NULL,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (container, identifier)
);
CREATE TABLE IF NOT EXISTS oauth_clients (
    container TEXT NOT NULL,
    client_id TEXT NOT NULL,
    name TEXT NOT NULL,
    public INTEGER NOT NULL,
    grants TEXT NOT NULL,
    metadata TEXT NOT NULL,
    secret_hash TEXT,
    created_at REAL NOT NULL,
    PRIMARY KEY (container, client_id)
);
CREATE TABLE IF NOT EXISTS oauth_users (
    container TEXT NOT NULL,
    user_id TEXT NOT NULL,
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (container, user_id),
    UNIQUE (container, email)
);
"""


# Cluster-wide values (``Store.setdefault``): key fingerprints, the bus namespace.
CLUSTER_SCHEMA = """
CREATE TABLE IF NOT EXISTS cluster (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
