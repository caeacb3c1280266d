"""Hostile and careless input through the CLI (issue 14): nothing crashes, nothing is lost, a
broken task never takes the others down, and what is written is safe to open."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from gate_core.cli import main
from gate_core.registry import TaskRegistry

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "tests" / "data" / "target_tiny.csv"
GIANT = "C" * 20_000  # RDKit's canonical SMILES writer overflowed the stack on it (signal 11)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registry(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """CLI options of a registry holding one trained task, ``good``."""
    common = [
        "--backbone",
        str(tiny_backbone),
        "--data-dir",
        str(tmp_path_factory.mktemp("registry")),
    ]
    assert (
        main(
            [
                "add-task",
                "--data",
                str(TARGET),
                "--smiles-col",
                "smiles",
                "--target-col",
                "value",
                "--name",
                "good",
                "--ensemble",
                "2",
                "--quiet",
                *common,
            ]
        )
        == 0
    )
    return common


def _run(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "gate_core", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_giant_molecule_is_refused_per_row_and_the_process_lives(registry, tmp_path):
    done = _run(["predict", "--smiles", GIANT, "CCO", "--tasks", "good", *registry])
    assert done.returncode == 0, done.stderr[-2000:]
    assert (
        "20,000 characters; the limit is 10,000" in done.stdout and "Traceback" not in done.stderr
    )
    data = tmp_path / "queries.csv"
    data.write_text(f"smiles\nCCO\n{GIANT}\nc1ccccc1O\n")
    out = tmp_path / "preds.csv"
    assert (
        main(["predict", "--data", str(data), "--tasks", "good", "--out", str(out), *registry]) == 0
    )
    preds = pd.read_csv(out)
    assert len(preds) == 3 and preds["error"].notna().tolist() == [False, True, False]


def test_add_task_skips_the_giant_row_by_number(registry, tmp_path, capsys):
    frame = pd.read_csv(TARGET)
    frame.loc[4, "smiles"] = GIANT
    data = tmp_path / "giant.csv"
    frame.to_csv(data, index=False)
    assert (
        main(
            [
                "add-task",
                "--data",
                str(data),
                "--smiles-col",
                "smiles",
                "--target-col",
                "value",
                "--name",
                "with_giant",
                "--ensemble",
                "1",
                "--quiet",
                *registry,
            ]
        )
        == 0
    )
    assert "row 5: skipped (SMILES has 20,000 characters" in capsys.readouterr().err


def test_labels_beyond_float32_never_make_a_ready_task(registry, tmp_path, capsys):
    frame = pd.read_csv(TARGET)
    frame["value"] = frame["value"].astype(object)
    frame.loc[:9, "value"] = ["1e39", "1e308", "-1e30", "inf"] * 2 + ["1e39", "1e39"]
    data = tmp_path / "huge.csv"
    frame.to_csv(data, index=False)
    assert (
        main(
            [
                "add-task",
                "--data",
                str(data),
                "--smiles-col",
                "smiles",
                "--target-col",
                "value",
                "--name",
                "huge",
                "--ensemble",
                "1",
                "--quiet",
                *registry,
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert err.count("beyond ±1e+15") == 8 and "row 8: skipped (value 'inf' is not finite)" in err
    out = tmp_path / "preds.csv"
    assert (
        main(
            [
                "predict",
                "--smiles",
                "CCO",
                "c1ccccc1O",
                "--tasks",
                "huge",
                "--out",
                str(out),
                *registry,
            ]
        )
        == 0
    )
    assert pd.read_csv(out)["huge"].notna().all()


@pytest.mark.parametrize("name", ["tb_k", "TB_K"])
def test_backbone_names_are_refused_in_any_case(registry, tmp_path, capsys, name):
    assert (
        main(
            [
                "add-task",
                "--data",
                str(TARGET),
                "--smiles-col",
                "smiles",
                "--target-col",
                "value",
                "--name",
                name,
                "--quiet",
                *registry,
            ]
        )
        == 2
    )
    assert "source property 'Tb_K'" in capsys.readouterr().err
    archive = tmp_path / "good.gatetask"
    assert main(["export", "good", "--out", str(archive), *registry]) == 0
    assert main(["import", str(archive), "--name", name, *registry]) == 2
    assert "source property 'Tb_K'" in capsys.readouterr().err


def _resign(src: Path, dst: Path, edit_member: str, edit) -> Path:
    """Rewrite one member and recompute the manifest's checksums, as anyone can."""
    with zipfile.ZipFile(src) as zin:
        members = {i.filename: zin.read(i) for i in zin.infolist()}
    members[edit_member] = edit(members[edit_member])
    manifest = json.loads(members.pop("manifest.json"))
    manifest["members"] = {n: hashlib.sha256(d).hexdigest() for n, d in members.items()}
    with zipfile.ZipFile(dst, "w") as zout:
        zout.writestr("manifest.json", json.dumps(manifest))
        for name, data in members.items():
            zout.writestr(name, data)
    return dst


def test_import_loads_the_model_and_refuses_a_resigned_bad_one(registry, tmp_path, capsys):
    archive = tmp_path / "good.gatetask"
    assert main(["export", "good", "--out", str(archive), *registry]) == 0

    def extra_keyword(data: bytes) -> bytes:
        meta = json.loads(data)
        meta["info"]["colour"] = "red"
        return json.dumps(meta).encode()

    bad = _resign(archive, tmp_path / "bad.gatetask", "model/task.json", extra_keyword)
    assert main(["import", str(bad), "--name", "resigned", *registry]) == 2
    assert "The archive's model cannot be used" in capsys.readouterr().err
    assert main(["list", *registry]) == 0
    assert "resigned" not in capsys.readouterr().out


def test_broken_task_in_the_registry_is_reported_and_skipped(
    tiny_backbone, registry, tmp_path, capsys
):
    data_dir = Path(registry[registry.index("--data-dir") + 1])
    common = ["--backbone", str(tiny_backbone), "--data-dir", str(tmp_path / "copy")]
    reg, copy = TaskRegistry(data_dir), TaskRegistry(tmp_path / "copy")
    good = reg.get_task("good")
    folder = reg.task_dir("good")
    copy.register_task(good, folder, reg.get_dataset("good"))
    # a record of the wrong shape (what older versions imported) and a model that no longer loads
    from dataclasses import replace

    copy.register_task(replace(good, name="bad_sizes", sizes=[1, 2]), folder)
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    meta = json.loads(files["task.json"])
    meta["info"]["colour"] = "red"
    copy.register_task(
        replace(good, name="bad_model"), {**files, "task.json": json.dumps(meta).encode()}
    )

    assert main(["list", *common]) == 0
    out = capsys.readouterr().out
    assert "good\tregression" in out and "bad_sizes\tunusable: field 'sizes'" in out
    assert main(["predict", "--smiles", "CCO", *common]) == 0
    captured = capsys.readouterr()
    assert "warning: skipped: task 'bad_model' cannot be used" in captured.err
    header = captured.out.splitlines()[0].split()
    assert "good" in header and "bad_model" not in header and "bad_sizes" not in header


def test_prediction_csv_cannot_run_formulas_and_keeps_negative_numbers(registry, tmp_path):
    data = tmp_path / "injection.csv"
    data.write_text(
        'smiles,note\nCCO,=cmd|\' /C calc\'!A0\n"=HYPERLINK(""http://x"")",@SUM(1)\nc1ccccc1O,-2\n'
    )
    out = tmp_path / "preds.csv"
    assert (
        main(
            ["predict", "--data", str(data), "--tasks", "good,logKow", "--out", str(out), *registry]
        )
        == 0
    )
    text = out.read_text()
    assert "'=HYPERLINK" in text and "\n=" not in text and ",=" not in text
    preds = pd.read_csv(out)
    assert preds["logKow"].dtype == float and preds["input"].iloc[1].startswith("'=")


def test_cli_honours_gate_max_rows(registry, monkeypatch, capsys):
    monkeypatch.setenv("GATE_MAX_ROWS", "10")
    assert main(["predict", "--data", str(TARGET), "--tasks", "good", *registry]) == 2
    assert "the limit is 10" in capsys.readouterr().err
