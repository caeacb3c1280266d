"""Benchmarks page: the chemist-facing summary first, details after, provenance folded away.

No backbone is loaded: the page reads ``bench/results/*`` (``GATE_BENCH_RESULTS`` here) as data.
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from gate_app import bench_results, views

ROOT = Path(__file__).resolve().parents[2]
PAGE = "pages/6_Benchmarks.py"
COMMIT = "abcdef12345678"
CPU = {
    "date_utc": "2026-11-23T05:00:00+00:00",
    "cpu_model": "AMD EPYC",
    "cpu_count": 2,
    "memory_total_mb": 24105,
    "torch": "2.13.0+cpu",
    "gpu": None,
    "git_commit": COMMIT,
    "git_dirty": True,
}
GPU = {**CPU, "cpu_model": "Intel Xeon", "cpu_count": 16, "gpu": "NVIDIA H100 80GB HBM3"}


def headline_result(backbone: str) -> dict:
    """A task-addition result with a headline: GATE 0.70 (0.60–0.80) vs RF and LightGBM."""
    comp = {
        "n_targets": 3,
        "best_baseline": "rf",
        "ratio_to_best": 0.9,
        "ratio_ci95": [0.8, 0.99],
        "targets_won": 2,
        "mean": {"learned": 0.7, "rf": 0.78, "lgbm": 0.8},
        "ci95": {"learned": [0.6, 0.8], "rf": [0.7, 0.86], "lgbm": [0.7, 0.9]},
    }
    per_target = {t: {"learned": 0.7, "rf": 0.78, "lgbm": 0.8} for t in ("caco2", "pk_cl", "pk_fu")}
    entry = {
        "n_targets": 3,
        "per_target": per_target,
        "mean": {**comp["mean"], "uniform": 0.69},
        "learned_vs_best_baseline": comp,
    }
    return {
        "benchmark": "task_addition_v2",
        "machine": CPU,
        "backbone_id": backbone,
        "command": "python -m bench task_addition --results-dir /tmp/trial_run_42",
        "grid": {"sizes": [50]},
        "headline": {"max_n": 300, "regression": {"drug-like/unseen": entry, "all/unseen": entry}},
    }


def chemprop_entry(n_targets: int = 6) -> dict:
    """One headline entry of a chemprop comparison: GATE uniform λ 0.80 (0.70–0.90) vs chemprop."""
    return {
        "n_targets": n_targets,
        "mean": {"uniform": 0.8, "learned": 0.81, "chemprop_finetuned": 0.9},
        "uniform_vs_best_baseline": {
            "n_targets": n_targets,
            "best_baseline": "chemprop_finetuned",
            "ratio_to_best": 0.89,
            "ratio_ci95": [0.8, 0.97],
            "targets_won": 5,
            "mean": {"uniform": 0.8, "chemprop_finetuned": 0.9},
            "ci95": {"uniform": [0.7, 0.9]},
        },
    }


def chemprop_result(backbone: str = "0123456789abcdef", files: list[str] = ()) -> dict:
    return {
        "benchmark": "chemprop_compare",
        "machine": GPU,
        "command": "python -m bench chemprop_compare",
        "grid": {"sizes": [100], "targets": ["caco2"]},
        "reference": {
            "backbone_id": backbone,
            "files": [{"path": f, "available": True} for f in files],
        },
        "comparison": {
            "max_n": 300,
            "goal_ratio": 0.85,
            "regression": {"drug-like/unseen": chemprop_entry()},
            "classification": {},
        },
    }


@pytest.fixture
def results(tmp_path) -> Path:
    """A current-backbone task addition (dirty tree, /tmp in its command and legacy .md footer),
    a chemprop comparison from an older backbone, and a scaling run."""
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "task_addition_v2.json").write_text(
        json.dumps(headline_result(bench_results.backbone_id()))
    )
    (folder / "task_addition_v2.md").write_text(
        "# Task addition, fixture\n\n## Headline\n\nGATE wins here.\n\n---\nMachine: AMD EPYC. "
        f"Code {COMMIT[:10]} (uncommitted changes). Command: `x --results-dir /tmp/trial_run_42`.\n"
    )
    (folder / "chemprop_compare.json").write_text(json.dumps(chemprop_result()))
    scaling = {
        "benchmark": "scaling",
        "machine": CPU,
        "command": "python -m bench scaling",
        "curves": {"predict_vs_batch": [{"batch_size": b, "mol_per_s": 10.0 * b} for b in (1, 64)]},
    }
    (folder / "scaling.json").write_text(json.dumps(scaling))
    return folder


def run(monkeypatch, folder: Path | None) -> AppTest:
    if folder is None:
        monkeypatch.delenv(bench_results.RESULTS_ENV, raising=False)
    else:
        monkeypatch.setenv(bench_results.RESULTS_ENV, str(folder))
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> list[str]:
    """Every text the page shows, folded or not, dataframe cells included."""
    out = [
        e.value
        for kind in ("markdown", "caption", "info", "warning", "subheader", "header")
        for e in at.get(kind)
    ]
    for frame in at.dataframe:
        out += [str(v) for v in frame.value.to_numpy().ravel()]
    return out


def folded(at: AppTest) -> list[str]:
    return [m.value for e in at.expander for m in e.markdown]


def test_page_is_in_the_navigation():
    assert views.PAGES["bench"].path == PAGE and (ROOT / PAGE).is_file()


def test_summary_comes_first_with_alternatives_and_intervals(monkeypatch, results):
    at = run(monkeypatch, results)
    assert [h.value for h in at.header][:2] == ["What to expect on your data", "Details"]
    table = next(m.value for m in at.markdown if m.value.startswith("| data like yours |"))
    header, _, *rows = [[c.strip() for c in ln.strip("|").split("|")] for ln in table.splitlines()]
    # the "all" group equals the drug-like one: said once; the chemprop comparison is from an
    # older backbone, so it is named under the table rather than summarised
    assert len(rows) == 1
    row = dict(zip(header, rows[0]))
    assert row["data like yours"] == "drug-like (ADME/PK), new molecules (3 targets)"
    assert row["GATE learned λ"] == "0.70 (0.60–0.80)" and row["n"] == "50"
    assert row["GATE (default: uniform λ)"] == "0.69"  # the app's default, from the run's means
    assert row["random forest"] == "0.78 (0.70–0.86)"
    assert row["LightGBM"] == "0.80 (0.70–0.90)"
    # this run has no uniform-λ comparison: the verdict is on learned λ, and says so
    assert (
        row["GATE ÷ best alternative"] == "learned λ: 0.90 (0.80–0.99) × random forest: GATE better"
    )
    assert "chemprop_compare" not in table


def test_the_summary_rows_are_computed_once(monkeypatch, results):
    """The summary table and the result whose details open first share one computation."""
    from gate_app import bench_summary

    calls, rows = [], bench_summary.expectation_rows
    monkeypatch.setattr(bench_summary, "expectation_rows", lambda *a: calls.append(a) or rows(*a))
    at = run(monkeypatch, results)
    assert len(calls) == 1 and at.selectbox(key="bench_result").value == "task_addition_v2"


def test_provenance_is_folded_and_clean(monkeypatch, results):
    at = run(monkeypatch, results)
    shown = texts(at)
    assert all("/tmp/" not in t and "uncommitted" not in t for t in shown)
    inside = folded(at)
    assert any(COMMIT[:10] in t and "AMD EPYC" in t for t in inside)
    assert sum(COMMIT[:10] in t for t in shown) == sum(COMMIT[:10] in t for t in inside)
    assert {e.label for e in at.expander} >= {"Machine, code and command"}
    body = next(t for t in inside if "GATE wins here" in t)
    assert "Machine:" not in body and "### Headline" in body


def test_older_backbone_and_missing_results_are_said_plainly(monkeypatch, results):
    at = run(monkeypatch, results)
    warnings = " ".join(w.value for w in at.warning)
    assert "`chemprop_compare`: From an older backbone (`0123456789abcdef`)" in warnings
    infos = " ".join(i.value for i in at.info)
    assert f"`trust`: not run yet: `{bench_results.COMMANDS['trust']}`" in infos
    assert "`screening`: not run yet" in infos


def test_empty_folder_says_what_is_missing(monkeypatch, tmp_path):
    at = run(monkeypatch, tmp_path / "nothing_here")
    assert not at.get("plotly_chart") and not any(m.value.startswith("| data") for m in at.markdown)
    assert any("No task-addition result" in w.value for w in at.warning)
    infos = " ".join(i.value for i in at.info)
    for name in bench_results.COMMANDS:
        assert f"`{name}`: not run yet" in infos


def show(at: AppTest, name: str) -> AppTest:
    """The page with ``name`` picked in the result selector."""
    at.selectbox(key="bench_result").set_value(name).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_details_show_one_result_at_a_time_and_list_the_others(monkeypatch, results):
    at = run(monkeypatch, results)
    picker = at.selectbox(key="bench_result")
    assert picker.value == "task_addition_v2"  # the summary's first row comes from it
    assert set(picker.options) == {"Task addition, fixture", "chemprop_compare", "scaling"}
    assert [s.value for s in at.subheader] == ["Task addition, fixture"]
    assert not at.get("plotly_chart")  # the fixture's task-addition run has no chart data
    show(at, "scaling")
    assert [s.value for s in at.subheader] == ["scaling"]
    assert at.query_params["result"] == "scaling"  # a link to this view


def test_charts_read_the_json(monkeypatch, results):
    at = show(run(monkeypatch, results), "chemprop_compare")
    charts = {e.key: json.loads(e.proto.spec) for e in at.get("plotly_chart")}
    assert set(charts) == {"bench_chemprop_compare_regression"}
    bars = charts["bench_chemprop_compare_regression"]["data"]
    assert [b["name"] for b in bars] == [
        bench_results.label(m) for m in ("uniform", "learned", "chemprop_finetuned")
    ]
    assert [b["y"][0] for b in bars] == [0.8, 0.81, 0.9]
    at = show(at, "scaling")
    assert {e.key for e in at.get("plotly_chart")} == {"bench_scaling_predict_vs_batch"}


def test_stored_results_render(monkeypatch):
    at = run(monkeypatch, None)
    picker = at.selectbox(key="bench_result")
    stored = bench_results.result_names(bench_results.DEFAULT_RESULTS)
    assert len(picker.options) == len(stored)
    assert len(set(picker.options)) == len(stored)  # three task-addition runs: each says which
    for name in stored:  # every stored result's details draw without an error
        show(at, name)
        assert len(at.subheader) == 1
        assert all("/tmp/" not in t and "uncommitted" not in t for t in texts(at))


def test_backbone_id_is_gate_cores_fingerprint(tiny_backbone):
    """The page's torch-free fingerprint must equal the one results record."""
    from gate_core.models.checkpoint import load_checkpoint
    from gate_core.models.fingerprint import backbone_fingerprint

    model, _ = load_checkpoint(tiny_backbone, "cpu")
    assert bench_results.backbone_id(tiny_backbone) == backbone_fingerprint(model)


def test_app_never_imports_bench_or_a_model():
    for path in [*ROOT.glob("gate_app/*.py"), *ROOT.glob("pages/*.py"), ROOT / "app.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not any(n == "bench" or n.startswith("bench.") for n in names), path
    code = (  # of gate_core, only its paths: the one spelling of the shipped backbone's folder
        "import sys, gate_app.bench_charts, gate_app.bench_summary; "
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('torch', 'gate_core', 'bench')]; "
        "sys.exit(int(not set(heavy) <= {'gate_core', 'gate_core.paths'}))"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_the_verdict_is_on_the_default_and_the_new_chemprop_comparison_is_summarised():
    from gate_app.bench_summary import expectation_rows

    result = headline_result("b")
    entry = result["headline"]["regression"]["drug-like/unseen"]
    uniform = {
        "n_targets": 3,
        "best_baseline": "lgbm",
        "ratio_to_best": 1.02,
        "ratio_ci95": [0.95, 1.1],
        "targets_won": 1,
        "mean": {"uniform": 0.69, "rf": 0.7, "lgbm": 0.68},
        "ci95": {"uniform": [0.6, 0.8], "rf": [0.6, 0.8], "lgbm": [0.6, 0.75]},
    }
    entry["uniform_vs_best_baseline"] = uniform
    chemprop = chemprop_result("b")
    rows = expectation_rows({"task_addition_v2": result, "chemprop_compare": chemprop}, "b")
    first = rows[0]  # the chemprop comparison (every baseline) comes first
    assert first["data like yours"] == "drug-like (ADME/PK), new molecules (6 targets)"
    assert first["chemprop fine-tuned"] == "0.90" and first["n"] == "100"
    assert first["GATE (default: uniform λ)"] == "0.80 (0.70–0.90)"
    assert first["GATE ÷ best alternative"] == (
        "0.89 (0.80–0.97) × chemprop fine-tuned: GATE better"
    )
    assert first["GATE wins"] == "5 of 6 targets"
    last = rows[-1]
    assert last["GATE (default: uniform λ)"] == "0.69 (0.60–0.80)"
    assert last["GATE ÷ best alternative"] == "1.02 (0.95–1.10) × LightGBM: no clear difference"
    # a task-addition run the comparison read as its reference is shown through it, once
    included = chemprop_result("b", files=["bench/results/task_addition_v2.json"])
    rows = expectation_rows({"task_addition_v2": result, "chemprop_compare": included}, "b")
    assert [r["from"].split(" ·")[0] for r in rows] == ["chemprop_compare"]
    from gate_app.bench_charts import charts_for

    ((key, figure),) = charts_for("chemprop_compare", chemprop)
    assert key == "bench_chemprop_compare_regression"
    bars = figure.to_dict()["data"]
    assert [b["y"][0] for b in bars] == [0.8, 0.81, 0.9]
    assert [b["error_y"]["array"][0] for b in bars] == pytest.approx([0.1, 0, 0])


def test_a_row_of_one_target_claims_no_interval():
    from gate_app.bench_summary import RATIO, expectation_rows

    result = headline_result("b")
    entry = result["headline"]["regression"]["drug-like/unseen"]
    entry["n_targets"] = entry["learned_vs_best_baseline"]["n_targets"] = 1
    row = expectation_rows({"task_addition_v2": result}, "b")[0]
    assert row["GATE learned λ"] == "0.70" and row["random forest"] == "0.78"
    assert row[RATIO] == "learned λ: 0.90 × random forest (no interval: one target, or none stored)"
