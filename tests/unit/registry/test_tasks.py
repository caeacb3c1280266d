"""Register, list, get, replace, rename and remove tasks; reopen and recovery behaviour."""

from __future__ import annotations

import sqlite3
import threading

import pandas as pd
import pytest

from gate_core.registry import (
    InvalidNameError,
    RegistryError,
    TaskExistsError,
    TaskNotFoundError,
    TaskRegistry,
)
from gate_core.registry.database import SCHEMA_VERSION


def read_files(reg: TaskRegistry, name: str) -> dict[str, bytes]:
    root = reg.task_dir(name)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_register_list_get(registry, make_record, model_files, dataset, assert_clean):
    stored = registry.register_task(make_record(), model_files(1), dataset)
    assert stored.created.endswith("+00:00")
    assert stored.model_dir.startswith("tasks/logS/")
    assert set(stored.files) == set(model_files(1))
    assert [t.name for t in registry.list_tasks()] == ["logS"]
    got = registry.get_task("logs")  # names are case-insensitive
    assert got == stored
    assert got.metrics == {"test": {"rmse": 0.71, "r2": 0.8}} and got.ratios["logP"] == {
        "ratio": 0.4
    }
    assert read_files(registry, "logS") == model_files(1)
    pd.testing.assert_frame_equal(registry.get_dataset("logS"), dataset)
    registry.verify_task("logS")
    assert_clean(registry)


def test_register_from_a_staging_folder(registry, make_record, model_files, tmp_path):
    folder = tmp_path / "staged"
    for rel, data in model_files(2).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    registry.register_task(make_record("fromdir"), folder, b"smiles,y\nCCO,1\n")
    assert read_files(registry, "fromdir") == model_files(2)
    assert registry.get_dataset("fromdir").shape == (1, 2)
    assert folder.is_dir()  # the caller's folder is copied, not consumed


def test_tasks_persist_across_reopen(registry, make_record, model_files):
    registry.register_task(make_record(), model_files(1))
    again = TaskRegistry(registry.data_dir)
    assert again.get_task("logS") == registry.get_task("logS")
    with pytest.raises(RegistryError, match="without its dataset"):
        again.get_dataset("logS")


def test_data_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GATE_DATA_DIR", str(tmp_path / "from_env"))
    with TaskRegistry() as reg:
        assert reg.data_dir == (tmp_path / "from_env").resolve()
    assert (tmp_path / "from_env" / "registry.sqlite3").is_file()


def test_database_uses_wal_and_schema_version(registry):
    conn = sqlite3.connect(registry.data_dir / "registry.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_newer_schema_is_refused(tmp_path):
    TaskRegistry(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "registry.sqlite3")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(RegistryError, match="newer GATE Studio"):
        TaskRegistry(tmp_path)


def test_damaged_database_is_a_registry_error(tmp_path):
    (tmp_path / "registry.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(RegistryError, match="cannot be opened"):
        TaskRegistry(tmp_path)


def test_collision_without_replace(registry, make_record, model_files, assert_clean):
    registry.register_task(make_record(), model_files(1))
    for name in ("logS", "LOGS"):
        with pytest.raises(TaskExistsError, match="already exists"):
            registry.register_task(make_record(name), model_files(2))
    assert read_files(registry, "logS") == model_files(1)
    assert_clean(registry)


def test_replace_swaps_task(registry, make_record, model_files, dataset, assert_clean):
    old = registry.register_task(make_record(), model_files(1), dataset)
    new = registry.register_task(
        make_record(metrics={"rmse": 0.5}), model_files(2), dataset.head(2), replace=True
    )
    assert registry.get_task("logS") == new
    assert new.model_dir != old.model_dir and new.metrics == {"rmse": 0.5}
    assert read_files(registry, "logS") == model_files(2)
    assert not (registry.data_dir / old.model_dir).exists()
    assert len(registry.get_dataset("logS")) == 2
    with pytest.raises(RegistryError):  # the old dataset is no longer referenced
        registry.dataset_bytes(old.dataset_hash)
    assert_clean(registry)


def test_replace_registers_when_absent(registry, make_record, model_files):
    registry.register_task(make_record(), model_files(1), replace=True)
    assert registry.has_task("logS")


def test_remove(registry, make_record, model_files, dataset, assert_clean):
    stored = registry.register_task(make_record(), model_files(1), dataset)
    registry.register_task(make_record("other"), model_files(1))
    registry.remove_task("LogS")
    assert [t.name for t in registry.list_tasks()] == ["other"]
    assert not (registry.data_dir / stored.model_dir).exists()
    assert not (registry.data_dir / "tasks" / "logS").exists()
    with pytest.raises(RegistryError):
        registry.dataset_bytes(stored.dataset_hash)
    with pytest.raises(TaskNotFoundError):
        registry.remove("logS")
    with pytest.raises(TaskNotFoundError):
        registry.get_task("logS")
    assert_clean(registry)


def test_rename(registry, make_record, model_files, dataset, assert_clean):
    registry.register_task(make_record(), model_files(1), dataset)
    run_id = registry.enqueue_run("logS", {"epochs": 3})
    renamed = registry.rename_task("logS", "solubility")
    assert renamed.name == "solubility" and renamed.model_dir.startswith("tasks/solubility/")
    assert [t.name for t in registry.list_tasks()] == ["solubility"]
    assert read_files(registry, "solubility") == model_files(1)
    assert registry.get_run(run_id).task_name == "solubility"
    pd.testing.assert_frame_equal(registry.get_dataset("solubility"), dataset)
    registry.rename("solubility", "Solubility")  # a change of case only
    assert registry.get_task("solubility").name == "Solubility"
    assert_clean(registry)


def test_rename_refuses_collision_and_unknown(registry, make_record, model_files, assert_clean):
    registry.register_task(make_record("a"), model_files(1))
    registry.register_task(make_record("b"), model_files(2))
    with pytest.raises(TaskExistsError):
        registry.rename_task("a", "B")
    with pytest.raises(TaskNotFoundError):
        registry.rename_task("zzz", "c")
    with pytest.raises(InvalidNameError):
        registry.rename_task("a", "../c")
    assert read_files(registry, "a") == model_files(1)
    assert_clean(registry)


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", "x\\y", ""])
def test_register_refuses_traversal_names(
    registry, make_record, model_files, name, tmp_path, assert_clean
):
    with pytest.raises(InvalidNameError):
        registry.register_task(make_record(name), model_files(1))
    assert not (tmp_path / "evil").exists()
    assert_clean(registry)


@pytest.mark.parametrize("bad", ["../escape.bin", "/abs.bin", "a/../../b"])
def test_register_refuses_escaping_file_paths(registry, make_record, bad, assert_clean):
    with pytest.raises(InvalidNameError):
        registry.register_task(make_record(), {"ok.bin": b"1", bad: b"2"})
    assert registry.list_tasks() == []
    assert_clean(registry)


def test_register_refuses_bad_records(registry, make_record, model_files, assert_clean):
    with pytest.raises(RegistryError, match="Task type"):
        registry.register_task(make_record(task_type="ranking"), model_files(1))
    with pytest.raises(RegistryError, match="reserved"):
        registry.register_task(make_record(status="broken"), model_files(1))
    with pytest.raises(RegistryError, match="JSON"):
        registry.register_task(make_record(metrics={"f": object()}), model_files(1))
    with pytest.raises(RegistryError, match="at least one"):
        registry.register_task(make_record(), {})
    with pytest.raises(RegistryError, match="must be bytes"):
        registry.register_task(make_record(), {"a.bin": "text"})
    assert registry.list_tasks() == []
    assert_clean(registry)


def test_classification_task(registry, make_record, model_files):
    registry.register_task(make_record("herg", task_type="classification", unit=""), model_files(1))
    assert registry.get_task("herg").task_type == "classification"


def test_open_sweeps_leftovers(registry, make_record, model_files, assert_clean):
    registry.register_task(make_record(), model_files(1))
    data = registry.data_dir
    (data / "tmp" / "stage-deadbeef" / "sub").mkdir(parents=True)
    (data / "tmp" / "stage-deadbeef" / "sub" / "half.bin").write_bytes(b"x")
    (data / "tasks" / "ghost" / "0123456789abcdef").mkdir(parents=True)  # folder without a row
    (data / "tasks" / "logS" / "fedcba9876543210").mkdir()  # an old version never dropped
    reopened = TaskRegistry(data)
    assert [t.name for t in reopened.list_tasks()] == ["logS"]
    assert not (data / "tasks" / "ghost").exists()
    assert_clean(reopened)


def test_row_with_missing_files_is_flagged_not_listed(registry, make_record, model_files):
    stored = registry.register_task(make_record(), model_files(1))
    registry.register_task(make_record("fine"), model_files(1))
    victim = registry.data_dir / stored.model_dir / "config.json"
    content = victim.read_bytes()
    victim.unlink()
    reopened = TaskRegistry(registry.data_dir)
    assert [t.name for t in reopened.list_tasks()] == ["fine"]
    assert [t.status for t in reopened.list_tasks(include_broken=True) if t.name == "logS"] == [
        "broken"
    ]
    with pytest.raises(RegistryError, match="missing"):
        reopened.task_dir("logS")
    victim.write_bytes(content)
    assert TaskRegistry(registry.data_dir).get_task("logS").status == "ready"


def test_task_dir_refuses_a_file_deleted_while_open(registry, make_record, model_files):
    stored = registry.register_task(make_record(), model_files(1))
    (registry.data_dir / stored.model_dir / "model.safetensors").unlink()
    with pytest.raises(RegistryError, match="missing"):
        registry.task_dir("logS")


def test_verify_task_detects_modified_file(registry, make_record, model_files):
    stored = registry.register_task(make_record(), model_files(1))
    (registry.data_dir / stored.model_dir / "config.json").write_bytes(b"{}")
    with pytest.raises(RegistryError, match="config.json"):
        registry.verify_task("logS")


def test_concurrent_registrations_from_threads(registry, make_record, model_files, assert_clean):
    other = TaskRegistry(registry.data_dir)  # a second connection, like a second process
    errors: list[BaseException] = []

    def work(reg: TaskRegistry, prefix: str) -> None:
        try:
            for i in range(8):
                reg.register_task(make_record(f"{prefix}{i}"), model_files(i))
                reg.list_tasks()
                if i % 3 == 0:
                    reg.register_task(make_record(f"{prefix}{i}"), model_files(i + 1), replace=True)
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(r, p))
        for r, p in [(registry, "a"), (registry, "b"), (other, "c")]
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(registry.list_tasks()) == 24
    assert read_files(registry, "c3") == model_files(4)
    assert_clean(registry)


def test_sweep_leaves_a_busy_writers_staging_folder_alone(registry):
    from gate_core.registry import files

    in_progress = registry.data_dir / "tmp" / "stage-inprogress"
    in_progress.mkdir()
    with files.exclusive_lock(registry.data_dir / "registry.lock"):  # a writer at work elsewhere
        TaskRegistry(registry.data_dir).close()
        assert in_progress.is_dir()
    TaskRegistry(registry.data_dir).close()
    assert not in_progress.exists()
