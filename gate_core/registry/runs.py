"""The training-run queue: SQL for enqueue, claim, progress and the final states.

Why: the queue lives in the registry database so that any number of app sessions can watch a
run, a worker thread or process can pick it up, and a run outlives the process that started
it. Every function runs inside the caller's transaction (``BEGIN IMMEDIATE`` for writes),
which is what makes a claim atomic across threads and processes.

States: ``queued → running → done | failed | cancelled`` (a queued run can also be failed or
cancelled). Runs left ``running`` by a process that died are marked ``failed`` by
:func:`find_stale` + :func:`fail`, never re-queued: a run that killed its worker (out of
memory, a crash in native code) would otherwise kill every worker that picks it up again.
"""

from __future__ import annotations

import os
import socket
import sqlite3
from datetime import datetime
from typing import Any

from gate_core.registry.errors import RunNotFoundError
from gate_core.registry.records import RunRecord, to_json, utc_now

#: The log keeps at most this many trailing characters.
LOG_LIMIT = 1_000_000


def owner_id() -> str:
    """``host:pid`` of this process (computed per call, so a forked worker gets its own)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _line(text: str | None) -> str | None:
    if text is None:
        return None
    return text if text.endswith("\n") else text + "\n"


def enqueue(conn: sqlite3.Connection, task_name: str, options: Any, dataset_hash: str | None) -> int:
    cur = conn.execute(
        "INSERT INTO runs (task_name, status, created, options, dataset_hash) VALUES (?, 'queued', ?, ?, ?)",
        (task_name, utc_now(), to_json(options), dataset_hash),
    )
    return int(cur.lastrowid)


def claim_next(conn: sqlite3.Connection) -> int | None:
    """Move the oldest queued run to ``running`` for this process; return its id."""
    row = conn.execute("SELECT id FROM runs WHERE status = 'queued' ORDER BY id LIMIT 1").fetchone()
    if row is None:
        return None
    now = utc_now()
    cur = conn.execute(
        "UPDATE runs SET status = 'running', started = ?, heartbeat = ?, owner = ? "
        "WHERE id = ? AND status = 'queued'",
        (now, now, owner_id(), row["id"]),
    )
    return int(row["id"]) if cur.rowcount == 1 else None


def get(conn: sqlite3.Connection, run_id: int) -> RunRecord:
    row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise RunNotFoundError(f"There is no training run with id {run_id}.")
    return RunRecord.from_row(row)


def list_runs(
    conn: sqlite3.Connection, task: str | None, status: str | None, limit: int | None
) -> list[RunRecord]:
    sql, args = "SELECT * FROM runs WHERE 1 = 1", []
    if task is not None:
        sql, args = sql + " AND task_name = ? COLLATE NOCASE", [*args, task]
    if status is not None:
        sql, args = sql + " AND status = ?", [*args, status]
    sql += " ORDER BY id DESC"
    if limit is not None:
        sql, args = sql + " LIMIT ?", [*args, int(limit)]
    return [RunRecord.from_row(r) for r in conn.execute(sql, args)]


def _update(conn: sqlite3.Connection, run_id: int, sets: str, args: tuple, allowed: tuple[str, ...]) -> bool:
    """Apply ``sets`` if the run is in one of ``allowed`` states; False if it is in another."""
    marks = ", ".join("?" for _ in allowed)
    cur = conn.execute(f"UPDATE runs SET {sets} WHERE id = ? AND status IN ({marks})", (*args, run_id, *allowed))
    if cur.rowcount == 0:
        get(conn, run_id)  # raises RunNotFoundError for an unknown id
        return False
    return True


_APPEND_LOG = f"log = CASE WHEN ? IS NULL THEN log ELSE substr(log || ?, -{LOG_LIMIT}) END"


def update_progress(conn: sqlite3.Connection, run_id: int, progress: Any, log_line: str | None) -> bool:
    line = _line(log_line)
    progress_json = None if progress is None else to_json(progress)
    return _update(
        conn, run_id, f"progress = COALESCE(?, progress), heartbeat = ?, {_APPEND_LOG}",
        (progress_json, utc_now(), line, line), ("running",),
    )


def finish(conn: sqlite3.Connection, run_id: int, progress: Any, log_line: str | None) -> bool:
    line = _line(log_line)
    progress_json = None if progress is None else to_json(progress)
    now = utc_now()
    return _update(
        conn, run_id, f"status = 'done', finished = ?, heartbeat = ?, progress = COALESCE(?, progress), {_APPEND_LOG}",
        (now, now, progress_json, line, line), ("running",),
    )


def fail(conn: sqlite3.Connection, run_id: int, error: str, log_line: str | None) -> bool:
    line = _line(log_line)
    return _update(
        conn, run_id, f"status = 'failed', finished = ?, error = ?, {_APPEND_LOG}",
        (utc_now(), error, line, line), ("queued", "running"),
    )


def cancel(conn: sqlite3.Connection, run_id: int) -> bool:
    return _update(conn, run_id, "status = 'cancelled', finished = ?", (utc_now(),), ("queued", "running"))


def find_stale(conn: sqlite3.Connection, heartbeat_timeout: float | None) -> list[tuple[int, str]]:
    """Running runs whose owner process is gone (same host) or silent for ``heartbeat_timeout`` s.

    Returns ``(run id, reason)`` pairs.
    """
    host = socket.gethostname()
    now = datetime.fromisoformat(utc_now())
    stale = []
    for row in conn.execute("SELECT id, owner, heartbeat, started FROM runs WHERE status = 'running'"):
        owner = row["owner"] or ""
        owner_host, _, pid = owner.rpartition(":")
        if owner_host == host and pid.isdigit() and not _pid_alive(int(pid)):
            stale.append((row["id"], f"the worker process ({owner}) stopped before the run finished"))
            continue
        last = row["heartbeat"] or row["started"]
        if heartbeat_timeout is not None and last:
            silent = (now - datetime.fromisoformat(last)).total_seconds()
            if silent > heartbeat_timeout:
                stale.append((row["id"], f"the worker ({owner or 'unknown'}) sent no progress for {silent:.0f} s"))
    return stale
