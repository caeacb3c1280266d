"""bench.screening: a run counts as on an idle machine by what other processes used, not by the
load average, which counts the run's own worker processes; the result names its backbone."""

from __future__ import annotations

import argparse

import numpy as np
from safetensors.numpy import save_file

from bench.screening import IDLE_SHARE, _results, markdown
from gate_app.bench_results import backbone_id


def _run(others: float, wall: float = 100.0) -> dict:
    return {
        "molecules": 1000,
        "file_molecules": 1000,
        "wall_seconds": wall,
        "mol_per_s": 1000 / wall,
        "cpu_seconds": 190.0,
        "mol_per_cpu_s": 1000 / 190.0,
        "peak_rss_mb": 900.0,
        "load_before": [1.4, 1.0, 1.0],
        "load_after": [2.7, 1.5, 1.1],  # its own two workers and model process
        "other_cpu_seconds": others,
    }


ARGS = argparse.Namespace(
    tasks="Tb_K,logKow", chunk_rows=1024, workers=None, seed=1, backbone="no/such/backbone"
)


def test_a_run_whose_own_load_is_high_is_still_idle_when_nothing_else_ran():
    result = _results(ARGS, [_run(others=2.0)], [])
    assert result["idle_machine"] and result["other_cpu_share"] == 0.02
    assert "Measured on an idle machine (other processes used 0.02 cores at most)" in markdown(
        result
    )


def test_other_processes_using_the_cpu_make_it_shared():
    result = _results(ARGS, [_run(others=0.0), _run(others=IDLE_SHARE * 100.0 + 1.0)], [])
    assert not result["idle_machine"]
    assert "**Not measured on an idle machine** (other processes used 0.11 cores" in markdown(
        result
    )


def test_the_result_records_its_backbone(tmp_path):
    """``backbone_id`` as every result has it: the hash of the weights ``--backbone`` points to."""
    save_file({"w": np.arange(6, dtype=np.float32)}, str(tmp_path / "model.safetensors"))
    args = argparse.Namespace(**{**vars(ARGS), "backbone": str(tmp_path)})
    result = _results(args, [_run(others=0.0)], [])
    assert result["backbone_id"] == backbone_id(tmp_path) and len(result["backbone_id"]) == 16
