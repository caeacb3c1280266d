"""bench.scaling: the flat check and growth-exponent math, the throughput grid, the long CSV,
the S-source backbone copy, the peak-memory meter and a hung point's timeout. No timing
assertions."""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from bench import scaling
from bench.common import csv_rows, write_csv
from bench.scaling import (
    call_sizes,
    flat_check,
    loglog_slope,
    long_rows,
    subset_backbone,
)


def test_flat_check_constant_is_flat():
    out = flat_check([0, 1, 2, 3], [2.0, 2.0, 2.0, 2.0])
    assert out["slope"] == pytest.approx(0.0, abs=1e-12)
    assert out["relative_change_first_to_last"] == pytest.approx(0.0, abs=1e-12)
    assert out["raw_relative_change"] == pytest.approx(0.0)
    assert out["flat"] is True and out["n_points"] == 4


def test_flat_check_reads_the_change_off_the_fitted_line():
    # y = 10 + 1·x over x = 0..7: the fit is exact, +70 % over the range → not flat at ±20 %
    x = list(range(8))
    out = flat_check(x, [10.0 + v for v in x], tolerance=0.2)
    assert out["slope"] == pytest.approx(1.0)
    assert out["intercept"] == pytest.approx(10.0)
    assert out["relative_change_first_to_last"] == pytest.approx(0.7)
    assert out["flat"] is False
    # the same line passes with a looser tolerance
    assert flat_check(x, [10.0 + v for v in x], tolerance=0.8)["flat"] is True


def test_flat_check_is_one_sided_a_falling_cost_is_not_growth():
    x = list(range(8))
    out = flat_check(x, [20.0 - v for v in x], tolerance=0.2)  # −35 % over the range
    assert out["relative_change_first_to_last"] == pytest.approx(-0.35)
    assert out["flat"] is True
    assert flat_check(x, [20.0 + v for v in x], tolerance=0.2)["flat"] is False  # +35 %


def test_flat_check_one_noisy_end_point_does_not_decide():
    y = [10.0] * 7 + [13.0]  # last point +30 %, the fitted line moves far less
    out = flat_check(list(range(8)), y, tolerance=0.2)
    assert out["raw_relative_change"] == pytest.approx(0.3)
    assert abs(out["relative_change_first_to_last"]) < 0.2 and out["flat"] is True
    # matches numpy's own least squares
    slope, intercept = np.polyfit(np.arange(8), y, 1)
    assert out["slope"] == pytest.approx(slope) and out["intercept"] == pytest.approx(intercept)


def test_flat_check_unordered_x_and_degenerate_input():
    out = flat_check([3, 0, 2, 1], [13.0, 10.0, 12.0, 11.0])
    assert out["relative_change_first_to_last"] == pytest.approx(0.3)  # fit(3) / fit(0) − 1
    for x, y in (([], []), ([1], [5.0]), ([2, 2], [1.0, 3.0])):
        out = flat_check(x, y)
        assert (
            out["slope"] is None
            and out["flat"] is None
            and out["relative_change_first_to_last"] is None
        )
    with pytest.raises(TypeError):  # numpy's least squares: x and y of different lengths
        flat_check([1, 2], [1.0])


def test_loglog_slope_recovers_the_exponent():
    x = [2, 4, 8, 16]
    assert loglog_slope(x, [3.0 * v**2 for v in x]) == pytest.approx(2.0)
    assert loglog_slope(x, [5.0 * v for v in x]) == pytest.approx(1.0)
    assert loglog_slope(x, [7.0] * 4) == pytest.approx(0.0, abs=1e-12)
    assert loglog_slope([1], [1.0]) is None and loglog_slope([1, 2], [0.0, 0.0]) is None


def test_call_sizes():
    assert call_sizes(1, 4096, 256) == 256  # at most max_calls calls
    assert call_sizes(8, 4096, 256) == 2048
    assert call_sizes(64, 4096, 256) == 4096  # at most the pool
    assert call_sizes(4096, 4096, 256) == 4096
    assert call_sizes(100, 250, 256) == 250  # the last call is a partial one
    assert call_sizes(512, 100, 256) == 512  # never less than one full call


def test_long_rows_and_csv(tmp_path):
    curves = {
        "add_task_vs_sources": [
            {
                "n_sources": 1,
                "wall_seconds": 2.5,
                "member_steps": [1, 2],
                "memory_method": "x",
                "excluded": {"wall_seconds": 3.0},
            }
        ],
        "pretrain_step_vs_tasks": [
            {"n_tasks": 2, "alignment": "mean", "step_ms": 10.0, "flat": True}
        ],
        "featurize_vs_batch": [{"molecules": 8, "mol_per_s": 100.0, "device": "cpu"}],
    }
    rows = long_rows(curves, "cuda")
    got = {(r["curve"], r["metric"]): r for r in rows}
    assert set(got) == {
        ("add_task_vs_sources", "wall_seconds"),
        ("add_task_vs_sources", "excluded.wall_seconds"),
        ("pretrain_step_vs_tasks", "step_ms"),
        ("featurize_vs_batch", "mol_per_s"),
    }
    assert got[("add_task_vs_sources", "wall_seconds")] == {
        "curve": "add_task_vs_sources",
        "x_name": "n_sources",
        "x": 1,
        "metric": "wall_seconds",
        "value": 2.5,
        "device": "cuda",
    }
    assert got[("featurize_vs_batch", "mol_per_s")]["device"] == "cpu"  # a point's own device wins
    path = write_csv(csv_rows("scaling", {"curves": curves, "device": "cuda"}), tmp_path / "s.csv")
    with path.open() as handle:
        read = list(csv.DictReader(handle))
    assert list(read[0]) == ["curve", "x_name", "x", "metric", "value", "device"] and len(
        read
    ) == len(rows)


def test_markdown_renders_the_stored_result_with_its_headline_figures():
    data = json.loads((Path(scaling.__file__).parent / "results" / "scaling.json").read_text())
    text = scaling.markdown(data)
    assert text.startswith(f"# Scaling curves ({data['device']})")
    for title, *_ in scaling.SECTIONS.values():
        assert f"## {title}" in text
    step = {
        (p["n_tasks"], p["alignment"]): p["step_ms"]
        for p in data["curves"]["pretrain_step_vs_tasks"]
    }
    t = max(n for n, _ in step)
    pw, mn = step[t, "pairwise"], step[t, "mean"]
    assert (
        f"| {t} | {pw:.0f} | {mn:.0f} | {pw / mn:.2f} |" in text
    )  # pairwise vs mean at the largest T
    flat = data["flat_check"]
    change = f"{flat['relative_change_first_to_last']:+.1%}"
    verdict = "yes" if flat["flat"] else "**no**"
    assert f"| {change} | {verdict} |" in text  # the flat check's change and verdict
    assert (
        "## Growth exponents" in text
        and f"{data['loglog_exponents']['add_task_seconds_vs_n']:.2f}" in text
    )


def test_subset_backbone_keeps_the_chosen_sources_exactly(tiny_model, tiny_batch):
    import torch

    model = tiny_model(tasks=("a", "b", "c", "d"), classification=("c",))
    model.set_scalers(np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 3.0, 4.0, 5.0]))
    model.eval()
    small = subset_backbone(model, ["c", "a"])
    assert small.task_names == ["c", "a"]
    assert small.classification.tolist() == [True, False]
    batch = tiny_batch(n_tasks=4)
    with torch.no_grad():
        h = model.representation(batch.graph, batch.descriptors)
        assert torch.equal(small.representation(batch.graph, batch.descriptors), h)
        full = model.unscale(model.predict_scaled(h))
        torch.testing.assert_close(small.unscale(small.predict_scaled(h)), full[:, [2, 0]])
    with pytest.raises(ValueError):
        subset_backbone(model, ["nope"])
    with pytest.raises(ValueError):
        subset_backbone(model, [])


def _hung_worker(spec: argparse.Namespace) -> dict:
    """A point that never answers: it starts a process of its own, writes both ids, then sleeps."""
    child = subprocess.Popen(["sleep", "600"])
    Path(spec.pids).write_text(f"{os.getpid()} {child.pid}")
    time.sleep(600)
    return {}


#: Seconds the hung point is given: enough for a spawned interpreter to start and write its
#: ids on a loaded CI machine (15 s was not: the point timed out before the worker ran).
HUNG_TIMEOUT = 45


@pytest.mark.timeout(HUNG_TIMEOUT + 120)
def test_a_hung_point_times_out_as_a_failed_point_and_its_processes_are_killed(tmp_path, ended):
    pids = tmp_path / "pids"
    ctx = argparse.Namespace(fresh=True, threads=1, point_timeout=HUNG_TIMEOUT)
    r = scaling.measure(_hung_worker, ctx, pids=str(pids))
    assert r == {"error": f"timed out after {HUNG_TIMEOUT} s; its processes killed"}
    assert pids.is_file(), f"the worker had not started within {HUNG_TIMEOUT} s"
    worker, its_child = (int(pid) for pid in pids.read_text().split())
    assert ended(worker) and ended(its_child)
