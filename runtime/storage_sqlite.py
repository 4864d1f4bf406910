"""Webtask storage for ``SQLiteStore``: plain functions of a ``sqlite3.Connection``.

``SQLiteStore`` runs them in its worker thread under its lock; a write is one ``BEGIN
IMMEDIATE`` transaction (read the etag, compare, write), so it is atomic even between processes
sharing the file. The document belongs to its webtask: deleting the webtask deletes it.
"""

from __future__ import annotations

import sqlite3
import time

from runtime.store import StorageDocument, check_etag

SCHEMA = """
CREATE TABLE IF NOT EXISTS webtask_storage (
    container TEXT NOT NULL,
    name TEXT NOT NULL,
    data TEXT,
    etag INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (container, name),
    FOREIGN KEY (container, name) REFERENCES webtasks (container, name) ON DELETE CASCADE
);
"""


def get(db: sqlite3.Connection, container: str, name: str) -> StorageDocument | None:
    row = db.execute(
        "SELECT data, etag FROM webtask_storage WHERE container = ? AND name = ?",
        (container, name),
    ).fetchone()
    return None if row is None else StorageDocument(data=row[0], etag=int(row[1]))


def put(
    db: sqlite3.Connection,
    container: str,
    name: str,
    data: str | None,
    etag: int | None,
    force: bool,
) -> int | None:
    db.execute("BEGIN IMMEDIATE")
    try:
        written = _put(db, container, name, data, etag, force)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return written


def _put(
    db: sqlite3.Connection,
    container: str,
    name: str,
    data: str | None,
    etag: int | None,
    force: bool,
) -> int | None:
    current = get(db, container, name)
    check_etag(current, etag, force)
    now = time.time()
    if current is not None:
        db.execute(
            "UPDATE webtask_storage SET data = ?, etag = ?, updated_at = ?"
            " WHERE container = ? AND name = ?",
            (data, current.etag + 1, now, container, name),
        )
        return current.etag + 1
    try:
        db.execute(
            "INSERT INTO webtask_storage (container, name, data, etag, updated_at)"
            " VALUES (?, ?, ?, 1, ?)",
            (container, name, data, now),
        )
    except sqlite3.IntegrityError:  # the foreign key: no such webtask
        return None
    return 1
