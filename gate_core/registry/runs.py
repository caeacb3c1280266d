"""The training-run queue, kept in the registry database.

Why: the queue lives in the database so that any number of app sessions can watch a run, a
worker thread or process can pick it up, and a run outlives the process that started it.
Every change is one ``BEGIN IMMEDIATE`` transaction, which is what makes a claim atomic
across threads and processes.

States: ``queued → running → done | failed | cancelled`` (a queued run can also be failed or
cancelled). Runs left ``running`` by a process that died are marked ``failed`` by
:meth:`RunQueue.recover_stale_runs`, never re-queued: a run that killed its worker (out of
memory, a crash in native code) would otherwise kill every worker that picks it up again.
A run is stale when its owner process is gone *or* its heartbeat is older than
:data:`HEARTBEAT_TIMEOUT_SECONDS`: a live PID alone proves nothing, since containers reuse PIDs
and a restarted container has another host name.
"""

from __future__ import annotations

import os
import socket
import sqlite3
from datetime import datetime
from typing import Any

from gate_core.registry import datasets
from gate_core.registry.database import Database
from gate_core.registry.datasets import Dataset
from gate_core.registry.errors import RunActiveError, RunNotFoundError
from gate_core.registry.names import validate_task_name
from gate_core.registry.records import RunRecord, to_json, utc_now

#: The log keeps at most this many trailing characters.
LOG_LIMIT = 1_000_000
#: A running run that reported no progress for this long is stale. Training reports every few
#: seconds; the longest silent stretch, featurising 20,000 molecules on a busy CPU, is about a minute.
HEARTBEAT_TIMEOUT_SECONDS = 15 * 60.0
_APPEND_LOG = f"log = CASE WHEN :line IS NULL THEN log ELSE substr(log || :line, -{LOG_LIMIT}) END"


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


def _json_or_none(value: Any) -> str | None:
    return None if value is None else to_json(value)


class RunQueue(Database):
    """Queue methods of :class:`~gate_core.registry.store.TaskRegistry`."""

    def enqueue_run(
        self, task_name: str, options: Any = None, dataset: Dataset | None = None
    ) -> int:
        """Queue a training run for ``task_name`` (which need not exist yet); return its id.

        One active run per task: :class:`RunActiveError` while another run of that name (any
        case) is queued or running. The check and the insert are one transaction, so two
        sessions starting the same task at once cannot both get a run.
        """
        validate_task_name(task_name)
        content = datasets.encode(dataset) if dataset is not None else None
        options_json = to_json({} if options is None else options)
        with self._write(durable=False) as conn:
            active = conn.execute(
                "SELECT id, status FROM runs WHERE task_name = ? COLLATE NOCASE"
                " AND status IN ('queued', 'running') ORDER BY id LIMIT 1",
                (task_name,),
            ).fetchone()
            if active is not None:
                raise RunActiveError(
                    f"run {active['id']} for '{task_name}' is already {active['status']}; "
                    "wait for it or cancel it"
                )
            digest = datasets.store(conn, *content) if content else None
            cur = conn.execute(
                "INSERT INTO runs (task_name, status, created, options, dataset_hash)"
                " VALUES (?, 'queued', ?, ?, ?)",
                (task_name, utc_now(), options_json, digest),
            )
            return int(cur.lastrowid)

    def claim_next_run(self) -> RunRecord | None:
        """Atomically take the oldest queued run (now ``running``, owned by this process)."""
        with self._write(durable=False) as conn:
            row = conn.execute(
                "SELECT id FROM runs WHERE status = 'queued' ORDER BY id LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            now = utc_now()
            conn.execute(
                "UPDATE runs SET status = 'running', started = ?, heartbeat = ?, owner = ? WHERE id = ?",
                (now, now, owner_id(), row["id"]),
            )
            return self._get(conn, row["id"])

    def update_progress(self, run_id: int, progress: Any, log_line: str | None = None) -> bool:
        """Replace the run's progress JSON (``None`` keeps it) and append a log line.

        Returns ``False`` when the run is no longer running (cancelled, or failed as stale):
        the worker should then stop.
        """
        sets = f"progress = COALESCE(:progress, progress), heartbeat = :now, {_APPEND_LOG}"
        return self._transition(
            run_id, sets, ("running",), progress=_json_or_none(progress), line=_line(log_line)
        )

    def finish_run(self, run_id: int, progress: Any = None, log_line: str | None = None) -> bool:
        """Mark a running run done; ``False`` if it had been cancelled or failed meanwhile."""
        sets = f"status = 'done', finished = :now, progress = COALESCE(:progress, progress), {_APPEND_LOG}"
        return self._transition(
            run_id, sets, ("running",), progress=_json_or_none(progress), line=_line(log_line)
        )

    def fail_run(self, run_id: int, error: str, log_line: str | None = None) -> bool:
        """Mark a queued or running run failed with a message for the user."""
        sets = f"status = 'failed', finished = :now, error = :error, {_APPEND_LOG}"
        return self._transition(
            run_id, sets, ("queued", "running"), error=str(error), line=_line(log_line)
        )

    def cancel_run(self, run_id: int) -> bool:
        """Cancel a queued or running run; the worker sees ``False`` from its next update."""
        return self._transition(
            run_id, "status = 'cancelled', finished = :now", ("queued", "running")
        )

    def get_run(self, run_id: int) -> RunRecord:
        with self._read() as conn:
            return self._get(conn, run_id)

    def list_runs(
        self, task: str | None = None, status: str | None = None, limit: int | None = None
    ) -> list[RunRecord]:
        """Runs, newest first, optionally for one task (any case) and/or in one status."""
        sql = (
            "SELECT * FROM runs WHERE (:task IS NULL OR task_name = :task COLLATE NOCASE)"
            " AND (:status IS NULL OR status = :status) ORDER BY id DESC LIMIT :limit"
        )
        args = {"task": task, "status": status, "limit": -1 if limit is None else int(limit)}
        with self._read() as conn:
            return [RunRecord.from_row(row) for row in conn.execute(sql, args)]

    def recover_stale_runs(
        self, heartbeat_timeout: float | None = HEARTBEAT_TIMEOUT_SECONDS
    ) -> list[int]:
        """Mark ``failed`` the running runs whose worker died; return their ids.

        A run is stale when its owner process on this host no longer exists, or when it
        reported no progress for ``heartbeat_timeout`` seconds (``None``: the PID check only).
        Stale runs are failed rather than re-queued (see the module docstring).
        """
        with self._write(durable=False) as conn:
            stale = self._find_stale(conn, heartbeat_timeout)
            for run_id, reason in stale:
                message = f"Interrupted: {reason}. Start the run again to retry."
                conn.execute(
                    f"UPDATE runs SET status = 'failed', finished = :now, error = :error, {_APPEND_LOG}"
                    " WHERE id = :id",
                    {"now": utc_now(), "error": message, "line": message + "\n", "id": run_id},
                )
        return [run_id for run_id, _ in stale]

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _get(conn: sqlite3.Connection, run_id: int) -> RunRecord:
        row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFoundError(f"There is no training run with id {run_id}.")
        return RunRecord.from_row(row)

    def _transition(self, run_id: int, sets: str, allowed: tuple[str, ...], **values: Any) -> bool:
        """Apply ``sets`` if the run is in one of the ``allowed`` states; ``False`` if it is not."""
        states = ", ".join(f"'{s}'" for s in allowed)
        values.update(now=utc_now(), id=run_id)
        with self._write(durable=False) as conn:
            cur = conn.execute(
                f"UPDATE runs SET {sets} WHERE id = :id AND status IN ({states})", values
            )
            if cur.rowcount == 0:
                self._get(conn, run_id)  # raises RunNotFoundError for an unknown id
                return False
            return True

    @staticmethod
    def _find_stale(
        conn: sqlite3.Connection, heartbeat_timeout: float | None
    ) -> list[tuple[int, str]]:
        host, now = socket.gethostname(), datetime.fromisoformat(utc_now())
        stale = []
        for row in conn.execute(
            "SELECT id, owner, heartbeat, started FROM runs WHERE status = 'running'"
        ):
            owner = row["owner"] or ""
            owner_host, _, pid = owner.rpartition(":")
            last = row["heartbeat"] or row["started"]
            if owner_host == host and pid.isdigit() and not _pid_alive(int(pid)):
                stale.append(
                    (row["id"], f"the worker process ({owner}) stopped before the run finished")
                )
            elif heartbeat_timeout is not None and last:
                silent = (now - datetime.fromisoformat(last)).total_seconds()
                if silent > heartbeat_timeout:
                    who = owner or "unknown"
                    stale.append(
                        (row["id"], f"the worker ({who}) sent no progress for {silent:.0f} s")
                    )
        return stale
