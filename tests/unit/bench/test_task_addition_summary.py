"""bench.task_addition: normalised-RMSE aggregation (complete cells only, targets weighted
equally), the seen-molecule keys and the speed section a run writes."""

from __future__ import annotations

import math

import pytest

from bench.task_addition import add_arguments, headline, markdown, parse_sizes, summarise

METHODS = ["probe", "learned", "rf"]


def _row(target, seed, size, method, nrmse):
    return {"target": target, "seed": seed, "size": size, "method": method, "nrmse": nrmse}


def _cell(target, seed, size, probe, learned, rf):
    return [
        _row(target, seed, size, "probe", probe),
        _row(target, seed, size, "learned", learned),
        _row(target, seed, size, "rf", rf),
    ]


def test_targets_weigh_equally_and_best_is_lowest():
    rows = [
        # target A: two seeds at n = 50 → its mean is over both
        *_cell("A", 0, 50, 1.0, 0.4, 0.6),
        *_cell("A", 1, 50, 0.8, 0.6, 0.7),
        # target B: one cell; must weigh as much as A's two
        *_cell("B", 0, 50, 0.2, 0.9, 0.3),
    ]
    s = summarise(rows, METHODS)
    assert s["n_complete_cells"] == 3 and s["n_targets"] == 2
    assert s["by_target"]["A"] == pytest.approx({"probe": 0.9, "learned": 0.5, "rf": 0.65})
    # mean over targets, not over cells: probe (0.9 + 0.2) / 2, learned (0.5 + 0.9) / 2, rf (0.65 + 0.3) / 2
    assert s["overall"] == pytest.approx({"probe": 0.55, "learned": 0.7, "rf": 0.475})
    assert s["best"] == "rf"
    assert s["wins"] == {"probe": 1, "learned": 2, "rf": 0}
    h = s["learned_head_to_head"]["rf"]
    assert h["learned_lower_in"] == 2 and h["cells"] == 3
    assert h["targets_learned_lower"] == ["A"]


def test_incomplete_failed_large_and_all_cells_are_left_out():
    rows = [
        *_cell("A", 0, 50, 0.5, 0.4, 0.6),
        *_cell("A", 0, 100, 0.3, 0.2, 0.1),
        # learned failed here (no nRMSE) → the whole cell is left out, not just that method
        _row("A", 1, 50, "probe", 0.1),
        _row("A", 1, 50, "learned", None),
        _row("A", 1, 50, "rf", 0.1),
        # NaN counts as missing too
        _row("A", 2, 50, "probe", 0.1),
        _row("A", 2, 50, "learned", math.nan),
        _row("A", 2, 50, "rf", 0.1),
        # n > 200 and n = "all" are outside the n ≤ 200 summary
        *_cell("A", 0, 400, 9.0, 9.0, 0.0),
        *_cell("A", 0, "all", 9.0, 9.0, 0.0),
    ]
    s = summarise(rows, METHODS)
    assert s["n_complete_cells"] == 2 and s["n_incomplete_cells"] == 2
    assert s["overall"] == pytest.approx({"probe": 0.4, "learned": 0.3, "rf": 0.35})
    assert s["best"] == "learned"
    assert sorted(s["by_size"]) == [50, 100]
    assert s["best_by_size"] == {50: "learned", 100: "rf"}


def test_empty_and_size_parsing():
    s = summarise([], METHODS)
    assert s["overall"] == {} and s["best"] is None and s["n_complete_cells"] == 0
    assert parse_sizes("50, 100,all") == [50, 100, "all"]
    with pytest.raises(ValueError):
        parse_sizes("10")


def test_seen_keys_take_the_table_and_every_corpus_file(tmp_path):
    import argparse

    import pandas as pd

    from bench.task_addition import seen_molecule_keys
    from gate_core.data.seen import molecule_key

    table = tmp_path / "table.csv"
    pd.DataFrame(
        {"smiles": ["CCO", "CCCC"], "task": ["Tb_K", "permittivity"], "value": [351.4, 1.8]}
    ).to_csv(table, index=False)
    (tmp_path / "smiles.txt").write_text("c1ccccc1\n\nCC(=O)O\n")
    pd.DataFrame({"SMILES": ["CCN"]}).to_csv(tmp_path / "moses.csv", index=False)
    args = argparse.Namespace(
        pretraining_table=str(table), corpus=f"{tmp_path / 'smiles.txt'},{tmp_path / 'moses.csv'}"
    )
    keys = seen_molecule_keys(args, ["Tb_K", "Tm_K"])
    assert keys == {molecule_key(s) for s in ("CCO", "c1ccccc1", "CC(=O)O", "CCN")}


def test_the_speed_section_times_the_task_addition_only():
    """Prediction throughput has one home, ``bench screening``: no option, text or chart for it
    here (an older result's ``throughput`` block is left unshown)."""
    import argparse

    from gate_app.bench_charts import charts_for

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert "throughput_molecules" not in vars(parser.parse_args([]))
    speed = {
        "device": "cpu",
        "torch_threads": 2,
        "add_task": {
            "target": "t",
            "molecules": 500,
            "ensemble": 5,
            "median_wall_seconds": 24.0,
            "target_seconds": 20.0,
            "passes": False,
            "runs": [{"wall_seconds": 24.0, "featurize_seconds": 4.0, "train_seconds": 20.0}],
        },
    }
    grid = {"targets": ["t"], "sizes": [50], "seeds": [0], "methods": METHODS, "order": "seed"}
    grid |= {"planned": [], "ran": [], "resumed": [], "skipped": []}
    state = {"status": "complete", "backbone": "b", "backbone_id": "abc", "settings": {}}
    state |= {"device": "cpu", "torch_threads": 1, "targets": {}, "rows": [], "grid": grid}
    state |= {"summary": summarise([], METHODS), "headline": headline([], METHODS)}
    text = markdown(state | {"speed": speed})
    assert "**24.0 s**" in text and "`bench/results/screening.md`" in text
    assert "Batch prediction" not in text and "FAIL" in text
    assert "Not measured in this run" in markdown(state | {"speed": None})
    older = {"speed": {**speed, "throughput": {"cold_per_second": 400.0}}}
    assert [key for key, _ in charts_for("task_addition", older)] == [
        "bench_task_addition_add_task_speed"
    ]
