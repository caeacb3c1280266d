"""``python -m bench scaling --quick`` end to end into a temporary results folder, and one point in a
fresh worker process. Checks the result files' schema and that the numbers are sane; no timing
assertions (the run is a smoke test of every curve, not a measurement)."""

from __future__ import annotations

import argparse
import csv
import json
import math

import pytest

from bench import scaling
from bench.__main__ import main

from .conftest import ROOT

pytestmark = pytest.mark.integration


def _positive(x: object) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_quick_run_writes_the_documented_schema(tmp_path):
    assert main(["scaling", "--quick", "--results-dir", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "scaling.json").read_text())
    assert (
        data["benchmark"] == "scaling" and data["device"] == "cpu" and data["machine"]["cpu_model"]
    )
    fixed = ("backbone", "threads", "flat_tolerance", "point_timeout")  # kept in every result
    assert {k: data["settings"][k] for k in fixed} == {k: scaling.FIXED[k] for k in fixed}
    assert data["settings"]["isolation"] == "none"  # --quick measures in-process
    assert data["status"].startswith("Complete")
    grid = data["settings"]["grid"]

    def ints(text: object) -> list[int]:
        return [int(v) for v in str(text).split(",")]

    curves = data["curves"]
    assert set(curves) == set(scaling.CURVES)

    sources = curves["add_task_vs_sources"]
    assert [p["n_sources"] for p in sources] == ints(grid["sources"])
    for p in sources:
        assert "error" not in p, p.get("error")
        assert (
            _positive(p["wall_seconds"])
            and p["peak_memory_mb"] is not None
            and p["sources_computed"] == p["n_sources"]
        )
        assert _positive(p["excluded"]["wall_seconds"]) and p["excluded"][
            "sources_computed"
        ] == len(scaling_sources())
        assert p["excluded"]["sources_active"] == p["n_sources"]

    by_n = curves["add_task_vs_n"]
    assert [p["n"] for p in by_n] == ints(grid["sizes"])
    for p in by_n:
        assert "error" not in p, p.get("error")
        for key in ("wall_seconds", "featurize_seconds", "train_seconds"):
            assert _positive(p[key]), key
        assert (
            p["wall_seconds"] >= p["train_seconds"]
            and p["n_train"] == p["n"]
            and p["peak_memory_mb"] is not None
        )

    existing = curves["add_task_vs_existing"]
    assert [p["existing_tasks"] for p in existing] == list(range(grid["existing"]))
    for p in existing:
        assert (
            _positive(p["wall_seconds"])
            and _positive(p["predict_seconds"])
            and _positive(p["predict_all_seconds"])
        )
    assert [p["predict_all_tasks"] for p in existing] == [
        16 + i + 1 for i in range(grid["existing"])
    ]

    steps = curves["pretrain_step_vs_tasks"]
    assert sorted((p["n_tasks"], p["alignment"]) for p in steps) == sorted(
        (t, f) for t in ints(grid["tasks"]) for f in ("pairwise", "mean")
    )
    for p in steps:
        assert "error" not in p, p.get("error")
        assert _positive(p["step_ms"]) and p["peak_memory_mb"] is not None

    assert [p["batch_size"] for p in curves["predict_vs_batch"]] == ints(grid["batch_sizes"])
    assert all(
        _positive(p["mol_per_s"]) and _positive(p["warm_mol_per_s"])
        for p in curves["predict_vs_batch"]
    )
    assert [p["molecules"] for p in curves["featurize_vs_batch"]] == ints(grid["featurize_sizes"])
    assert all(_positive(p["mol_per_s"]) for p in curves["featurize_vs_batch"])

    flat = data["flat_check"]
    for key in ("slope_seconds_per_existing_task", "relative_change_first_to_last", "flat"):
        assert key in flat
    assert isinstance(flat["flat"], bool)

    with (tmp_path / "scaling.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["curve", "x_name", "x", "metric", "value", "device"]
    assert {r["curve"] for r in rows} == set(scaling.CURVES)
    assert any(r["curve"] == "add_task_vs_n" and r["metric"] == "peak_memory_mb" for r in rows)
    assert (tmp_path / "scaling.md").read_text().startswith("# Scaling curves (cpu)")


def scaling_sources() -> list[str]:
    return json.loads((ROOT / "assets" / "backbone" / "metadata.json").read_text())["config"][
        "tasks"
    ]


def test_one_point_in_a_fresh_worker_process(tmp_path):
    """The default isolation: a pre-training step point measured in its own interpreter."""
    from gate_core.data.featurize import featurize_molecules
    from gate_core.training.pretrain import PretrainConfig, load_table

    table = load_table(
        PretrainConfig(
            table=str(ROOT / "tests" / "data" / "pretrain_tiny.csv.gz"), max_molecules=24, seed=0
        )
    )
    graphs, descriptors = featurize_molecules(table.smiles)
    features = {"graphs": graphs, "descriptors": descriptors, "Y": table.Y, "tasks": table.tasks}
    ctx = argparse.Namespace(fresh=True, threads=1, point_timeout=None, device="cpu")
    vars(ctx).update(pretrain_steps=2, pretrain_warmup=1, pretrain_batch_size=8)
    point = {"features": features, "n_tasks": 2, "form": "pairwise"}
    r = scaling.measure(scaling._worker_pretrain_step, ctx, **point)
    assert "error" not in r, r.get("error")
    assert _positive(r["step_ms"]) and r["steps"] == 2 and _positive(r["process_seconds"])
    assert (
        r["memory_method"] and r["peak_memory_mb"] >= 0 and r["peak_rss_mb"] >= r["rss_before_mb"]
    )

    broken = scaling.measure(scaling._worker_pretrain_step, ctx, **point | {"form": "no such form"})
    assert broken["error"].startswith("ValueError")
