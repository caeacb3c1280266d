"""TaskRegistry: the embedded, crash-safe store of tasks, their datasets and training runs.

Why: tasks are the user's work. A registered task must survive a crash, a kill or two app
sessions writing at once, so every change follows one protocol:

1. the model files are written into ``<data_dir>/tmp/stage-*`` and fsynced;
2. the staged folder is renamed to a fresh version folder ``tasks/<name>/<version>``;
3. one SQLite transaction inserts or updates the row that points at that folder;
4. only after the commit is the folder the row pointed at before deleted.

A crash before 3 leaves an unreferenced folder; a crash after 3 leaves an old one. Both are
swept when the registry is next opened, and no reader ever sees a row whose folder is
incomplete. Folder-changing operations hold an exclusive file lock so the sweep never touches
another process's work in progress; run-queue operations are database-only.
"""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
from collections.abc import Mapping
from dataclasses import replace as with_fields
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from gate_core.registries import TASK_TYPES
from gate_core.registry import datasets
from gate_core.registry import files as fileops
from gate_core.registry.datasets import Dataset
from gate_core.registry.errors import RegistryError, TaskExistsError, TaskNotFoundError
from gate_core.registry.names import validate_member_path, validate_task_name
from gate_core.registry.records import BROKEN, TaskRecord, from_json, to_json, utc_now
from gate_core.registry.runs import RunQueue

if TYPE_CHECKING:
    import pandas as pd

    from gate_core.registry import archive

DATA_DIR_ENV = "GATE_DATA_DIR"
DEFAULT_DATA_DIR = "gate_data"
DB_NAME = "registry.sqlite3"
LOCK_NAME = "registry.lock"
TASKS_DIR = "tasks"
TMP_DIR = "tmp"
_MODEL_DIR_RE = re.compile(r"tasks/[A-Za-z0-9_.-]{1,64}/[0-9a-f]{16}")

#: Model files: ``{relative path: bytes}`` or a folder whose files are copied.
ModelFiles = Mapping[str, bytes] | str | os.PathLike

_TASK_COLUMNS = (
    "name",
    "unit",
    "task_type",
    "description",
    "created",
    "dataset_hash",
    "sizes",
    "metrics",
    "ratios",
    "status",
    "backbone_id",
    "model_dir",
    "files",
)
_INSERT_TASK = (
    f"INSERT INTO tasks ({', '.join(_TASK_COLUMNS)}) VALUES ({', '.join('?' * len(_TASK_COLUMNS))})"
)


def default_data_dir() -> Path:
    """``$GATE_DATA_DIR`` if set, else ``./gate_data``."""
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


def _task_values(rec: TaskRecord) -> tuple:
    return (
        rec.name,
        rec.unit,
        rec.task_type,
        rec.description,
        rec.created,
        rec.dataset_hash,
        to_json(rec.sizes),
        to_json(rec.metrics),
        to_json(rec.ratios),
        rec.status,
        rec.backbone_id,
        rec.model_dir,
        to_json(rec.files),
    )


def _check_record(record: TaskRecord) -> None:
    validate_task_name(record.name)
    if record.task_type not in TASK_TYPES:
        raise RegistryError(
            f"Task type must be one of {', '.join(TASK_TYPES)}, not {record.task_type!r}."
        )
    for attr in ("unit", "description", "backbone_id", "status", "created"):
        if not isinstance(getattr(record, attr), str):
            raise RegistryError(f"Task field '{attr}' must be text.")
    if record.status == BROKEN:
        raise RegistryError(
            f"Task status {BROKEN!r} is reserved for tasks whose files are missing."
        )
    _task_values(record)  # fail early on values that are not JSON


def _model_file_items(model_files: ModelFiles) -> list[tuple[str, Path | bytes]]:
    """``(validated relative path, source file or bytes)`` for each model file."""
    if isinstance(model_files, (str, os.PathLike)):
        source = Path(model_files)
        if not source.is_dir():
            raise RegistryError(f"Model file folder {source} does not exist.")
        items: list[tuple[str, Path | bytes]] = list(fileops.iter_files(source))
    elif isinstance(model_files, Mapping):
        items = list(model_files.items())
    else:
        raise RegistryError("Model files must be a {path: bytes} mapping or a folder.")
    if not items:
        raise RegistryError("A task needs at least one model file.")
    for rel, data in items:
        validate_member_path(rel)
        if not isinstance(data, (Path, bytes, bytearray, memoryview)):
            raise RegistryError(f"Model file {rel!r} must be bytes.")
    return items


class TaskRegistry(RunQueue):
    """The task registry in ``data_dir`` (default: ``$GATE_DATA_DIR`` or ``./gate_data``).

    Safe to share between threads (one connection behind a lock) and to open from several
    processes at once (SQLite WAL + ``BEGIN IMMEDIATE`` + an exclusive file lock for folder
    changes). Opening sweeps leftovers of interrupted writes and fails runs whose worker died.
    The training-run queue methods come from :class:`~gate_core.registry.runs.RunQueue`.
    """

    def __init__(self, data_dir: Path | str | None = None) -> None:
        self.data_dir = (
            Path(data_dir if data_dir is not None else default_data_dir()).expanduser().resolve()
        )
        try:
            (self.data_dir / TMP_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RegistryError(f"Cannot create the data folder {self.data_dir}: {exc}.") from exc
        super().__init__(self.data_dir / DB_NAME)
        self.reconcile()

    def __repr__(self) -> str:
        return f"TaskRegistry({str(self.data_dir)!r})"

    def __enter__(self) -> TaskRegistry:
        return self

    # -- plumbing --------------------------------------------------------------------------

    def _folder_lock(self, blocking: bool = True):
        return fileops.exclusive_lock(self.data_dir / LOCK_NAME, blocking)

    def _abs(self, model_dir: str) -> Path:
        if not _MODEL_DIR_RE.fullmatch(model_dir):
            raise RegistryError(f"Registry row points at an unexpected folder {model_dir!r}.")
        return self.data_dir / model_dir

    def _complete(self, model_dir: str, file_hashes: Mapping[str, str]) -> bool:
        try:
            root = self._abs(model_dir)
        except RegistryError:
            return False
        return bool(file_hashes) and all((root / rel).is_file() for rel in file_hashes)

    def _row(self, conn: sqlite3.Connection, name: str) -> sqlite3.Row | None:
        return conn.execute("SELECT * FROM tasks WHERE name = ?", (name,)).fetchone()

    def _stage(self, model_files: ModelFiles) -> tuple[Path, dict[str, str]]:
        """Write the model files into a new staging folder; return it and ``{path: sha256}``."""
        stage = fileops.new_staging_dir(self.data_dir / TMP_DIR)
        hashes: dict[str, str] = {}
        try:
            items = _model_file_items(model_files)  # every path validated before any write
            for rel, source in items:
                if isinstance(source, Path):
                    hashes[rel] = fileops.copy_file(source, stage / rel)
                else:
                    hashes[rel] = fileops.write_bytes(stage / rel, bytes(source))
            fileops.sync_tree(stage)
        except OSError as exc:
            fileops.remove_tree(stage)
            raise RegistryError(f"Could not write the task's model files: {exc}.") from exc
        except BaseException:
            fileops.remove_tree(stage)
            raise
        return stage, hashes

    def _publish(self, stage: Path, name: str) -> str:
        """Rename a staged folder to a fresh ``tasks/<name>/<version>``; return that relative path."""
        rel = f"{TASKS_DIR}/{name}/{secrets.token_hex(8)}"
        try:
            fileops.publish(stage, self.data_dir / rel)
        except OSError as exc:
            fileops.remove_tree(stage)
            raise RegistryError(f"Could not move the task's files into place: {exc}.") from exc
        return rel

    def _drop_folder(self, model_dir: str) -> None:
        """Delete a version folder no row points at any more, and its task folder if now empty."""
        try:
            path = self._abs(model_dir)
        except RegistryError:
            return
        fileops.remove_tree(path)
        try:
            path.parent.rmdir()
        except OSError:
            pass

    # -- tasks -----------------------------------------------------------------------------

    def register_task(
        self,
        record: TaskRecord,
        files: ModelFiles,
        dataset: Dataset | None = None,
        replace: bool = False,
    ) -> TaskRecord:
        """Register a task with its model files and training dataset, all or nothing.

        ``files`` is ``{relative path: bytes}`` or a folder whose files are copied (the caller
        keeps it); ``dataset`` is a DataFrame or CSV bytes, stored in the database.
        ``record`` supplies the descriptive fields; ``created`` (when empty), ``dataset_hash``,
        ``model_dir`` and ``files`` are filled in. With ``replace=True`` an existing task of the
        same name (any case) is swapped in the same transaction; otherwise that raises
        :class:`TaskExistsError`. Returns the stored record.
        """
        _check_record(record)
        content = datasets.encode(dataset) if dataset is not None else None
        with self._folder_lock():
            if not replace and self.has_task(record.name):
                raise TaskExistsError(f"A task named {record.name!r} already exists.")
            stage, hashes = self._stage(files)
            model_dir = self._publish(stage, record.name)
            try:
                with self._write() as conn:
                    old = self._row(conn, record.name)
                    if old is not None and not replace:
                        raise TaskExistsError(f"A task named {old['name']!r} already exists.")
                    digest = datasets.store(conn, *content) if content else None
                    stored = with_fields(
                        record,
                        created=record.created or utc_now(),
                        dataset_hash=digest,
                        model_dir=model_dir,
                        files=hashes,
                    )
                    if old is not None:
                        conn.execute("DELETE FROM tasks WHERE name = ?", (old["name"],))
                    conn.execute(_INSERT_TASK, _task_values(stored))
                    if old is not None:
                        datasets.prune(conn, old["dataset_hash"])
            except BaseException:
                self._drop_folder(model_dir)
                raise
            if old is not None:
                self._drop_folder(old["model_dir"])
        return stored

    def rename_task(self, old: str, new: str) -> TaskRecord:
        """Rename a task (its runs follow). Raises if ``new`` names another task."""
        validate_task_name(old)
        validate_task_name(new)
        with self._folder_lock():
            record = self.get_task(old)
            if new.lower() != record.name.lower() and self.has_task(new):
                raise TaskExistsError(f"A task named {new!r} already exists.")
            source = self._abs(record.model_dir)
            stage = fileops.new_staging_dir(self.data_dir / TMP_DIR)
            try:
                for rel in record.files:
                    fileops.link_or_copy(source / rel, stage / validate_member_path(rel))
                fileops.sync_tree(stage)
            except OSError as exc:
                fileops.remove_tree(stage)
                raise RegistryError(f"Could not copy the files of task {old!r}: {exc}.") from exc
            model_dir = self._publish(stage, new)
            try:
                with self._write() as conn:
                    clash = self._row(conn, new)
                    if clash is not None and clash["name"] != record.name:
                        raise TaskExistsError(f"A task named {clash['name']!r} already exists.")
                    conn.execute(
                        "UPDATE tasks SET name = ?, model_dir = ? WHERE name = ?",
                        (new, model_dir, record.name),
                    )
                    conn.execute(
                        "UPDATE runs SET task_name = ? WHERE task_name = ? COLLATE NOCASE",
                        (new, record.name),
                    )
            except BaseException:
                self._drop_folder(model_dir)
                raise
            self._drop_folder(record.model_dir)
        return with_fields(record, name=new, model_dir=model_dir)

    def remove_task(self, name: str) -> None:
        """Delete a task's row, its files and its dataset (if nothing else uses it)."""
        validate_task_name(name)
        with self._folder_lock():
            with self._write() as conn:
                row = self._row(conn, name)
                if row is None:
                    raise TaskNotFoundError(f"There is no task named {name!r}.")
                conn.execute("DELETE FROM tasks WHERE name = ?", (row["name"],))
                datasets.prune(conn, row["dataset_hash"])
            self._drop_folder(row["model_dir"])

    rename = rename_task
    remove = remove_task

    def has_task(self, name: str) -> bool:
        with self._read() as conn:
            return self._row(conn, name) is not None

    def get_task(self, name: str) -> TaskRecord:
        with self._read() as conn:
            row = self._row(conn, name)
        if row is None:
            raise TaskNotFoundError(f"There is no task named {name!r}.")
        return TaskRecord.from_row(row)

    def list_tasks(self, include_broken: bool = False) -> list[TaskRecord]:
        """All tasks by name; tasks whose files went missing are left out unless asked for."""
        with self._read() as conn:
            rows = conn.execute("SELECT * FROM tasks ORDER BY name COLLATE NOCASE").fetchall()
        records = [TaskRecord.from_row(r) for r in rows]
        return [r for r in records if include_broken or r.status != BROKEN]

    def task_dir(self, name: str) -> Path:
        """Absolute folder holding the task's model files; raises if any file is missing."""
        record = self.get_task(name)
        if record.status == BROKEN or not self._complete(record.model_dir, record.files):
            raise RegistryError(
                f"The files of task {record.name!r} are missing from {self.data_dir / TASKS_DIR}. "
                "Remove the task, or train it again from its stored dataset."
            )
        return self._abs(record.model_dir)

    def verify_task(self, name: str) -> None:
        """Re-hash every model file of a task; raises :class:`RegistryError` naming any that differ."""
        record = self.get_task(name)
        root = self.task_dir(name)
        bad = [
            rel for rel, digest in record.files.items() if fileops.sha256_file(root / rel) != digest
        ]
        if bad:
            raise RegistryError(
                f"Task {record.name!r} has damaged model files: {', '.join(sorted(bad))}."
            )

    def get_dataset(self, name: str) -> pd.DataFrame:
        """The table the task was trained on."""
        record = self.get_task(name)
        if not record.dataset_hash:
            raise RegistryError(f"Task {record.name!r} was registered without its dataset.")
        return self.load_dataset(record.dataset_hash)

    def load_dataset(self, dataset_hash: str) -> pd.DataFrame:
        """A stored dataset by hash (e.g. ``RunRecord.dataset_hash``) as a DataFrame."""
        return datasets.decode(self.dataset_bytes(dataset_hash))

    def dataset_bytes(self, dataset_hash: str) -> bytes:
        """A stored dataset by hash, as the CSV bytes that were stored."""
        with self._read() as conn:
            return datasets.load(conn, dataset_hash)

    # -- export / import -------------------------------------------------------------------

    def export_task(
        self,
        name: str,
        path: str | os.PathLike | BinaryIO,
        documents: dict[str, bytes] | None = None,
    ) -> None:
        """Write the task as one zip file (manifest + model files + dataset + ``documents``, e.g. its model card); see ``archive``."""
        from gate_core.registry import archive

        archive.export_task(self, name, path, documents)

    def import_task(
        self,
        path: str | os.PathLike | BinaryIO,
        expected_backbone_id: str,
        name: str | None = None,
        replace: bool = False,
        check: archive.ImportCheck | None = None,
    ) -> TaskRecord:
        """Validate and register a task exported by :meth:`export_task`; see ``archive``."""
        from gate_core.registry import archive

        return archive.import_task(
            self, path, expected_backbone_id, name=name, replace=replace, check=check
        )

    # -- recovery --------------------------------------------------------------------------

    def reconcile(self) -> None:
        """Sweep leftovers of interrupted writes, flag tasks with missing files, fail dead runs.

        Skipped (until the next open) while another thread or process is changing folders.
        """
        with self._folder_lock(blocking=False) as got:
            if got:
                self._sweep()
        self.recover_stale_runs()

    def _sweep(self) -> None:
        for entry in (self.data_dir / TMP_DIR).iterdir():
            fileops.discard(entry)
        with self._read() as conn:
            rows = conn.execute("SELECT name, model_dir, files, status FROM tasks").fetchall()
        referenced = {row["model_dir"].lower() for row in rows}
        tasks_root = self.data_dir / TASKS_DIR
        for task_folder in tasks_root.iterdir() if tasks_root.is_dir() else ():
            if not task_folder.is_dir() or task_folder.is_symlink():
                continue
            for version in task_folder.iterdir():
                if f"{TASKS_DIR}/{task_folder.name}/{version.name}".lower() not in referenced:
                    fileops.discard(version)
            try:
                task_folder.rmdir()
            except OSError:
                pass
        changes = []
        for row in rows:
            complete = self._complete(row["model_dir"], from_json(row["files"], {}))
            if not complete and row["status"] != BROKEN:
                changes.append((BROKEN, row["name"]))
            elif complete and row["status"] == BROKEN:
                changes.append(("ready", row["name"]))
        if changes:
            with self._write() as conn:
                conn.executemany("UPDATE tasks SET status = ? WHERE name = ?", changes)
