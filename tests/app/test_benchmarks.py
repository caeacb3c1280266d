"""Benchmarks page: charts from the stored results, machine + date per section, "not run yet" when absent.

No backbone needed: the page only reads ``bench/results/*.json`` (``GATE_BENCH_RESULTS`` here).
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from gate_app import bench_charts, views

ROOT = Path(__file__).resolve().parents[2]
PAGE = "pages/6_Benchmarks.py"
STORED = ROOT / "bench" / "results"
GPU = {"date_utc": "2026-11-24T10:00:00+00:00", "cpu_model": "Intel Xeon", "cpu_count": 16, "memory_total_mb": 131072, "torch": "2.13.0+cu126", "gpu": "NVIDIA H100 80GB HBM3"}
CPU = {"date_utc": "2026-11-23T05:00:00+00:00", "cpu_model": "AMD EPYC", "cpu_count": 2, "memory_total_mb": 24105, "torch": "2.13.0+cpu", "gpu": None}
#: chart key on the page per result file
CHARTS = {
    "task_addition": {"bench_accuracy", "bench_add_task_speed", "bench_predict_speed"},
    "chemprop_compare": {"bench_chemprop_ratio", "bench_chemprop_accuracy"},
    "scaling": {f"bench_scaling_{c[0]}" for c in bench_charts.SCALING_CURVES},
    "featurization": {"bench_featurization"},
    "pretraining_quick": {"bench_pretraining_step"},
    "page_render": {"bench_page_render"},
    "backbone_quality": {"bench_backbone_quality"},
    "relational": {"bench_relational"},
}


def chemprop_fixture() -> dict:
    rows = [{"target": t, "seed": 0, "size": n, "n_train": n, "method": m, "rmse": 1.0, "mae": 0.8, "r2": 0.5, "nrmse": 0.7, "wall_seconds": 9.0,
             "device": "cuda (NVIDIA H100 80GB HBM3)", "host": "gpu-box"} for t in ("freesolv", "fuel_cn") for n in (50, 200) for m in ("chemprop_single", "chemprop_finetuned")]
    return {"benchmark": "chemprop_compare", "command": "python -m bench chemprop_compare", "machine": GPU, "rows": rows,
            "comparison": {"max_n": 200, "methods": ["gate_learned", "rf", "chemprop_single", "chemprop_finetuned"],
                           "mean_nrmse": {"gate_learned": 0.5432, "rf": 0.7789, "chemprop_single": 0.7512, "chemprop_finetuned": 0.6789},
                           "mean_nrmse_by_size": {"50": {"gate_learned": 0.61, "chemprop_single": 0.79, "chemprop_finetuned": 0.71}, "200": {"gate_learned": 0.47, "chemprop_single": 0.71, "chemprop_finetuned": 0.65}},
                           "ratio_gate_to": {"rf": 0.6974, "chemprop_single": 0.7231, "chemprop_finetuned": 0.8001}, "ratio_gate_to_best": 0.8001, "best_baseline": "chemprop_finetuned",
                           "target_ratio": 0.85, "passes": True, "n_complete_cells": 4},
            "pretrain": {"epochs": 30}}


def scaling_fixture(machine: dict, device: str) -> dict:
    return {"benchmark": "scaling", "command": "python -m bench scaling", "machine": machine, "device": device, "curves": {
        "add_task_vs_sources": [{"n_sources": n, "wall_seconds": 5 + n, "peak_memory_mb": 500 + n} for n in (2, 8, 16)],
        "add_task_vs_n": [{"n": n, "wall_seconds": 3 + n / 50, "featurize_seconds": n / 500, "train_seconds": 3 + n / 60, "peak_memory_mb": 600} for n in (50, 1000)],
        "add_task_vs_existing": [{"existing_tasks": k, "wall_seconds": 10.0, "predict_seconds": 0.1 + 0.01 * k} for k in (0, 20)],
        "pretrain_step_vs_tasks": [{"n_tasks": t, "alignment": a, "step_ms": 100 + (t * t if a == "pairwise" else 5 * t), "peak_memory_mb": 800} for a in ("pairwise", "mean") for t in (4, 16)],
        "predict_vs_batch": [{"batch_size": b, "mol_per_s": 1000.0 * b} for b in (1, 64)],
        "featurize_vs_batch": [{"molecules": m, "mol_per_s": 4000.0} for m in (100, 10000)]},
        "flat_check": {"add_task_vs_existing": {"flat": True, "ratio": 1.02}}}


def run(monkeypatch, folder: Path | None, **session_state) -> AppTest:
    if folder is None:
        monkeypatch.delenv(bench_charts.RESULTS_ENV, raising=False)
    else:
        monkeypatch.setenv(bench_charts.RESULTS_ENV, str(folder))
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=60)
    for key, value in session_state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def chart_keys(at: AppTest) -> set[str]:
    return {e.key for e in at.get("plotly_chart")}


@pytest.fixture
def full_results(tmp_path) -> Path:
    """The stored results plus fixtures of the chemprop comparison and the scaling runs (CPU and GPU)."""
    folder = tmp_path / "results"
    folder.mkdir()
    for path in STORED.glob("*.json"):
        shutil.copy(path, folder / path.name)
    (folder / "chemprop_compare.json").write_text(json.dumps(chemprop_fixture()))
    (folder / "scaling.json").write_text(json.dumps(scaling_fixture(CPU, "cpu")))
    (folder / "scaling_cuda.json").write_text(json.dumps(scaling_fixture(GPU, "cuda")))
    return folder


def test_page_is_in_the_navigation():
    info = views.PAGES["bench"]
    assert info.path == PAGE and info.title == "Benchmarks"
    for page in views.PAGES.values():  # every page in the navigation exists (app.py builds it from PAGES)
        assert (ROOT / page.path).is_file(), page.path


def test_renders_the_stored_results(monkeypatch):
    at = run(monkeypatch, None)
    assert at.title[0].value == "Benchmarks"
    keys = chart_keys(at)
    for name, charts in CHARTS.items():
        if (STORED / f"{name}.json").exists():
            if name == "scaling":  # a run in progress has only some curves
                curves = json.loads((STORED / "scaling.json").read_text()).get("curves") or {}
                charts = {f"bench_scaling_{c}" for c, points in curves.items() if points and f"bench_scaling_{c}" in charts}
            assert charts <= keys or (name == "task_addition" and "bench_accuracy" in keys), name  # speed may be skipped
        else:
            assert any(f"not run yet: `{bench_charts.COMMANDS[name]}`" in i.value for i in at.info), name
    assert any(c.value.startswith("Measured 20") for c in at.caption)


def test_fixture_results_show_every_chart_with_machine_and_date(monkeypatch, full_results):
    at = run(monkeypatch, full_results)
    expected = set().union(*CHARTS.values())
    assert expected <= chart_keys(at)
    assert not at.info
    captions = [c.value for c in at.caption]
    assert any(c.startswith("⚠ Another machine") and "NVIDIA H100" in c and "2026-11-24 10:00 UTC" in c for c in captions)
    assert any(c.startswith("Measured 2026-11-23 05:00 UTC on AMD EPYC, 2 cores") for c in captions)  # the CPU scaling run
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["GATE / best baseline (chemprop, pre-trained + fine-tuned)"] == "0.800"
    assert any("Target met" in s.value for s in at.success)
    ratio = next(e for e in at.get("plotly_chart") if e.key == "bench_chemprop_ratio")
    spec = json.loads(ratio.proto.spec)
    assert spec["data"][0]["y"] == [0.6974, 0.7231, 0.8001]
    assert any(shape.get("y0") == 0.85 for shape in spec["layout"]["shapes"])


def test_target_selector_and_gpu_scaling_run(monkeypatch, full_results):
    at = run(monkeypatch, full_results)
    targets = at.selectbox(key="bench_target").options
    assert targets[0] == "all targets (mean)" and len(targets) > 1
    at.selectbox(key="bench_target").select(targets[1]).run()
    assert not at.exception
    accuracy = json.loads(next(e for e in at.get("plotly_chart") if e.key == "bench_accuracy").proto.spec)
    assert accuracy["layout"]["title"]["text"].startswith(targets[1])
    at.radio(key="bench_scaling_run").set_value("scaling_cuda").run()
    assert not at.exception
    assert any("GPU NVIDIA H100" in c.value and "python -m bench scaling" in c.value for c in at.caption)
    assert {f"bench_scaling_{c[0]}" for c in bench_charts.SCALING_CURVES} <= chart_keys(at)


def test_empty_results_say_not_run_yet(monkeypatch, tmp_path):
    at = run(monkeypatch, tmp_path / "nothing_here")
    assert not chart_keys(at)
    infos = " ".join(i.value for i in at.info)
    for name in CHARTS:
        assert f"{name}: not run yet: `{bench_charts.COMMANDS[name]}`" in infos


def test_page_reruns_and_loads_no_model(monkeypatch, full_results):
    """Render time is measured by `python -m bench page_render`; here: reruns work, and no model import slows the page."""
    at = run(monkeypatch, full_results)
    at.run()
    assert not at.exception
    code = "import sys, gate_app.bench_charts; sys.exit(int('torch' in sys.modules or 'gate_core' in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0
