"""``predict --data … --out …`` streams a real file through worker processes: every row, in order,
the same numbers as an in-process prediction, any format, and shards that add up to one run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rdkit import Chem

from gate_core.cli import main
from gate_core.data.io import spreadsheet_safe
from gate_core.predictions import FROM_FILE, with_input_columns

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "tests" / "data" / "target_tiny.csv"
TASKS = "Tb_K,logKow"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny target set's molecules with invalid rows among them (60 + 4 rows)."""
    smiles = pd.read_csv(TARGET)["smiles"].tolist()
    smiles[5:5] = ["not-a-smiles", "=HYPERLINK(1)"]
    smiles[40:40] = ["", "C" * 20_000]
    path = tmp_path_factory.mktemp("lib") / "library.csv"
    pd.DataFrame({"smiles": smiles, "id": range(len(smiles))}).to_csv(path, index=False)
    return path


def _predict(backbone: Path, data: Path, out: Path, *args: str) -> None:
    common = ["--backbone", str(backbone), "--data-dir", str(out.parent / "registry")]
    assert (
        main(["predict", "--data", str(data), "--tasks", TASKS, "--out", str(out), *common, *args])
        == 0
    )


def test_streamed_rows_equal_an_in_process_prediction(
    tiny_backbone: Path, library: Path, tmp_path: Path, capsys
) -> None:
    from gate_core.api import GateStudio

    out = tmp_path / "preds.csv"
    _predict(tiny_backbone, library, out, "--workers", "2", "--chunk-rows", "16")
    assert (
        "wrote 64 rows" in capsys.readouterr().out and not out.with_name("preds.csv.part").exists()
    )
    frame = pd.read_csv(library, keep_default_na=False, dtype=str)
    smiles = frame["smiles"].tolist()
    studio = GateStudio(tiny_backbone, tmp_path / "registry")
    expected = tmp_path / "expected.csv"
    # as the Predict page shows it: the file's own columns (the id) first, then the predictions
    pred = with_input_columns(studio.predict(smiles, TASKS.split(",")), frame, "smiles")
    spreadsheet_safe(pred).to_csv(expected, index=False)
    assert out.read_text() == expected.read_text()  # the same rows, order, reasons and numbers
    preds = pd.read_csv(out)
    assert preds["error"].notna().tolist() == [
        s in ("not-a-smiles", "=HYPERLINK(1)", "", "C" * 20_000) for s in smiles
    ]
    assert "'=HYPERLINK(1)" in preds["input"].tolist()  # spreadsheet-safe


def test_shards_concatenate_to_one_run(tiny_backbone: Path, library: Path, tmp_path: Path) -> None:
    whole = tmp_path / "whole.csv"
    _predict(tiny_backbone, library, whole, "--workers", "0", "--chunk-rows", "10")
    parts = []
    for k in range(3):
        part = tmp_path / f"part{k}.csv"
        _predict(
            tiny_backbone,
            library,
            part,
            "--workers",
            "1",
            "--chunk-rows",
            "10",
            "--shard",
            f"{k}/3",
        )
        parts.append(pd.read_csv(part, dtype=str, keep_default_na=False))
    assert [len(p) for p in parts] == [20, 20, 24]  # 7 chunks of 10 rows: 2, 2 and 3 of them
    pd.testing.assert_frame_equal(
        pd.concat(parts, ignore_index=True), pd.read_csv(whole, dtype=str, keep_default_na=False)
    )
    # more shards than chunks: some get none, and write the header only
    empty = tmp_path / "empty.csv"
    _predict(
        tiny_backbone, library, empty, "--workers", "0", "--chunk-rows", "10", "--shard", "0/8"
    )
    assert empty.read_text().splitlines() == whole.read_text().splitlines()[:1]


def test_parquet_and_sdf_give_the_csv_predictions(tiny_backbone: Path, tmp_path: Path) -> None:
    smiles = pd.read_csv(TARGET)["smiles"].tolist()[:12]
    csv_path, parquet_path, sdf_path = (
        tmp_path / "m.csv",
        tmp_path / "m.parquet",
        tmp_path / "m.sdf",
    )
    pd.DataFrame({"smiles": smiles}).to_csv(csv_path, index=False)
    pq.write_table(pa.table({"smiles": smiles}), parquet_path, row_group_size=5)
    sdf_path.write_text(
        "".join(Chem.MolToMolBlock(Chem.MolFromSmiles(s)) + "$$$$\n" for s in smiles)
    )
    frames = {}
    for path in (csv_path, parquet_path, sdf_path):
        out = tmp_path / f"{path.suffix[1:]}.csv"
        _predict(tiny_backbone, path, out, "--workers", "1", "--chunk-rows", "4")
        frames[path.suffix] = pd.read_csv(out)
    pd.testing.assert_frame_equal(frames[".parquet"], frames[".csv"])
    value_columns = [
        c for c in frames[".csv"].columns if c not in ("input", "smiles", "error", "note")
    ]
    pd.testing.assert_frame_equal(frames[".sdf"][value_columns], frames[".csv"][value_columns])


def test_parquet_output_holds_the_csv_rows_and_values(
    tiny_backbone: Path, library: Path, tmp_path: Path
) -> None:
    csv_out, parquet_out = tmp_path / "preds.csv", tmp_path / "preds.parquet"
    for out in (csv_out, parquet_out):
        _predict(tiny_backbone, library, out, "--workers", "0", "--chunk-rows", "16")
    assert pq.ParquetFile(parquet_out).num_row_groups == 4  # 64 rows written 16 at a time
    preds = pd.read_parquet(parquet_out)
    # the same rows, columns, reasons and numbers; only the CSV's anti-formula quote differs
    assert spreadsheet_safe(preds).to_csv(index=False) == csv_out.read_text()
    assert "=HYPERLINK(1)" in preds["input"].tolist() and preds["error"].notna().sum() == 4
    schema = pq.read_schema(parquet_out)
    assert schema.field("Tb_K").type == pa.float64() and schema.field("error").type == pa.string()
    assert schema.field("Tb_K_in_domain").type == pa.bool_()
    # --smiles with --out writes the format of the suffix too
    few = tmp_path / "few.parquet"
    common = ["--backbone", str(tiny_backbone), "--data-dir", str(tmp_path / "registry")]
    assert main(["predict", "--smiles", "CCO", "C1CC", "--out", str(few), *common]) == 0
    assert pd.read_parquet(few)["error"].notna().tolist() == [False, True]


def test_parquet_read_and_written_in_chunks_equals_one_chunk(
    tiny_backbone: Path, tmp_path: Path
) -> None:
    """The first chunk holds invalid rows only (no in-domain flag to type the column by). Each
    chunk is one batch for the model, and float32 sums depend on the batch's size, so numbers
    agree to float32 rounding across chunk sizes (exactly with the same ``--chunk-rows``)."""
    smiles = ["not-a-smiles", "", *pd.read_csv(TARGET)["smiles"].tolist()[:10]]
    data = tmp_path / "m.parquet"
    pq.write_table(pa.table({"smiles": smiles}), data, row_group_size=5)
    small, whole = tmp_path / "small.parquet", tmp_path / "whole.parquet"
    _predict(tiny_backbone, data, small, "--workers", "1", "--chunk-rows", "2")
    _predict(tiny_backbone, data, whole, "--workers", "0", "--chunk-rows", "1000")
    assert pq.ParquetFile(small).num_row_groups == 6 and pq.ParquetFile(whole).num_row_groups == 1
    assert pq.read_schema(small).equals(pq.read_schema(whole))
    pd.testing.assert_frame_equal(pd.read_parquet(small), pd.read_parquet(whole), rtol=1e-4)
    assert pd.read_parquet(whole)["error"].notna().tolist() == [True, True, *[False] * 10]


def test_parquet_shards_concatenate_to_one_run(
    tiny_backbone: Path, library: Path, tmp_path: Path
) -> None:
    whole = tmp_path / "whole.parquet"
    _predict(tiny_backbone, library, whole, "--workers", "0", "--chunk-rows", "10")
    parts = []
    for k in range(3):
        part = tmp_path / f"part{k}.parquet"
        args = ("--workers", "0", "--chunk-rows", "10", "--shard", f"{k}/3")
        _predict(tiny_backbone, library, part, *args)
        assert pq.read_schema(part).equals(pq.read_schema(whole))
        parts.append(pd.read_parquet(part))
    assert [len(p) for p in parts] == [20, 20, 24]
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), pd.read_parquet(whole))
    empty = tmp_path / "empty.parquet"  # more shards than chunks: no rows, the same columns
    _predict(
        tiny_backbone, library, empty, "--workers", "0", "--chunk-rows", "10", "--shard", "0/8"
    )
    assert pq.read_schema(empty).equals(pq.read_schema(whole)) and len(pd.read_parquet(empty)) == 0


def test_the_files_own_columns_keep_their_parquet_types_in_every_chunk(
    tiny_backbone: Path, tmp_path: Path
) -> None:
    """An ID, a name blank in the first chunk, a measured value, and a column named like a
    predicted task (kept as "<name> (from file)") come out beside the predictions, typed as in
    the input, whatever a chunk holds."""
    smiles = pd.read_csv(TARGET)["smiles"].tolist()[:9]
    table = pa.table(
        {
            "compound_id": pa.array(range(100, 109), pa.int64()),
            "smiles": smiles,
            "name": [None, None, None, "x", None, "y", "z", None, "w"],
            "assay_uM": pa.array([0.5, None, 2.0, 1.0, None, 3.0, 4.0, 5.0, 6.0], pa.float32()),
            "Tb_K_in_domain": [300.0, None, 310.0, None, None, None, None, None, 320.0],
        }
    )
    data = tmp_path / "typed.parquet"
    pq.write_table(table, data, row_group_size=4)
    chunked, whole = tmp_path / "chunked.parquet", tmp_path / "whole.parquet"
    _predict(tiny_backbone, data, chunked, "--workers", "0", "--chunk-rows", "3")
    _predict(tiny_backbone, data, whole, "--workers", "0", "--chunk-rows", "100")
    schema = pq.read_schema(chunked)
    assert schema.names[:4] == ["compound_id", "name", "assay_uM", f"Tb_K_in_domain{FROM_FILE}"]
    assert [schema.field(i).type for i in range(4)] == [
        pa.int64(),
        pa.string(),
        pa.float32(),
        pa.float64(),
    ]
    assert schema.field("Tb_K_in_domain").type == pa.bool_()  # the prediction's, not the file's
    assert schema.equals(pq.read_schema(whole))
    got = pq.read_table(chunked)
    for column in ("compound_id", "name", "assay_uM"):
        assert got.column(column).to_pylist() == table.column(column).to_pylist()
    assert (
        got.column(f"Tb_K_in_domain{FROM_FILE}").to_pylist()
        == table.column("Tb_K_in_domain").to_pylist()
    )
    # a CSV output holds the same cells as text
    as_csv = tmp_path / "typed.csv"
    _predict(tiny_backbone, data, as_csv, "--workers", "0", "--chunk-rows", "3")
    csv = pd.read_csv(as_csv)
    assert csv["compound_id"].tolist() == list(range(100, 109))
    assert csv["name"].fillna("").tolist() == ["", "", "", "x", "", "y", "z", "", "w"]


def test_known_value_column_is_used_per_row(
    tiny_backbone: Path, tiny_relational: Path, tmp_path: Path, capsys
) -> None:
    data = tmp_path / "known.csv"
    data.write_text("smiles,Tb_K\nCCO,351.4\nc1ccccc1O,\nCCN,289.7\n")
    out = tmp_path / "known_preds.csv"
    common = ["--backbone", str(tiny_backbone), "--data-dir", str(tmp_path / "registry")]
    assert (
        main(
            [
                "predict",
                "--data",
                str(data),
                "--tasks",
                "logKow",
                "--out",
                str(out),
                "--chunk-rows",
                "2",
                *common,
            ]
        )
        == 0
    )
    assert "using known values from column(s) Tb_K" in capsys.readouterr().err
    preds = pd.read_csv(out, keep_default_na=False)
    assert (
        preds["known_used"].tolist() == ["Tb_K=351.4", "", "Tb_K=289.7"]
        and "logKow_relational" in preds
    )


#: Tb_K measured for four rows, logKow for three: which is known and which compared depends on
#: which tasks are predicted (gate_core.relational.known.task_columns).
MEASURED = (
    "smiles,Tb_K,logKow\nCCO,351.4,\nCCCO,370,-0.3\nc1ccccc1,,2.1\nCCN,289.7,\nc1ccccc1O,455,1.5\n"
)
PATHS = pytest.mark.parametrize("streamed", [True, False], ids=["streamed", "in-memory"])


def _predict_measured(
    backbone: Path, tmp_path: Path, capsys, streamed: bool, *args: str
) -> tuple[int, str, str, pd.DataFrame | None]:
    """``predict --data MEASURED`` streamed (``--out``, 2-row chunks) or in memory (printed):
    exit code, stdout, stderr and the written file (streamed)."""
    data, out = tmp_path / "measured.csv", tmp_path / "measured_preds.csv"
    data.write_text(MEASURED)
    common = ["--backbone", str(backbone), "--data-dir", str(tmp_path / "registry")]
    stream = ["--out", str(out), "--chunk-rows", "2", "--workers", "0"] if streamed else []
    code = main(["predict", "--data", str(data), *args, *stream, *common])
    captured = capsys.readouterr()
    written = pd.read_csv(out, keep_default_na=False) if streamed and code == 0 else None
    return code, captured.out, captured.err, written


def _said_rmse(err: str, task: str) -> tuple[int, float]:
    """Rows and RMSE of the comparison line the CLI printed for ``task``."""
    line = next(x for x in err.splitlines() if x.startswith(f"{task} predicted vs column {task}"))
    found = re.search(r"(\d+) rows with both numbers, RMSE ([^,]+), MAE .*, R² ", line)
    assert found, line
    return int(found[1]), float(found[2])


@PATHS
def test_a_column_of_a_predicted_task_is_compared_and_the_others_stay_known(
    tiny_backbone: Path, tiny_relational: Path, tmp_path: Path, capsys, streamed: bool
) -> None:
    code, out, err, written = _predict_measured(
        tiny_backbone, tmp_path, capsys, streamed, "--tasks", "Tb_K,Tm_K"
    )
    assert code == 0, err  # no longer "a known value was given for Tb_K, which is also predicted"
    assert "using known values from column(s) logKow of" in err  # logKow is not predicted
    if streamed:  # the measured column kept beside the prediction, the other task's known values
        measured = pd.to_numeric(written[f"Tb_K{FROM_FILE}"], errors="coerce")
        predicted = written["Tb_K"]
        assert written["known_used"].tolist() == [
            "",
            "logKow=-0.3",
            "logKow=2.1",
            "",
            "logKow=1.5",
        ]
        assert "Tm_K_relational" in written
    else:
        from gate_core.api import GateStudio

        frame = pd.read_csv(tmp_path / "measured.csv")
        measured = frame["Tb_K"]
        predicted = GateStudio(tiny_backbone, tmp_path / "registry").predict(
            frame["smiles"].tolist(), ["Tb_K", "Tm_K"]
        )["Tb_K"]
        assert f"Tb_K{FROM_FILE}" in out and "logKow=2.1" in out and "Tm_K_relational" in out
    both = measured.notna()
    rmse = float(((predicted[both] - measured[both]) ** 2).mean() ** 0.5)
    assert _said_rmse(err, "Tb_K") == (4, pytest.approx(rmse, rel=1e-3))
    assert "logKow predicted vs" not in err


@PATHS
def test_without_tasks_every_named_column_is_compared(
    tiny_backbone: Path, tiny_relational: Path, tmp_path: Path, capsys, streamed: bool
) -> None:
    code, out, err, written = _predict_measured(tiny_backbone, tmp_path, capsys, streamed)
    assert code == 0, err
    assert "using known values" not in err  # every task is predicted: nothing is known
    assert _said_rmse(err, "Tb_K")[0] == 4 and _said_rmse(err, "logKow")[0] == 3
    assert "known_used" not in (written.columns if streamed else out)
    if streamed:  # the file's columns are written as text; a number stays a number
        measured = pd.to_numeric(written[f"logKow{FROM_FILE}"])  # no '-0.3: it parses
        rmse = float(((written["logKow"] - measured) ** 2).mean() ** 0.5)
        assert _said_rmse(err, "logKow")[1] == pytest.approx(rmse, rel=1e-3)


@PATHS
def test_known_value_of_a_predicted_task_is_still_refused(
    tiny_backbone: Path, tiny_relational: Path, tmp_path: Path, capsys, streamed: bool
) -> None:
    code, _, err, _ = _predict_measured(
        tiny_backbone, tmp_path, capsys, streamed, "--tasks", "Tb_K,Tm_K", "--known", "Tb_K=300"
    )
    assert code == 2 and "Tb_K, which is also being predicted" in err


def test_dask_runs_the_shards_in_processes(
    tiny_backbone: Path, library: Path, tmp_path: Path
) -> None:
    """The README's recipe: one ``predict --shard K/N`` per Dask task, here on Dask's local
    process pool; on a cluster the same tasks go to ``distributed.Client(...)``."""
    dask = pytest.importorskip("dask")
    whole = tmp_path / "whole.csv"
    _predict(tiny_backbone, library, whole, "--workers", "0", "--chunk-rows", "16")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GATE_THREADS": "1"}

    def shard(k: int, n: int) -> str:
        out = tmp_path / f"dask{k}.csv"
        cmd = [
            sys.executable,
            "-m",
            "gate_core",
            "predict",
            "--data",
            str(library),
            "--tasks",
            TASKS,
            "--out",
            str(out),
            "--shard",
            f"{k}/{n}",
            "--workers",
            "0",
            "--chunk-rows",
            "16",
            "--backbone",
            str(tiny_backbone),
            "--data-dir",
            str(tmp_path / "registry"),
        ]
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
        return str(out)

    parts = dask.compute(
        *[dask.delayed(shard)(k, 2) for k in range(2)], scheduler="processes", num_workers=2
    )
    merged = pd.concat(
        [pd.read_csv(p, dtype=str, keep_default_na=False) for p in parts], ignore_index=True
    )
    pd.testing.assert_frame_equal(merged, pd.read_csv(whole, dtype=str, keep_default_na=False))


def test_a_run_stopped_by_sigterm_leaves_no_partial_output(
    tiny_backbone: Path, tmp_path: Path
) -> None:
    """A scheduler stops a job with SIGTERM (Slurm at its time limit): the run exits with
    128 + 15 and removes OUT.part, as on any error, instead of leaving half a file."""
    import signal
    import time

    smiles = pd.read_csv(TARGET)["smiles"].tolist() * 40  # 2,400 rows: seconds of work
    data = tmp_path / "big.csv"
    pd.DataFrame({"smiles": smiles}).to_csv(data, index=False)
    out = tmp_path / "preds.csv"
    partial = out.with_name("preds.csv.part")
    cmd = [sys.executable, "-m", "gate_core", "predict", "--data", str(data), "--out", str(out)]
    cmd += ["--backbone", str(tiny_backbone), "--data-dir", str(tmp_path / "registry")]
    cmd += ["--tasks", TASKS, "--workers", "1", "--chunk-rows", "8"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GATE_THREADS": "1"}
    process = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (partial.is_file() and partial.stat().st_size) and process.poll() is None:
        assert time.monotonic() < deadline, "no partial output within 2 minutes"
        time.sleep(0.05)
    assert process.poll() is None, "the run finished before it could be stopped"
    process.send_signal(signal.SIGTERM)
    stderr = process.communicate(timeout=60)[1]
    assert process.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    assert not partial.exists() and not out.exists()


@pytest.fixture(scope="module")
def toxic_registry(tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry with an added classification task, ``toxic``, and a copy of it whose model
    no longer loads, ``bad_model`` (a prediction of every task skips it with a warning)."""
    import json
    from dataclasses import replace

    from gate_core.registry import TaskRegistry

    data_dir = tmp_path_factory.mktemp("toxic_registry")
    argv = ["add-task", "--data", str(TARGET.with_name("target_tiny_classification.csv"))]
    argv += ["--smiles-col", "smiles", "--target-col", "value", "--name", "toxic"]
    argv += ["--ensemble", "1", "--max-steps", "5", "--quiet"]
    assert main([*argv, "--backbone", str(tiny_backbone), "--data-dir", str(data_dir)]) == 0
    registry = TaskRegistry(data_dir)
    files = {p.name: p.read_bytes() for p in registry.task_dir("toxic").iterdir()}
    meta = json.loads(files["task.json"])
    meta["info"]["colour"] = "red"
    broken = {**files, "task.json": json.dumps(meta).encode()}
    registry.register_task(replace(registry.get_task("toxic"), name="bad_model"), broken)
    return data_dir


def _predict_toxic(
    backbone: Path, registry: Path, tmp_path: Path, capsys, streamed: bool, toxic: list[float]
) -> tuple[str, pd.Series]:
    """``predict --data`` (every task) of 20 molecules with measured ``toxic`` and ``bad_model``
    columns: stderr and the ``toxic`` probabilities predicted."""
    frame = pd.read_csv(TARGET.with_name("target_tiny_classification.csv")).head(len(toxic))
    frame = frame.drop(columns="value").assign(toxic=toxic, bad_model=1.0)
    data, out = tmp_path / "toxic.csv", tmp_path / "toxic_preds.csv"
    frame.to_csv(data, index=False)
    stream = ["--out", str(out), "--chunk-rows", "3", "--workers", "0"] if streamed else []
    argv = ["predict", "--data", str(data), "--backbone", str(backbone), "--data-dir"]
    assert main([*argv, str(registry), *stream]) == 0
    err = capsys.readouterr().err
    if streamed:
        return err, pd.read_csv(out)["toxic"]
    from gate_core.api import GateStudio

    predicted = GateStudio(backbone, registry).predict(frame["smiles"].tolist(), ["toxic"])
    return err, predicted["toxic"]


def _said(err: str, task: str) -> str:
    return next(x for x in err.splitlines() if x.startswith(f"{task} predicted vs column {task}"))


@PATHS
def test_a_classification_column_is_scored_by_roc_auc_and_a_skipped_task_says_so(
    tiny_backbone: Path, toxic_registry: Path, tmp_path: Path, capsys, streamed: bool
) -> None:
    """Both paths score a 0/1 column of a classification task as classification (not R²,
    not "not scored"), and a compared task that failed to load is said to be skipped, with
    why (the streamed run said "no row has both numbers")."""
    import numpy as np

    from gate_core.training.evaluate import classification_metrics

    toxic = [
        float(v)
        for v in pd.read_csv(TARGET.with_name("target_tiny_classification.csv"))["value"][:20]
    ]
    toxic[3] = float("nan")  # not measured
    err, predicted = _predict_toxic(
        tiny_backbone, toxic_registry, tmp_path, capsys, streamed, toxic
    )
    measured = np.array(toxic)
    both = np.isfinite(measured)
    m = classification_metrics(measured[both], predicted.to_numpy()[both])
    assert _said(err, "toxic").endswith(
        f": 19 rows with both numbers, ROC-AUC {m['roc_auc']:.3f}, PR-AUC {m['pr_auc']:.3f}, "
        f"accuracy {m['accuracy']:.3f}"
    )
    assert "warning: skipped: task 'bad_model' cannot be used" in err
    bad = _said(err, "bad_model")
    assert "not compared: the task was skipped (task 'bad_model' cannot be used" in bad
    assert "no row has both numbers" not in err


@PATHS
def test_a_classification_column_of_other_numbers_is_not_compared(
    tiny_backbone: Path, toxic_registry: Path, tmp_path: Path, capsys, streamed: bool
) -> None:
    """The predictions are still made and written; only the comparison is refused, with why."""
    toxic = [1.0, 0.0, 0.0, 1.0, 6.5, 0.0] * 2
    err, predicted = _predict_toxic(
        tiny_backbone, toxic_registry, tmp_path, capsys, streamed, toxic
    )
    assert predicted.notna().all()
    assert _said(err, "toxic").endswith(
        ": not compared: column toxic holds 6.5, not 0 or 1: "
        "a classification task is compared with measured classes 0 and 1"
    )
