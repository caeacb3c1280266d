"""Seeded fuzz of uploads and task archives against the API and the CLI (issue 14).

For every generated input: no traceback and no crash (a native crash would take this process
down), a refusal is one line with exit status 2, every row of a readable table comes back (kept
or listed with its reason), and a refused archive leaves the registry exactly as it was.

Fast by design: the CLI runs in this process (``gate_core.cli.main``) on one shared data folder
with the backbone loaded once; only two cases start the real command, for its exit status and
its stderr. Measured (``pytest tests/fuzz -q``, 183 tests): 5 min 24 s wall on the shared 2-core
machine at load average 10.5, but 79 s of CPU in all its processes together, 87 s of the wall
time being the tiny backbone's pre-training (shared with every other test in a full run).
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

from gate_core import limits
from gate_core.cli import main
from gate_core.data.io import TableReadError, detect_smiles_column, read_table
from gate_core.data.untrusted import parse_isolated
from gate_core.featurizers.molecule import parse_smiles
from gate_core.isolation import IsolatedWorker
from gate_core.registry import RegistryError, TaskExistsError
from gate_core.transfer.upload import validate_upload

from .cases import (
    GIANT,
    MOLECULES,
    BadArchive,
    Upload,
    issue_archives,
    issue_uploads,
    random_archives,
    random_uploads,
)

UPLOADS = [*issue_uploads(), *random_uploads(120)]
CLI_EVERY = 6  # every 6th upload also goes through the CLI
ROOT = Path(__file__).resolve().parents[2]
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
    studio.add_task(
        frame,
        "smiles",
        "value",
        "good",
        unit="kcal/mol",
        config=TaskAdditionConfig(ensemble=1, max_steps=10, warmup_steps=2, eval_every=5),
    )
    buffer = io.BytesIO()
    studio.registry.export_task("good", buffer)
    return buffer.getvalue()


class InProcessCLI:
    """``cli(*argv) -> (exit status, stdout, stderr)`` of :func:`gate_core.cli.main`, run here.

    Every call uses the API cases' backbone and data folder, and ``gate_core.cli._studio`` hands
    out their :class:`GateStudio`: the backbone is loaded, and its calibration computed, once for
    all cases instead of once per call.
    """

    def __init__(self, backbone: Path, studio) -> None:
        self.common = ["--backbone", str(backbone), "--data-dir", str(studio.registry.data_dir)]
        self.studio = studio

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([*argv, *self.common])
        return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def cli(tiny_backbone, studio):
    from gate_core import cli as cli_module

    runner = InProcessCLI(tiny_backbone, studio)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli_module, "_studio", lambda args: runner.studio)
        patch.setenv("GATE_WORKERS", "0")  # no featurisation processes for kilobyte files
        yield runner


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
        assert (
            np.isfinite(report.values).all()
            and (np.abs(report.values) <= limits.MAX_ABS_LABEL).all()
        )


def test_isolated_parsing_agrees_with_parsing_here():
    """What the app's worker process returns for every cell of every upload is what parsing
    here gives (the server relies on it: rows, reasons and canonical SMILES must not change)."""
    cells = list(dict.fromkeys(str(c) for u in UPLOADS for c in _cells(u)))
    worker = IsolatedWorker(preload=("gate_core.data.untrusted",))
    try:
        isolated = parse_isolated(cells, worker)
    finally:
        worker.close()
    here = [parse_smiles(c) for c in cells]
    assert len(cells) > 500
    assert [(p.smiles, p.error, p.note) for p in isolated] == [
        (p.smiles, p.error, p.note) for p in here
    ]


def _cells(upload: Upload) -> list[object]:
    try:
        frame = read_table(upload.data, upload.filename, sheet=upload.sheet)
    except TableReadError:
        return []
    return frame.to_numpy().ravel().tolist()


@pytest.mark.parametrize("upload", UPLOADS[::CLI_EVERY], ids=[u.name for u in UPLOADS[::CLI_EVERY]])
def test_upload_through_the_cli(cli, tmp_path, upload: Upload):
    data = tmp_path / upload.filename
    data.write_bytes(upload.data)
    out = tmp_path / "predictions.csv"
    sheet = ["--sheet", upload.sheet] if upload.sheet else []
    code, _, err = cli("predict", "--data", str(data), *sheet, "--tasks", "Tb_K", "--out", str(out))
    assert "Traceback" not in err
    assert code in (0, 2)
    if code == 2:
        assert err.startswith("error: ") and not out.exists()  # nothing written on refusal
    else:
        text = out.read_text()
        assert "\n=" not in text and ",=" not in text and "\n@" not in text  # formulas neutralised


def test_giant_smiles_through_the_cli(cli):
    code, out, _ = cli("predict", "--smiles", GIANT, *MOLECULES[:3], "--tasks", "Tb_K")
    assert code == 0 and "20,000 characters; the limit is 10,000" in out


def test_a_slow_file_is_refused_within_the_read_bound(cli, tmp_path, monkeypatch):
    monkeypatch.setenv(limits.READ_SECONDS_ENV, "0.2")
    block = Chem.MolToMolBlock(Chem.MolFromSmiles("c1ccccc1CCO")) + ">  <value>\n1.5\n\n$$$$\n"
    data = tmp_path / "slow.sdf"
    data.write_text(block * 19_000)  # ~20 s of RDKit without the bound
    code, _, err = cli("predict", "--data", str(data), "--tasks", "Tb_K")
    assert (
        code == 2
        and err.startswith("error: ")
        and "took more than 0.2 s" in err
        and err.count("\n") == 1
    )


def test_the_real_command_exits_cleanly(cli, tmp_path):
    """Two true subprocesses: the giant molecule is one invalid row (exit 0, no signal 11), and
    a refused file is one line on stderr with exit status 2 and no output file. They share the
    in-process cases' data folder, whose backbone calibration is already computed."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GATE_THREADS": "1", "GATE_WORKERS": "0"}
    common = cli.common

    def command(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "gate_core", *argv, *common],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=600,
        )

    giant = command("predict", "--smiles", GIANT, "CCO", "--tasks", "Tb_K")
    assert (
        giant.returncode == 0
        and "20,000 characters" in giant.stdout
        and "Traceback" not in giant.stderr
    )
    binary, out = tmp_path / "binary.csv", tmp_path / "predictions.csv"
    binary.write_bytes(bytes(range(256)) * 16)
    refused = command("predict", "--data", str(binary), "--tasks", "Tb_K", "--out", str(out))
    assert (
        refused.returncode == 2
        and refused.stderr.startswith("error: ")
        and refused.stderr.count("\n") == 1
    )
    assert not out.exists()


def test_backbone_name_in_any_case_is_refused_at_add_task(studio):
    name = studio.backbone.task_names[0]
    for spelling in (name, name.lower(), name.upper(), name.swapcase()):
        with pytest.raises(TaskExistsError, match="source property"):
            studio.add_task(
                pd.DataFrame({"smiles": MOLECULES, "value": range(len(MOLECULES))}),
                "smiles",
                "value",
                spelling,
            )


def _registry_state(studio) -> tuple:
    data_dir = studio.registry.data_dir
    folders = (
        sorted(p.relative_to(data_dir).as_posix() for p in (data_dir / "tasks").rglob("*"))
        if (data_dir / "tasks").is_dir()
        else []
    )
    tasks = sorted(
        (r.name, r.model_dir, r.dataset_hash)
        for r in studio.registry.list_tasks(include_broken=True)
    )
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
    assert (
        len(archives) - len(accepted) >= 40
    )  # most random damage is refused; what is accepted works
    assert (
        studio.predict(["CCO"]).shape[0] == 1
    )  # the default prediction of all tasks still answers


#: The issue's archives through the CLI (the two that need lowered limits go through the API).
ISSUE_ARCHIVES = [
    "sizes-wrong-type",
    "metrics-wrong-type",
    "unit-not-text",
    "task-json-extra-keyword",
    "task-json-missing-key",
    "task-json-4tb-allocation",
    "symlink-member",
    "backbone-name",
    "backbone-name-other-case",
]


@pytest.mark.parametrize("name", ISSUE_ARCHIVES)
def test_archives_through_the_cli(cli, studio, good_archive, tmp_path, name):
    archive = next(
        a for a in issue_archives(good_archive, studio.backbone.task_names[0]) if a.name == name
    )
    path = tmp_path / "task.gatetask"
    path.write_bytes(archive.data)
    before = _registry_state(cli.studio)
    code, _, err = cli("import", str(path), "--name", archive.import_name or "imported")
    assert (
        code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    )
    assert _registry_state(cli.studio) == before  # nothing written on refusal
    code, _, err = cli("list")
    assert code == 0 and "Traceback" not in err
