"""Task addition end to end through the CLI: add-task → list → predict → export/import → remove."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gate_core.cli import main

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "tests" / "data" / "target_tiny.csv"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def backbone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bb") / "backbone"
    config = tmp_path_factory.mktemp("cfg") / "small.json"
    config.write_text(
        json.dumps({"hidden": 32, "depth": 2, "latent_dim": 8, "task_hidden": 16, "threads": 1})
    )
    assert (
        main(
            [
                "pretrain",
                "--config",
                str(config),
                "--table",
                str(ROOT / "tests/data/pretrain_tiny.csv.gz"),
                "--out",
                str(out),
                "--epochs",
                "2",
                "--quiet",
            ]
        )
        == 0
    )
    return out


def _common(backbone: Path, data_dir: Path) -> list[str]:
    return ["--backbone", str(backbone), "--data-dir", str(data_dir)]


def test_add_task_predict_export_import_remove(
    backbone: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    common = _common(backbone, tmp_path / "registry")
    data = tmp_path / "with_bad_rows.csv"
    frame = pd.read_csv(TARGET)
    frame.loc[0, "smiles"] = "not-a-smiles"
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
                "hydration",
                "--unit",
                "kcal/mol",
                "--ensemble",
                "2",
                "--pin",
                "Tb_K=0.5",
                "--model",
                "gate",
                "--quiet",
                *common,
            ]
        )
        == 0
    )
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["task"] == "hydration" and summary["type"] == "regression"
    assert (
        summary["model"] == "gate"
        and set(summary["out_of_fold_metrics"]) >= {"gate", "probe"}
        and summary["recommended"] in summary["out_of_fold_metrics"]
    )
    assert (
        summary["sizes"]["n_test"] == 0 and summary["test_metrics"] is None
    )  # every molecule trains by default
    assert summary["sizes"]["n_invalid"] == 1
    assert "row 1: skipped" in err  # the bad row is reported by its row number

    assert main(["list", *common]) == 0
    assert "hydration\tregression\tkcal/mol\tready" in capsys.readouterr().out

    queries = tmp_path / "queries.csv"
    queries.write_text("smiles\nCCO\nxx\nc1ccccc1O\n")
    preds_path = tmp_path / "preds.csv"
    assert (
        main(
            [
                "predict",
                "--data",
                str(queries),
                "--tasks",
                "hydration,Tb_K",
                "--out",
                str(preds_path),
                *common,
            ]
        )
        == 0
    )
    preds = pd.read_csv(preds_path)
    assert len(preds) == 3  # invalid row kept, not dropped
    assert preds["error"].notna().tolist() == [False, True, False]
    assert preds.loc[[0, 2], "hydration"].notna().all() and pd.isna(preds.loc[1, "hydration"])
    assert (preds.loc[[0, 2], "hydration_std"] > 0).all()
    ok = preds.loc[[0, 2]]
    assert (ok["hydration_lo90"] < ok["hydration"]).all() and (
        ok["hydration"] < ok["hydration_hi90"]
    ).all()
    assert (ok["Tb_K_lo90"] < ok["Tb_K"]).all() and (
        ok["Tb_K"] < ok["Tb_K_hi90"]
    ).all()  # backbone properties too
    assert set(ok["hydration_domain"]) <= {"inside", "near the edge", "outside the training data"}

    assert main(["choose-model", "hydration", "probe", *common]) == 0
    assert "now predicts with 'probe'" in capsys.readouterr().out
    probe_path = tmp_path / "preds_probe.csv"
    assert (
        main(
            [
                "predict",
                "--data",
                str(queries),
                "--tasks",
                "hydration",
                "--out",
                str(probe_path),
                *common,
            ]
        )
        == 0
    )
    assert not np.allclose(
        pd.read_csv(probe_path).loc[[0, 2], "hydration"], preds.loc[[0, 2], "hydration"]
    )
    assert main(["choose-model", "hydration", "gate", *common]) == 0

    archive = tmp_path / "hydration.gatetask"
    assert main(["export", "hydration", "--out", str(archive), *common]) == 0
    other = _common(backbone, tmp_path / "other_registry")
    assert main(["import", str(archive), *other]) == 0
    preds_other = tmp_path / "preds_other.csv"
    assert (
        main(
            [
                "predict",
                "--data",
                str(queries),
                "--tasks",
                "hydration",
                "--out",
                str(preds_other),
                *other,
            ]
        )
        == 0
    )
    pd.testing.assert_series_equal(pd.read_csv(preds_other)["hydration"], preds["hydration"])

    assert main(["remove", "hydration", *common]) == 0
    capsys.readouterr()
    assert main(["show", "hydration", *common]) == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--smiles-col", "nope", "--target-col", "value", "--name", "t"],
            "column 'nope' not found",
        ),
        (
            ["--smiles-col", "smiles", "--target-col", "value", "--name", "../evil"],
            "must not contain",
        ),
        (
            ["--smiles-col", "smiles", "--target-col", "value", "--name", "t", "--pin", "Tb_K"],
            "--pin expects",
        ),
        (
            [
                "--smiles-col",
                "smiles",
                "--target-col",
                "value",
                "--name",
                "t",
                "--exclude",
                "nosuch",
            ],
            "unknown source task",
        ),
        (  # refused by the library's config check, never "exclude wins silently"
            [
                "--smiles-col",
                "smiles",
                "--target-col",
                "value",
                "--name",
                "t",
                "--pin",
                "Tb_K=0.5",
                "--exclude",
                "Tb_K",
            ],
            "a source cannot be both pinned and excluded: Tb_K",
        ),
        (["--smiles-col", "smiles", "--target-col", "value", "--name", "Tb_K"], "source property"),
    ],
)
def test_add_task_bad_input_is_one_line_error(
    backbone: Path, tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str], message: str
) -> None:
    code = main(
        [
            "add-task",
            "--data",
            str(TARGET),
            *args,
            "--ensemble",
            "1",
            "--quiet",
            *_common(backbone, tmp_path / "r"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err


def test_add_task_rejects_non_table_and_too_few_rows(
    backbone: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"\x00\x01\x02\xff" * 50)
    assert (
        main(
            [
                "add-task",
                "--data",
                str(garbage),
                "--smiles-col",
                "smiles",
                "--target-col",
                "value",
                "--name",
                "g",
                "--quiet",
                *_common(backbone, tmp_path / "r"),
            ]
        )
        == 2
    )
    assert "error:" in capsys.readouterr().err
    few = tmp_path / "few.csv"
    pd.read_csv(TARGET).head(8).to_csv(few, index=False)
    assert (
        main(
            [
                "add-task",
                "--data",
                str(few),
                "--smiles-col",
                "smiles",
                "--target-col",
                "value",
                "--name",
                "few",
                "--quiet",
                *_common(backbone, tmp_path / "r"),
            ]
        )
        == 2
    )
    assert "at least 20" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("header", "filename", "listed"),
    [
        ("logS (mol/L)", "solubility.csv", "logS\tregression\tmol/L"),
        ("value", "Hydration energy.csv", "Hydration_energy\tregression\t"),
    ],
)
def test_add_task_names_the_task_from_the_header_as_the_app_does(
    backbone: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    header: str,
    filename: str,
    listed: str,
) -> None:
    data = tmp_path / filename
    pd.read_csv(TARGET).rename(columns={"value": header}).to_csv(data, index=False)
    common = _common(backbone, tmp_path / "r")
    args = ["add-task", "--data", str(data), "--smiles-col", "smiles", "--target-col", header]
    assert main([*args, "--ensemble", "1", "--max-steps", "5", "--quiet", *common]) == 0
    assert f"task name {listed.split(chr(9))[0]!r}" in capsys.readouterr().err
    assert main(["list", *common]) == 0
    assert listed in capsys.readouterr().out
