"""bench.gpu_figures: the CUDA runs' numbers are carried over unchanged, next to the CPU ones."""

from bench.gpu_figures import markdown, summarise

SPEED = {
    "speed": {
        "torch_threads": 16,
        "add_task": {
            "median_wall_seconds": 13.5,
            "target_seconds": 20.0,
            "passes": True,
            "runs": [{"featurize_seconds": 1.0, "train_seconds": 12.3}],
        },
        "throughput": {
            "cold_per_second": 900.0,
            "warm_per_second": 2900.0,
            "featurize_only_cold_per_second": 990.0,
            "target_per_second": 5000.0,
            "molecules": 3660,
        },
    }
}
META = {
    "pretraining": {
        "device": "cuda",
        "peak_memory_mb": 195.0,
        "featurize_seconds": 22.0,
        "config": {"threads": 8},
    }
}
EPOCHS = [
    {"epoch": 1, "seconds": 22.0, "molecules_per_second": 880.0},
    {"epoch": 2, "seconds": 23.0, "molecules_per_second": 860.0},
    {"note": "no timing"},
]
CPU_META = {"pretraining": {"train_molecules_per_second": 291.0, "peak_memory_mb": 1087.0}}
CPU_SPEED = {
    "speed": {
        "add_task": {"median_wall_seconds": 24.6},
        "throughput": {"cold_per_second": 408.0, "warm_per_second": 838.0},
    }
}


def test_summarise_keeps_gpu_and_cpu_values():
    fig = summarise(SPEED, META, EPOCHS, CPU_META, CPU_SPEED)
    assert fig["pretraining"]["molecules_per_second"] == [880.0, 860.0]
    assert fig["pretraining"]["cpu_molecules_per_second"] == 291.0
    assert (
        fig["task_addition"]["add_500_molecule_task_seconds"] == 13.5
        and fig["task_addition"]["passes"] is True
    )
    assert fig["task_addition"]["cpu_add_500_molecule_task_seconds"] == 24.6
    text = markdown(
        {
            "figures": fig,
            "machine": {"gpu": "H100", "cpu_count": 16, "torch": "2.11", "date_utc": "2026-11-23"},
        }
    )
    assert "H100" in text and "870" in text and "24.6" in text


def test_summarise_without_cpu_reference():
    fig = summarise(SPEED, META, EPOCHS, None, None)
    assert "cpu_molecules_per_second" not in fig["pretraining"]
    assert "cpu_predict_warm_per_second" not in fig["task_addition"]
    assert "n/a" in markdown({"figures": fig, "machine": {}})


def test_a_speed_run_without_prediction_throughput():
    """task_addition's speed runs time the task addition only (prediction: ``bench screening``)."""
    speed = {"speed": {k: v for k, v in SPEED["speed"].items() if k != "throughput"}}
    fig = summarise(speed, META, EPOCHS, CPU_META, speed)
    assert fig["task_addition"]["predict_cold_per_second"] is None
    text = markdown({"figures": fig, "machine": {}})
    assert "13.5" in text and "featurisation alone" not in text
