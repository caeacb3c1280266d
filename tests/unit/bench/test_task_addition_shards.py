"""Sharding the task-addition grid across processes and merging the shards back; the speed
section a run writes."""

import argparse
import json

import pytest

from bench.task_addition import METHODS, _settings, _write, add_arguments, merge, parse_shard


def _default_settings() -> dict:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return _settings(parser.parse_args([]))


SETTINGS = _default_settings()


def test_parse_shard():
    assert parse_shard(None) is None
    assert parse_shard("0/4") == (0, 4)
    assert parse_shard("3/4") == (3, 4)
    for bad in ("4/4", "-1/2", "1/0", "x/2", "1"):
        with pytest.raises(ValueError):
            parse_shard(bad)


def test_shards_partition_the_cells():
    cells = list(range(17))
    shards = [cells[k::5] for k in range(5)]
    assert sorted(c for s in shards for c in s) == cells


SPEED = {
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


def _row(target, seed, size, method, nrmse, error=False):
    row = {
        "target": target,
        "seed": seed,
        "size": size,
        "method": method,
        "rmse": nrmse,
        "nrmse": nrmse,
        "r2": 0.5,
        "wall_seconds": 1.0,
        "n_train": size,
        "n_test": 10,
        "test_std": 1.0,
        "device": "cpu (2 cores)",
    }
    if error:
        row = {k: v for k, v in row.items() if k not in ("rmse", "nrmse", "r2")} | {
            "error": "RuntimeError: boom"
        }
    return row


def _state(rows, cells, speed=None, backbone_id="abc"):
    return {
        "status": "complete",
        "backbone": "b",
        "backbone_id": backbone_id,
        "settings": SETTINGS,
        "device": "cpu",
        "torch_threads": 1,
        "targets": {"t": {"task_type": "regression", "splits": {"0": {"pool": 80}}}},
        "grid": {
            "targets": ["t"],
            "sizes": [50],
            "seeds": [c[1] for c in cells],
            "methods": list(METHODS),
            "order": "seed, then size, then target",
            "planned": cells,
            "ran": cells,
            "resumed": [],
            "skipped": [],
            "not_started": [],
        },
        "rows": rows,
        "speed": speed,
    }


def test_merge_combines_shards_and_prefers_finished_rows(tmp_path):
    main, shard = tmp_path / "main", tmp_path / "shard"
    main.mkdir(), shard.mkdir()
    seed0 = [_row("t", 0, 50, m, 0.5) for m in METHODS]
    seed1 = [_row("t", 1, 50, m, 0.7) for m in METHODS]
    failed = [_row("t", 1, 50, "rf", 0.0, error=True)]
    (main / "task_addition.json").write_text(
        json.dumps(_state(seed0 + failed, [["t", 0, 50]], speed=SPEED))
    )
    (shard / "task_addition.json").write_text(json.dumps(_state(seed1, [["t", 1, 50]])))
    merge(argparse.Namespace(results_dir=str(main), merge=str(shard), results_name="task_addition"))
    out = json.loads((main / "task_addition.json").read_text())
    assert len(out["rows"]) == 2 * len(METHODS)
    assert not any(
        "error" in r for r in out["rows"]
    )  # the shard's finished rf row replaced the failed one
    assert sorted(out["grid"]["ran"]) == [["t", 0, 50], ["t", 1, 50]]
    assert out["speed"] == SPEED
    assert out["summary"]["n_complete_cells"] == 2
    assert "task_addition" in out["benchmark"] and (main / "task_addition.csv").is_file()


def test_merge_refuses_another_backbone(tmp_path):
    main, shard = tmp_path / "main", tmp_path / "shard"
    main.mkdir(), shard.mkdir()
    (main / "task_addition.json").write_text(json.dumps(_state([], [])))
    (shard / "task_addition.json").write_text(json.dumps(_state([], [], backbone_id="other")))
    with pytest.raises(ValueError, match="another backbone"):
        merge(
            argparse.Namespace(
                results_dir=str(main), merge=str(shard), results_name="task_addition"
            )
        )


def test_the_speed_section_times_the_task_addition_only(tmp_path):
    """Prediction throughput has one home, ``bench screening``: no option, text or chart for it
    here (an older result's ``throughput`` block is left unshown)."""
    from gate_app.bench_charts import charts_for

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert "throughput_molecules" not in vars(parser.parse_args([]))
    _write(_state([], [], speed=SPEED), "task_addition", tmp_path)
    text = (tmp_path / "task_addition.md").read_text()
    assert "**24.0 s**" in text and "`bench/results/screening.md`" in text
    assert "Batch prediction" not in text
    older = {"speed": {**SPEED, "throughput": {"cold_per_second": 400.0}}}
    assert [key for key, _ in charts_for("task_addition", older)] == [
        "bench_task_addition_add_task_speed"
    ]
