"""The registry's SQLite database: schema, migrations, and the shared connection.

Why: the database outlives any one release of GATE Studio, so the schema carries a version
(``PRAGMA user_version``); every open upgrades an older file in one transaction and refuses
a file written by a newer release rather than misreading it. One connection, shared by the
app's threads behind a lock, runs every write as ``BEGIN IMMEDIATE`` so that concurrent
writers (threads or processes) queue on SQLite's lock instead of interleaving.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gate_core.registry.errors import RegistryError

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 30_000

_V1 = (
    """CREATE TABLE datasets (
        hash TEXT PRIMARY KEY,              -- sha256 of content
        content BLOB NOT NULL,              -- the uploaded table as UTF-8 CSV
        n_rows INTEGER,
        created TEXT NOT NULL
    )""",
    """CREATE TABLE tasks (
        name TEXT PRIMARY KEY COLLATE NOCASE,
        unit TEXT NOT NULL DEFAULT '',
        task_type TEXT NOT NULL CHECK (task_type IN ('regression', 'classification')),
        description TEXT NOT NULL DEFAULT '',
        created TEXT NOT NULL,
        dataset_hash TEXT REFERENCES datasets(hash),
        sizes TEXT NOT NULL DEFAULT '{}',
        metrics TEXT NOT NULL DEFAULT '{}',
        ratios TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL DEFAULT 'ready',
        backbone_id TEXT NOT NULL DEFAULT '',
        model_dir TEXT NOT NULL,            -- relative to the data dir: tasks/<name>/<version>
        files TEXT NOT NULL DEFAULT '{}'    -- {relative path: sha256}
    )""",
    """CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        task_name TEXT NOT NULL,
        status TEXT NOT NULL
            CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
        created TEXT NOT NULL,
        started TEXT,
        finished TEXT,
        options TEXT NOT NULL DEFAULT '{}',
        progress TEXT NOT NULL DEFAULT '{}',
        log TEXT NOT NULL DEFAULT '',
        error TEXT,
        dataset_hash TEXT REFERENCES datasets(hash),
        owner TEXT,                         -- host:pid of the claiming process
        heartbeat TEXT
    )""",
    "CREATE INDEX runs_by_status ON runs (status, id)",
    "CREATE INDEX runs_by_task ON runs (task_name COLLATE NOCASE, id)",
)

#: MIGRATIONS[v] upgrades a database from version v to v + 1.
MIGRATIONS: dict[int, tuple[str, ...]] = {0: _V1}


def connect(db_path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the registry database in WAL mode and bring its schema up to date.

    The connection is in autocommit mode (the registry issues ``BEGIN IMMEDIATE`` itself) and
    may be shared between threads behind the registry's lock.
    """
    conn = sqlite3.connect(
        db_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn)
    except BaseException as exc:
        conn.close()
        if isinstance(exc, sqlite3.DatabaseError):
            raise RegistryError(
                f"The task registry database {db_path} cannot be opened: {exc}."
            ) from exc
        raise
    return conn


def migrate(conn: sqlite3.Connection) -> None:
    """Upgrade the schema to :data:`SCHEMA_VERSION` in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RegistryError(
                f"The task registry was written by a newer GATE Studio (schema {version}, this "
                f"release reads up to {SCHEMA_VERSION}). Upgrade GATE Studio to open it."
            )
        while version < SCHEMA_VERSION:
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            version += 1
            conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class Database:
    """One SQLite connection behind a re-entrant lock, with read and write-transaction helpers."""

    def __init__(self, db_path: Path) -> None:
        self._lock = threading.RLock()
        self._conn = connect(db_path)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise RegistryError(f"The task registry database failed: {exc}.") from exc

    @contextmanager
    def _write(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on any error.

        ``durable`` commits are fsynced before returning (task changes: a folder is deleted
        right after). Run-queue commits skip that fsync; they survive a process crash, and a
        power cut can at worst lose the last progress report.
        """
        with self._lock:
            try:
                self._conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                    self._conn.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise RegistryError(f"The task registry database failed: {exc}.") from exc
