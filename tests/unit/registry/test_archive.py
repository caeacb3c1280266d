"""Export → import round trip, and every way an archive must be refused."""

from __future__ import annotations

import hashlib
import io
import json
import random
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from gate_core.registry import (
    ArchiveError,
    RegistryError,
    TaskExistsError,
    TaskNotFoundError,
    TaskRegistry,
)
from gate_core.registry.archive import MANIFEST

BACKBONE = "gate-backbone-test-v1"  # the conftest's make_record default


@pytest.fixture(autouse=True)
def _same_backbone(make_record):
    assert make_record().backbone_id == BACKBONE


@pytest.fixture
def exported(registry, make_record, model_files, dataset, tmp_path) -> Path:
    registry.register_task(make_record(description="aqueous solubility"), model_files(1), dataset)
    path = tmp_path / "logS.gate.zip"
    registry.export_task("logS", path)
    return path


@pytest.fixture
def target(tmp_path) -> TaskRegistry:
    reg = TaskRegistry(tmp_path / "second_data_dir")
    yield reg
    reg.close()


def rewrite(
    src: Path, dst: Path, change=None, manifest_change=None, extra: dict[str, bytes] | None = None
) -> Path:
    """Copy an archive member by member, optionally editing one member or the manifest."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == MANIFEST and manifest_change:
                manifest = json.loads(data)
                manifest_change(manifest)
                data = json.dumps(manifest).encode()
            elif change:
                data = change(info.filename, data)
            zout.writestr(info.filename, data)
        for name, data in (extra or {}).items():
            zout.writestr(name, data)
    return dst


def craft(path: Path, members: dict[str, bytes], backbone: str = BACKBONE) -> Path:
    """A hand-made archive whose manifest lists (and correctly hashes) the given members."""
    manifest = {
        "format": "gate-task",
        "format_version": 1,
        "backbone_id": backbone,
        "task": {"name": "crafted", "task_type": "regression"},
        "members": {n: hashlib.sha256(d).hexdigest() for n, d in members.items()},
    }
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(MANIFEST, json.dumps(manifest))
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_round_trip_into_second_data_dir(
    registry, exported, target, model_files, dataset, assert_clean
):
    with zipfile.ZipFile(exported) as zf:
        manifest = json.loads(zf.read(MANIFEST))
        assert manifest["format_version"] == 1 and manifest["backbone_id"] == BACKBONE
        assert set(manifest["members"]) == {"dataset.csv"} | {f"model/{n}" for n in model_files(1)}
    imported = target.import_task(exported, BACKBONE)
    original = registry.get_task("logS")
    assert imported.describe() == original.describe()
    assert imported.files == original.files and imported.dataset_hash == original.dataset_hash
    target.verify_task("logS")
    root = target.task_dir("logS")
    assert {n: (root / n).read_bytes() for n in model_files(1)} == model_files(1)
    pd.testing.assert_frame_equal(target.get_dataset("logS"), dataset)
    assert_clean(target)


def test_round_trip_through_streams_and_rename(registry, exported, target):
    buffer = io.BytesIO()
    registry.export_task("logS", buffer)
    buffer.seek(0)
    record = target.import_task(buffer, BACKBONE, name="logS_copy")
    assert record.name == "logS_copy" and target.has_task("logS_copy")


def test_import_collision_and_replace(exported, target):
    target.import_task(exported, BACKBONE)
    with pytest.raises(TaskExistsError):
        target.import_task(exported, BACKBONE)
    target.import_task(exported, BACKBONE, replace=True)
    assert len(target.list_tasks()) == 1


def test_export_unknown_task(registry, tmp_path):
    with pytest.raises(TaskNotFoundError):
        registry.export_task("nope", tmp_path / "x.zip")
    assert list(tmp_path.glob("*.zip")) == []


def test_export_refuses_files_changed_on_disk(registry, exported, tmp_path):
    root = registry.task_dir("logS")
    (root / "config.json").write_bytes(b"edited")
    with pytest.raises(RegistryError, match="changed on disk"):
        registry.export_task("logS", tmp_path / "again.zip")
    assert not (tmp_path / "again.zip").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_tampered_member_is_refused(exported, target, tmp_path, assert_clean):
    def edit(name: str, data: bytes) -> bytes:
        return bytes([data[0] ^ 0x01]) + data[1:] if name == "model/model.safetensors" else data

    bad = rewrite(exported, tmp_path / "tampered.zip", change=edit)
    with pytest.raises(ArchiveError, match=r"model/model\.safetensors.*checksum"):
        target.import_task(bad, BACKBONE)
    assert target.list_tasks() == []
    assert_clean(target)


def test_flipped_byte_in_stored_member_is_refused(exported, target, tmp_path):
    with zipfile.ZipFile(exported) as zf:
        info = zf.getinfo("model/config.json")
    raw = bytearray(exported.read_bytes())
    # local header: 30 bytes + name + extra, then the (compressed) data
    name_len = int.from_bytes(raw[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(raw[info.header_offset + 28 : info.header_offset + 30], "little")
    raw[info.header_offset + 30 + name_len + extra_len + 2] ^= 0xFF
    bad = tmp_path / "flipped.zip"
    bad.write_bytes(bytes(raw))
    with pytest.raises(ArchiveError, match="config.json"):
        target.import_task(bad, BACKBONE)


def test_any_flipped_byte_is_refused_or_harmless(exported, target, tmp_path, assert_clean):
    raw = exported.read_bytes()
    expected = None
    rng = random.Random(0)
    for i, pos in enumerate(rng.sample(range(len(raw)), 60)):
        damaged = bytearray(raw)
        damaged[pos] ^= 1 << rng.randrange(8)
        path = tmp_path / f"fuzz{i}.zip"
        path.write_bytes(bytes(damaged))
        try:
            record = target.import_task(path, BACKBONE, replace=True)
        except RegistryError:
            continue
        # a flip in a part zip does not check (a timestamp, say) must not change the task
        expected = expected or TaskRegistry(tmp_path / "ref").import_task(exported, BACKBONE).files
        assert record.files == expected
        target.verify_task(record.name)
    target.list_tasks()
    assert_clean(target)


def test_wrong_backbone_names_both_ids(exported, target):
    with pytest.raises(ArchiveError) as info:
        target.import_task(exported, "gate-backbone-other-v9")
    assert BACKBONE in str(info.value) and "gate-backbone-other-v9" in str(info.value)
    assert target.list_tasks() == []


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04garbage" * 10])
def test_not_a_zip_is_refused(target, tmp_path, content):
    path = tmp_path / "upload.zip"
    path.write_bytes(content)
    with pytest.raises(ArchiveError, match="not a zip"):
        target.import_task(path, BACKBONE)
    with pytest.raises(ArchiveError, match="not a zip"):
        target.import_task(io.BytesIO(content), BACKBONE)


def test_missing_file_is_refused(target, tmp_path):
    with pytest.raises(ArchiveError, match="no file"):
        target.import_task(tmp_path / "absent.zip", BACKBONE)


@pytest.mark.parametrize(
    "evil",
    [
        "../evil.txt",
        "model/../../evil.txt",
        "/tmp/evil.txt",
        "model/..\\..\\evil.txt",
        "C:/evil.txt",
        "model/./x",
    ],
)
def test_zip_slip_is_refused(target, tmp_path, evil, assert_clean):
    path = craft(tmp_path / "slip.zip", {"model/model.pt": b"ok", evil: b"pwned"})
    with pytest.raises(ArchiveError, match="outside the task folder"):
        target.import_task(path, BACKBONE)
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()
    assert target.list_tasks() == []
    assert_clean(target)


def test_crafted_valid_archive_imports(target, tmp_path):
    path = craft(tmp_path / "ok.zip", {"model/model.pt": b"weights", "model/sub/cfg.json": b"{}"})
    record = target.import_task(path, BACKBONE)
    assert record.name == "crafted" and set(record.files) == {"model.pt", "sub/cfg.json"}
    with pytest.raises(RegistryError, match="without its dataset"):
        target.get_dataset("crafted")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.update(format_version=99), "format version 99"),
        (lambda m: m.update(format="something-else"), "not a GATE task archive"),
        (lambda m: m.pop("members"), "members"),
        (lambda m: m["members"].update({"model/ghost.bin": "0" * 64}), "missing model/ghost.bin"),
        (lambda m: m["members"].pop("model/config.json"), "does not list: model/config.json"),
        (lambda m: m["members"].update({"model/config.json": "xyz"}), "does not match"),
        (lambda m: m["task"].update(task_type="ranking"), "task_type.*ranking"),
        (lambda m: m["task"].update(name="../etc"), "'/'"),
    ],
)
def test_bad_manifest_is_refused(exported, target, tmp_path, edit, message):
    bad = rewrite(exported, tmp_path / "bad.zip", manifest_change=edit)
    with pytest.raises(RegistryError, match=message):
        target.import_task(bad, BACKBONE)
    assert target.list_tasks() == []


def test_missing_or_unparseable_manifest(exported, target, tmp_path):
    no_manifest = tmp_path / "no_manifest.zip"
    with zipfile.ZipFile(exported) as zin, zipfile.ZipFile(no_manifest, "w") as zout:
        for info in zin.infolist():
            if info.filename != MANIFEST:
                zout.writestr(info.filename, zin.read(info))
    with pytest.raises(ArchiveError, match="no manifest.json"):
        target.import_task(no_manifest, BACKBONE)
    broken = tmp_path / "broken_manifest.zip"
    with zipfile.ZipFile(exported) as zin, zipfile.ZipFile(broken, "w") as zout:
        for info in zin.infolist():
            zout.writestr(
                info.filename, b"{not json" if info.filename == MANIFEST else zin.read(info)
            )
    with pytest.raises(ArchiveError, match="cannot be parsed"):
        target.import_task(broken, BACKBONE)


def test_extra_and_duplicate_members_are_refused(exported, target, tmp_path):
    extra = rewrite(exported, tmp_path / "extra.zip", extra={"model/backdoor.py": b"import os"})
    with pytest.raises(ArchiveError, match="does not list"):
        target.import_task(extra, BACKBONE)
    with pytest.warns(UserWarning, match="Duplicate name"):
        dup = rewrite(exported, tmp_path / "dup.zip", extra={"model/config.json": b"{}"})
    with pytest.raises(ArchiveError, match="twice"):
        target.import_task(dup, BACKBONE)


# ---- untrusted archives (issue 14): schema, regular files, sizes, the caller's check -------------


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m["task"].update(sizes=[1, 2]), "task/sizes"),
        (lambda m: m["task"].update(sizes={"n_valid": "many"}), "task/sizes/n_valid"),
        (lambda m: m["task"].update(metrics={"test": [0.5]}), "task/metrics/test"),
        (lambda m: m["task"].update(metrics={"surprise": 1}), "task/metrics.*surprise"),
        (lambda m: m["task"].update(ratios={"logP": 0.4}), "task/ratios/logP"),
        (lambda m: m["task"].update(unit=["a"]), "task/unit"),
        (lambda m: m["task"].update(unit="x" * 101), "task/unit"),
        (lambda m: m["task"].update(extra_field=1), "extra_field"),
        (lambda m: m["task"].update(status="training"), "task/status"),
        (lambda m: m.update(signed_by="me"), "signed_by"),
        (lambda m: m.update(backbone_id=7), "backbone_id"),
    ],
    ids=[
        "sizes-list",
        "sizes-text",
        "metrics-list",
        "metrics-unknown-key",
        "ratios-number",
        "unit-list",
        "unit-too-long",
        "task-unknown-key",
        "status",
        "manifest-unknown-key",
        "backbone-number",
    ],
)
def test_every_manifest_field_is_checked_against_the_schema(
    exported, target, tmp_path, edit, message, assert_clean
):
    bad = rewrite(exported, tmp_path / "bad.zip", manifest_change=edit)
    with pytest.raises(ArchiveError, match=f"manifest.json is not valid: field .*{message}"):
        target.import_task(bad, BACKBONE)
    assert target.list_tasks(include_broken=True) == []
    assert_clean(target)


def _with_mode(src: Path, dst: Path, member: str, mode: int) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename == member:
                info.external_attr = mode << 16
            zout.writestr(info, zin.read(info))
    return dst


def test_symlink_member_is_refused(exported, target, tmp_path, assert_clean):
    link = _with_mode(exported, tmp_path / "link.zip", "model/config.json", 0o120777)
    with pytest.raises(ArchiveError, match="'model/config.json' is not a regular file"):
        target.import_task(link, BACKBONE)
    assert_clean(target)


def test_folder_entry_is_refused(exported, target, tmp_path):
    folder = rewrite(exported, tmp_path / "folder.zip", extra={"model/": b""})
    with pytest.raises(ArchiveError, match="not a regular file"):
        target.import_task(folder, BACKBONE)


def test_member_and_total_size_limits_use_declared_sizes(exported, target, monkeypatch):
    from gate_core import limits

    monkeypatch.setattr(limits, "MAX_ARCHIVE_MEMBER_BYTES", 2_000)
    with pytest.raises(
        ArchiveError,
        match="'model/model.safetensors' unpacks to 0.0 MiB; the limit is 0.0 MiB per file",
    ):
        target.import_task(exported, BACKBONE)
    monkeypatch.setattr(limits, "MAX_ARCHIVE_MEMBER_BYTES", 1 << 20)
    monkeypatch.setattr(limits, "MAX_ARCHIVE_TOTAL_BYTES", 2_000)
    with pytest.raises(ArchiveError, match="unpacks to 0.0 MiB; the limit is 0.0 MiB"):
        target.import_task(exported, BACKBONE)
    assert target.list_tasks() == []


def _understate_size(path: Path, member: str, declared: int) -> None:
    """Patch the uncompressed size of ``member`` in both zip headers (a zip bomb's lie)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    data[info.header_offset + 22 : info.header_offset + 26] = declared.to_bytes(4, "little")
    central = (
        data.rindex(member.encode()) - 46
    )  # the central directory entry's fixed part precedes its name
    assert data[central : central + 4] == b"PK\x01\x02"
    data[central + 24 : central + 28] = declared.to_bytes(4, "little")
    path.write_bytes(bytes(data))


def test_member_that_unpacks_to_more_than_it_declares_is_refused(
    registry, make_record, dataset, target, tmp_path, assert_clean
):
    registry.register_task(make_record(), {"model.safetensors": b"\0" * 200_000}, dataset)
    bomb = tmp_path / "bomb.zip"
    registry.export_task("logS", bomb)
    _understate_size(bomb, "model/model.safetensors", 1_000)
    with pytest.raises(ArchiveError):
        target.import_task(bomb, BACKBONE)
    assert target.list_tasks() == []
    assert_clean(target)


def test_refusal_by_the_callers_check_leaves_nothing_behind(exported, target, assert_clean):
    seen = {}

    def check(model_dir: Path, dataset: Path | None, record) -> None:
        seen["files"] = sorted(p.name for p in model_dir.rglob("*") if p.is_file())
        seen["dataset"] = dataset.name
        raise ArchiveError(f"trial prediction of {record.name} failed")

    with pytest.raises(ArchiveError, match="trial prediction of logS failed"):
        target.import_task(exported, BACKBONE, check=check)
    assert (
        seen["files"] == ["config.json", "head_0.pt", "model.safetensors"]
        and seen["dataset"] == "dataset.csv"
    )
    assert target.list_tasks(include_broken=True) == []
    assert_clean(target)
