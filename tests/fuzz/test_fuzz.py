"""Seeded fuzz of uploads and task archives against the API and the CLI (issue 14).

For every generated input: no traceback and no crash (a native crash would take this process
down), a refusal is one line with exit status 2, every row of a readable table comes back (kept
or listed with its reason), and a refused archive leaves the registry exactly as it was.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gate_core import limits
from gate_core.cli import main
from gate_core.data.io import TableReadError, detect_smiles_column, read_table
from gate_core.registry import RegistryError, TaskExistsError
from gate_core.transfer.upload import validate_upload

from .cases import GIANT, MOLECULES, BadArchive, Upload, issue_archives, issue_uploads, random_archives, random_uploads

UPLOADS = [*issue_uploads(), *random_uploads(120)]
CLI_EVERY = 12  # every 12th upload also goes through the CLI (each call loads the backbone: seconds)
N_RANDOM_ARCHIVES = 60


@pytest.fixture(scope="module")
def studio(tiny_backbone, tmp_path_factory):
    from gate_core.api import GateStudio

    return GateStudio(tiny_backbone, tmp_path_factory.mktemp("fuzz_registry"))


@pytest.fixture(scope="module")
def good_archive(studio, tmp_path_factory) -> bytes:
    """A real export of a trained task (ensemble of 1, a few steps: seconds)."""
    from gate_core.transfer.addition import TaskAdditionConfig

    frame = pd.read_csv(Path(__file__).resolve().parents[1] / "data" / "target_tiny.csv")
    studio.add_task(frame, "smiles", "value", "good", unit="kcal/mol", config=TaskAdditionConfig(ensemble=1, max_steps=10, warmup_steps=2, eval_every=5))
    buffer = io.BytesIO()
    studio.registry.export_task("good", buffer)
    return buffer.getvalue()


def _smiles_column(frame) -> str | None:
    return "smiles" if "smiles" in frame.columns else detect_smiles_column(frame)


@pytest.mark.parametrize("upload", UPLOADS, ids=[u.name for u in UPLOADS])
def test_upload_through_the_api(studio, upload: Upload):
    try:
        frame = read_table(upload.data, upload.filename, sheet=upload.sheet)
    except TableReadError as exc:
        assert upload.refused is not False and "\n" not in str(exc)
        return
    assert upload.refused is not True, f"{upload.name} should have been refused"
    column = _smiles_column(frame)
    if upload.molecules is not None:
        assert column is not None
    if column is None:
        return
    smiles = frame[column].tolist()
    predictions = studio.predict(smiles, tasks=[studio.backbone.task_names[0]])
    assert len(predictions) == len(frame)  # every row kept, in order
    kept = predictions["error"].isna()
    assert np.isfinite(predictions.loc[kept, studio.backbone.task_names[0]]).all()
    assert predictions.loc[~kept, "error"].str.len().gt(0).all()  # every other row says why
    if upload.molecules is not None:
        assert int(kept.sum()) == upload.molecules
    targets = [c for c in frame.columns if c != column]
    if targets:
        report = validate_upload(frame, column, targets[0])
        assert report.n_valid + len(report.invalid) + report.n_duplicates_merged == len(frame)
        assert np.isfinite(report.values).all() and (np.abs(report.values) <= limits.MAX_ABS_LABEL).all()


@pytest.mark.parametrize("upload", UPLOADS[::CLI_EVERY], ids=[u.name for u in UPLOADS[::CLI_EVERY]])
def test_upload_through_the_cli(tiny_backbone, tmp_path, capsys, upload: Upload):
    data = tmp_path / upload.filename
    data.write_bytes(upload.data)
    out = tmp_path / "predictions.csv"
    sheet = ["--sheet", upload.sheet] if upload.sheet else []
    code = main(["predict", "--data", str(data), *sheet, "--tasks", "Tb_K", "--out", str(out), "--backbone", str(tiny_backbone), "--data-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert code in (0, 2)
    if code == 2:
        assert err.startswith("error: ") and not out.exists()  # nothing written on refusal
    else:
        text = out.read_text()
        assert "\n=" not in text and ",=" not in text and "\n@" not in text  # formulas neutralised


def test_giant_smiles_through_the_cli(tiny_backbone, tmp_path, capsys):
    assert main(["predict", "--smiles", GIANT, *MOLECULES[:3], "--tasks", "Tb_K", "--backbone", str(tiny_backbone), "--data-dir", str(tmp_path)]) == 0
    assert "20,000 characters; the limit is 10,000" in capsys.readouterr().out


def test_backbone_name_in_any_case_is_refused_at_add_task(studio):
    name = studio.backbone.task_names[0]
    for spelling in (name, name.lower(), name.upper(), name.swapcase()):
        with pytest.raises(TaskExistsError, match="source property"):
            studio.add_task(pd.DataFrame({"smiles": MOLECULES, "value": range(len(MOLECULES))}), "smiles", "value", spelling)


def _registry_state(studio) -> tuple:
    data_dir = studio.registry.data_dir
    folders = sorted(p.relative_to(data_dir).as_posix() for p in (data_dir / "tasks").rglob("*")) if (data_dir / "tasks").is_dir() else []
    tasks = sorted((r.name, r.model_dir, r.dataset_hash) for r in studio.registry.list_tasks(include_broken=True))
    return tuple(tasks), tuple(folders), tuple((data_dir / "tmp").iterdir())


def _archives(good: bytes, backbone_task: str) -> list[BadArchive]:
    return [*issue_archives(good, backbone_task), *random_archives(good, N_RANDOM_ARCHIVES)]


def _try_import(studio, archive: BadArchive, name: str, monkeypatch) -> bool:
    """Import ``archive``; ``True`` if it was accepted (then it must be usable), ``False`` if refused."""
    for key, value in archive.limits.items():
        monkeypatch.setattr(limits, key, value)
    before = _registry_state(studio)
    try:
        record = studio.import_task(io.BytesIO(archive.data), name=archive.import_name or name)
    except (RegistryError, ValueError) as exc:
        assert "\n" not in str(exc)
        assert _registry_state(studio) == before  # a refused archive leaves nothing behind
        return False
    out = studio.predict(MOLECULES[:3], tasks=[record.name])
    assert np.isfinite(out[record.name]).all()
    assert record.name in {r.name for r in studio.added_tasks()} and not studio.unusable_tasks()
    studio.registry.remove_task(record.name)
    return True


def test_archives_through_the_api(studio, good_archive, monkeypatch):
    archives = _archives(good_archive, studio.backbone.task_names[0])
    accepted = set()
    for i, archive in enumerate(archives):
        if _try_import(studio, archive, f"imported_{i}", monkeypatch):
            accepted.add(archive.name)
        monkeypatch.undo()  # the archive's limit overrides
    issue = {a.name for a in issue_archives(good_archive, studio.backbone.task_names[0])}
    assert not accepted & issue, f"issue archives accepted: {accepted & issue}"
    assert len(archives) - len(accepted) >= 40  # most random damage is refused; what is accepted works
    assert studio.predict(["CCO"]).shape[0] == 1  # the default prediction of all tasks still answers


@pytest.mark.parametrize("index", [0, 5, 9], ids=["sizes-wrong-type", "4tb", "backbone-name"])
def test_archives_through_the_cli(tiny_backbone, studio, good_archive, tmp_path, capsys, index):
    archive = _archives(good_archive, studio.backbone.task_names[0])[index]
    path = tmp_path / "task.gatetask"
    path.write_bytes(archive.data)
    common = ["--backbone", str(tiny_backbone), "--data-dir", str(tmp_path / "r")]
    code = main(["import", str(path), *(["--name", archive.import_name] if archive.import_name else []), *common])
    err = capsys.readouterr().err
    assert code in (0, 2) and "Traceback" not in err
    if index < 11:  # every archive the issue reported is refused
        assert code == 2 and err.startswith("error: ")
    assert main(["list", *common]) == 0  # predictions after a refusal are checked through the API above
