"""bench.report (``python -m bench report``) and the CSV side of bench.common.

The generator runs no benchmark: it re-renders every result JSON through its own module's
``markdown`` into ``<name>.md`` and assembles docs/benchmarks.md from those, after the
chemist-facing summary, and exports a CSV beside every JSON that has none. Absent or malformed
results must not stop it.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from bench import report
from bench.chemprop_compare import comparison as chemprop_comparison
from bench.common import RESULTS_DIR, csv_rows, write_csv, write_results
from gate_app import bench_results as br
from gate_app.bench_results import COMMANDS

CPU = {
    "date_utc": "2026-11-23T05:00:00+00:00",
    "cpu_model": "AMD EPYC",
    "cpu_count": 2,
    "memory_total_mb": 24105,
    "torch": "2.13.0+cpu",
    "gpu": None,
    "git_commit": "1234567abcdef",
    "git_dirty": True,
    "load_average_1_5_15": [1.5, 1.4, 1.3],
}
GPU = {
    "date_utc": "2026-11-24T10:00:00+00:00",
    "cpu_model": "Intel Xeon",
    "cpu_count": 16,
    "memory_total_mb": 131072,
    "torch": "2.13.0+cu126",
    "gpu": "NVIDIA H100 80GB HBM3",
    "git_commit": "abcdef1234567",
    "git_dirty": False,
    "load_average_1_5_15": [0.5, 0.4, 0.3],
}


def _stage(per_second: float) -> dict:
    return {
        "count": 1000,
        "unit": "molecules",
        "repeats": 1,
        "median_wall_seconds": 1000 / per_second,
        "per_second": per_second,
        "per_cpu_second": per_second * 1.5,
        "cpu_share": 0.66,
    }


def fixtures() -> dict[str, dict]:
    """One small result per benchmark, in the schema each writes (chemprop_compare and scaling as specified)."""
    methods = ["single_task", "probe", "finetune", "uniform", "learned", "rf"]
    ta_rows = [
        {
            "target": t,
            "seed": seed,
            "size": size,
            "n_train": size,
            "n_test": 40,
            "method": m,
            "rmse": 1.0,
            "mae": 0.8,
            "r2": 0.5,
            "nrmse": 0.9 - 0.001 * size + 0.01 * i + (0.05 if t == "fuel_cn" else 0.0),
            "wall_seconds": 3.0,
            "info": {"steps": [10]},
        }
        for t in ("freesolv", "fuel_cn")
        for seed in (0, 1)
        for size in (50, 100, 200)
        for i, m in enumerate(methods)
    ]
    by_size = {
        str(n): {m: 0.9 - 0.001 * n + 0.01 * i for i, m in enumerate(methods)}
        for n in (50, 100, 200)
    }
    chem_rows = [
        {
            "target": t,
            "seed": seed,
            "size": size,
            "n_train": size,
            "method": m,
            "rmse": 1.0,
            "mae": 0.8,
            "r2": 0.5,
            "nrmse": base - size / 2000,
            "wall_seconds": 12.5,
            "device": "cuda (NVIDIA H100 80GB HBM3)",
            "host": "gpu-box",
            "task_type": "regression",
        }
        for t in ("freesolv", "fuel_cn")
        for seed in (0, 1)
        for size in (50, 100, 200)
        for m, base in (("chemprop_single", 0.8), ("chemprop_finetuned", 0.7))
    ]

    def scaling(machine: dict, device: str, f: float) -> dict:
        return {
            "benchmark": "scaling",
            "command": "python -m bench scaling",
            "machine": machine,
            "device": device,
            "curves": {
                "add_task_vs_sources": [
                    {
                        "n_sources": n,
                        "wall_seconds": f * (5 + 0.5 * n),
                        "peak_memory_mb": 500 + 10 * n,
                    }
                    for n in (2, 4, 8, 16)
                ],
                "add_task_vs_n": [
                    {
                        "n": n,
                        "wall_seconds": f * (3 + n / 50),
                        "featurize_seconds": f * n / 500,
                        "train_seconds": f * (3 + n / 60),
                        "peak_memory_mb": 600.0,
                    }
                    for n in (50, 200, 1000)
                ],
                "add_task_vs_existing": [
                    {
                        "existing_tasks": k,
                        "wall_seconds": f * 10.0,
                        "predict_seconds": f * (0.1 + 0.01 * k),
                    }
                    for k in (0, 5, 20)
                ],
                "pretrain_step_vs_tasks": [
                    {
                        "n_tasks": t,
                        "alignment": a,
                        "step_ms": f * (100 + (t * t if a == "pairwise" else 5 * t)),
                        "peak_memory_mb": 800 + t,
                    }
                    for a in ("pairwise", "mean")
                    for t in (4, 8, 16, 32)
                ],
                "predict_vs_batch": [
                    {"batch_size": b, "mol_per_s": 1000 * b**0.5 / f} for b in (1, 16, 256)
                ],
                "featurize_vs_batch": [
                    {"molecules": m, "mol_per_s": 4000.0} for m in (100, 1000, 10000)
                ],
            },
            "flat_check": {
                "n_points": 3,
                "tolerance": 0.2,
                "slope": 0.001,
                "relative_change_first_to_last": 0.02,
                "flat": True,
                "predict": {"n_points": 3, "relative_change_first_to_last": 0.6, "flat": False},
            },
            "loglog_exponents": {
                "pretrain_step_vs_tasks_pairwise": 1.61,
                "pretrain_step_vs_tasks_mean": 0.42,
            },
        }

    return {
        "backbone_quality": {
            "benchmark": "backbone_quality",
            "command": "python -m bench backbone_quality",
            "machine": CPU,
            "methods": {
                "gate": "GATE backbone",
                "multitask": "multi-task, no alignment",
                "rf": "RF on RDKit 2D",
            },
            "properties": {
                "Tm_K": {
                    "n_test": 1728,
                    "methods": {
                        "gate": {"rmse": 52.96, "mae": 40.9, "r2": 0.65, "rmse_ci95": [50.8, 55.0]},
                        "multitask": {"rmse": 51.68, "r2": 0.66},
                        "rf": {"rmse": 53.31, "r2": 0.64},
                    },
                    "winner": "multitask",
                    "winner_distinguishable": False,
                },
                "nD": {
                    "n_test": 203,
                    "methods": {
                        "gate": {"rmse": 0.03035, "r2": 0.81},
                        "multitask": {"rmse": 0.03202, "r2": 0.79},
                    },
                    "winner": "gate",
                    "winner_distinguishable": True,
                },
            },
        },
        "task_addition": {
            "benchmark": "task_addition",
            "command": "python -m bench task_addition",
            "machine": CPU,
            "status": "complete",
            "rows": ta_rows,
            "summary": {
                "max_n": 200,
                "methods": methods,
                "n_complete_cells": 12,
                "n_targets": 2,
                "overall": {m: 0.8 + 0.01 * i for i, m in enumerate(methods)} | {"learned": 0.6331},
                "by_size": by_size,
                "by_target": {
                    "freesolv": {m: 0.7 + 0.01 * i for i, m in enumerate(methods)},
                    "fuel_cn": {m: 0.75 + 0.01 * i for i, m in enumerate(methods)},
                },
                "wins": {m: 2 for m in methods},
            },
            "speed": {
                "device": "cpu",
                "torch_threads": 1,
                "add_task": {
                    "target": "huuskonen_logS",
                    "molecules": 500,
                    "ratios": "learned",
                    "ensemble": 5,
                    "median_wall_seconds": 56.67,
                    "target_seconds": 20.0,
                    "passes": False,
                },
                "throughput": {
                    "molecules": 3660,
                    "cold_per_second": 335.0,
                    "warm_per_second": 754.5,
                    "featurize_only_cold_per_second": 503.9,
                    "target_per_second": 5000.0,
                    "cold_passes": False,
                    "warm_passes": False,
                },
            },
        },
        "chemprop_compare": {
            "benchmark": "chemprop_compare",
            "command": "python -m bench chemprop_compare",
            "machine": GPU,
            "status": "complete",
            "rows": chem_rows,
            "grid": {
                "targets": ["freesolv", "fuel_cn"],
                "sizes": [50, 100, 200],
                "seeds": [0, 1],
                "ran": [[t, s, n] for t in ("freesolv", "fuel_cn") for s in (0, 1) for n in (50,)],
                "resumed": [],
            },
            "settings": {
                "val_fraction": 0.2,
                "batch_size": 32,
                "st_epochs": 60,
                "st_patience": 10,
                "ft_epochs": 40,
                "ft_patience": 8,
                "method_max_minutes": 3.0,
                "aggregation": "norm",
                "descriptors": "rdkit2d",
                "ensemble": 5,
            },
            "reference": {
                "files": [{"path": "bench/results/task_addition.json", "available": True}],
                "backbone_id": "abc",
                "split_check": {"checked": 4, "mismatched": []},
            },
            "pretrain": None,
            "comparison": chemprop_comparison(
                chem_rows + [{**r, "task_type": "regression"} for r in ta_rows]
            ),
        },
        "scaling": scaling(CPU, "cpu", 1.0),
        "scaling_cuda": scaling(GPU, "cuda", 0.1),
        "relational": {
            "benchmark": "relational",
            "command": "python -m bench relational",
            "machine": CPU,
            "known_labels": {
                "reveals": {
                    "0": {
                        "runs": [
                            {
                                "seed": 0,
                                "per_task": {
                                    "Tm_K": {
                                        "n": 10,
                                        "rmse_relational": 0.5,
                                        "rmse_plain": 0.5,
                                        "change": 0.0,
                                    }
                                },
                            }
                        ],
                        "mean_rmse_relational": 0.3723,
                        "mean_rmse_plain": 0.3723,
                        "change": 0.0,
                        "target": "within 2% of plain",
                        "reached": True,
                    },
                    "1": {
                        "runs": [],
                        "mean_rmse_relational": 0.3100,
                        "mean_rmse_plain": 0.3723,
                        "change": -0.1673,
                        "target": "≥ 15% lower than plain",
                        "reached": True,
                    },
                }
            },
            "preview_vs_trained": [
                {
                    "target": "Tflash_K",
                    "seed": 0,
                    "n_train": 100,
                    "preview": {"n": 219, "rmse": 25.04, "nrmse": 0.36},
                    "trained": {"n": 219, "rmse": 26.34},
                    "preview_seconds": 0.34,
                    "add_task_seconds": 11.66,
                },
                {
                    "target": "bbbp",
                    "seed": 0,
                    "n_train": 100,
                    "preview": {"n": 391, "roc_auc": 0.8025},
                    "trained": {"n": 391, "roc_auc": 0.8221},
                    "preview_seconds": 1.27,
                    "add_task_seconds": 9.36,
                },
            ],
        },
        "preview_time": {
            "benchmark": "preview_time",
            "command": "python -m bench preview_time",
            "machine": CPU,
            "target_seconds": 5.0,
            "threads": 1,
            "uploads": [
                {
                    "upload": "bbbp",
                    "rows": 1955,
                    "rows_previewed": 500,
                    "read_seconds": 0.01,
                    "check_seconds": 0.98,
                    "preview_seconds": 1.31,
                    "total_seconds": 2.29,
                    "reached": True,
                    "sample_cap": 500,
                }
            ],
        },
        "page_render": {
            "benchmark": "page_render",
            "command": "python -m bench page_render",
            "machine": CPU,
            "target_seconds": 3.0,
            "target_met_max": True,
            "pages": {
                "Home": {
                    "cold_seconds": 12.08,
                    "warm_median_seconds": 1.0716,
                    "warm_max_seconds": 1.4179,
                    "warm_seconds": [1.0, 1.1],
                    "max_below_target": True,
                },
                "Latent space": {
                    "cold_seconds": 17.2,
                    "warm_median_seconds": 1.78,
                    "warm_max_seconds": 2.5691,
                    "max_below_target": True,
                },
            },
        },
        "task_addition_v1": task_addition_v2_fixture(),
        "task_addition_v2": task_addition_v2_fixture(),
    }


def task_addition_v2_fixture() -> dict:
    """A benchmark-v2 result: drug-like targets with seen/unseen parts and the headline."""
    from bench.task_addition import headline

    methods = ["learned", "uniform", "rf", "lgbm"]
    rows = [
        {
            "target": t,
            "seed": seed,
            "size": 50,
            "n_train": 50,
            "n_test": 40,
            "n_test_seen": 10,
            "method": m,
            "task_type": "regression",
            "rmse": 1.0,
            "nrmse": 0.6 + 0.1 * i + 0.05 * seed,
            "parts": {"unseen": {"nrmse": 0.7 + 0.1 * i}, "seen": {"nrmse": 0.5 + 0.1 * i}},
        }
        for t in ("caco2", "pk_cl", "freesolv")
        for seed in (0, 1, 2)
        for i, m in enumerate(methods)
    ]
    return {
        "benchmark": "task_addition",
        "machine": CPU,
        "status": "complete",
        "command": "python -m bench task_addition --results-name task_addition_v1",
        "backbone": "assets/backbone",
        "backbone_id": "abc",
        "rows": rows,
        "headline": headline(rows, methods),
        "grid": {
            "targets": ["caco2", "pk_cl", "freesolv"],
            "sizes": [50],
            "seeds": [0, 1, 2],
            "methods": methods,
        },
    }


def write_fixtures(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / f"{name}.json").write_text(json.dumps(fixtures()[name], indent=1))
    return folder


PREVIEW = {
    **fixtures()["preview_time"],
    "command": "python -m bench preview_time --results-dir /tmp/bench-trial",
}


@pytest.mark.parametrize("path", sorted(RESULTS_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_every_stored_result_renders_through_its_module(path):
    """One renderer per result: the module that writes it renders it again from the JSON."""
    text = report.render(path.stem, json.loads(path.read_text()))
    assert report.renderer(path.stem) is not None, path.stem
    assert text.startswith("# ")


def test_report_rerenders_each_md_and_assembles_the_document(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "preview_time.json").write_text(json.dumps(PREVIEW))
    (folder / "preview_time.md").write_text("stale text from an older renderer\n")
    out = tmp_path / "benchmarks.md"
    written = report.generate(folder, out)
    md = (folder / "preview_time.md").read_text()
    assert written[0] == out and folder / "preview_time.md" in written
    assert md == report.render("preview_time", PREVIEW) and "stale" not in md
    doc = out.read_text()
    assert doc.index("## What to expect on your data") < doc.index("## Where and when")
    assert "## Upload → first preview (Add-a-task page path)" in doc  # one level down
    assert "| bbbp | 1955 | 500 | 0.01 | 0.98 | 1.31 | 2.29 | yes |" in doc
    assert "/tmp/" not in doc and "uncommitted" not in doc and "<temporary folder>" in doc
    for name in COMMANDS:
        if name != "preview_time":
            assert f"| `{name}` | not run yet: `{COMMANDS[name]}`" in doc


def test_report_rerenders_a_result_kept_in_a_subfolder_beside_its_md(tmp_path):
    """A run written with --results-dir into a subfolder (task_addition_speed/) is rendered
    again too; a JSON without its .md there (a raw input) is left alone."""
    folder = tmp_path / "results"
    kept, raw = folder / "preview_speed", folder / "raw"
    for sub in (kept, raw):
        sub.mkdir(parents=True)
        (sub / "preview_time.json").write_text(json.dumps(PREVIEW))
    (kept / "preview_time.md").write_text("stale text from an older renderer\n")
    written = report.generate(folder, tmp_path / "benchmarks.md")
    assert (kept / "preview_time.md").read_text() == report.render("preview_time", PREVIEW)
    assert kept / "preview_time.md" in written and not (raw / "preview_time.md").exists()


def test_report_is_deterministic(tmp_path):
    folder = write_fixtures(tmp_path / "results", ["preview_time", "task_addition_v1"])
    report.generate(folder, tmp_path / "a.md")
    first = (tmp_path / "a.md").read_bytes()
    report.generate(folder, tmp_path / "a.md")
    assert (tmp_path / "a.md").read_bytes() == first


def test_a_broken_file_and_a_changed_schema_do_not_stop_the_report(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "preview_time.json").write_text(json.dumps(PREVIEW))
    (folder / "relational.json").write_text("{not json")
    (folder / "page_render.json").write_text(json.dumps({"machine": CPU, "unexpected": 1}))
    (folder / "page_render.md").write_text("# Page render, as its run wrote it\n")
    doc = (report.generate(folder, tmp_path / "doc.md")[0]).read_text()
    assert "| `relational` | unreadable |" in doc
    assert "could not render `page_render.json`: KeyError" in doc
    assert "## Page render, as its run wrote it" in doc  # kept, not overwritten
    assert (folder / "page_render.md").read_text() == "# Page render, as its run wrote it\n"
    assert "Upload → first preview" in doc


def test_headline_summary_at_the_top(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "task_addition_v1.json").write_text(
        json.dumps({"benchmark": "task_addition_v1", **task_addition_v2_fixture()})
    )
    shipped = {**task_addition_v2_fixture(), "backbone_id": br.backbone_id()}
    (folder / "task_addition_v2.json").write_text(
        json.dumps({"benchmark": "task_addition_v2", **shipped})
    )
    doc = report.generate(folder, tmp_path / "doc.md")[0].read_text()
    summary = doc[doc.index("## What to expect") : doc.index("## Where and when")]
    row = "| drug-like (ADME/PK), new molecules (2 targets) | 50 | nRMSE ↓ |"
    assert summary.count(row) == 1 and "task_addition_v2 ·" in summary
    # fingerprint "abc" is not the shipped backbone's: named under the table, not a row of it
    assert "task_addition_v1 ·" not in summary and "`task_addition_v1`: From an older" in summary


def test_missing_csv_exported_existing_csv_kept(tmp_path):
    write_fixtures(tmp_path, ["preview_time", "page_render"])
    (tmp_path / "page_render.csv").write_text("kept\n")
    written = report.generate(tmp_path, tmp_path / "doc.md")
    assert tmp_path / "preview_time.csv" in written and tmp_path / "page_render.csv" not in written
    assert (tmp_path / "page_render.csv").read_text() == "kept\n"
    with (tmp_path / "preview_time.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["upload"], r["rows"], r["total_seconds"]) for r in rows] == [
        ("bbbp", "1955", "2.29")
    ]


def test_write_results_renders_the_payload_and_writes_csv(tmp_path):
    rows = [{"a": 1, "b": 0.123456789, "c": None}, {"a": 2, "d": {"x": [1, 2]}, "b": float("nan")}]
    json_path, md_path = write_results(
        "demo", {"rows": rows}, lambda r: f"# Demo {len(r['rows'])}", tmp_path, rows=rows
    )
    assert json.loads(json_path.read_text())["machine"]["cpu_count"] >= 1
    assert md_path.read_text() == "# Demo 2\n"  # provenance stays in the JSON
    lines = (tmp_path / "demo.csv").read_text().splitlines()
    assert lines == ["a,b,c,d", "1,0.123457,,", '2,,,"{""x"":[1,2]}"']
    write_results("plain", {}, lambda r: "# Plain", tmp_path)
    assert not (tmp_path / "plain.csv").exists()


def test_write_csv_fixed_columns(tmp_path):
    path = write_csv([{"b": True, "a": 3}], tmp_path / "x.csv", columns=["a", "b", "missing"])
    assert path.read_text() == "a,b,missing\n3,True,\n"


@pytest.mark.parametrize("name", list(fixtures()))
def test_csv_rows_of_every_fixture_are_flat(name):
    rows = csv_rows(name, fixtures()[name])
    assert rows
    assert all(not isinstance(v, dict) for row in rows for v in row.values())


@pytest.mark.parametrize("path", sorted(RESULTS_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_csv_rows_of_the_stored_results(path):
    rows = csv_rows(path.stem, json.loads(path.read_text()))
    assert all(isinstance(r, dict) for r in rows)


def test_report_is_a_bench_command(tmp_path):
    from bench.__main__ import BENCHMARKS, main

    assert BENCHMARKS["report"] == "bench.report"
    write_fixtures(tmp_path / "results", ["preview_time"])
    args = [
        "report",
        "--results-dir",
        str(tmp_path / "results"),
        "--out",
        str(tmp_path / "doc.md"),
        "--no-csv",
    ]
    assert main(args) == 0
    assert "Upload → first preview" in (tmp_path / "doc.md").read_text()
    assert not (tmp_path / "results" / "preview_time.csv").exists()


def test_readme_table_is_replaced_between_its_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(
        f"# X\n\nbefore\n\n{report.README_START}\nold\n{report.README_END}\n\nafter\n"
    )
    assert report.update_readme(readme, "| a |\n|---|\n| 1 |") is True
    text = readme.read_text()
    assert f"{report.README_START}\n| a |\n|---|\n| 1 |\n{report.README_END}" in text
    assert text.startswith("# X\n\nbefore") and text.endswith("after\n") and "old" not in text
    assert report.update_readme(readme, "| a |\n|---|\n| 1 |") is False  # unchanged: not written
    readme.write_text("# no markers\n")
    with pytest.raises(ValueError, match="bench-summary"):
        report.update_readme(readme, "| a |")


def test_the_readme_shows_the_summary_of_the_stored_results():
    """The README's headline table is the one the page and docs/benchmarks.md open with, from
    bench/results: a result changed without `python -m bench report` fails here."""
    from gate_app.bench_summary import expectation_rows, summary_table

    results = {
        name: data
        for name in br.result_names(RESULTS_DIR)
        if (data := br.read_json(RESULTS_DIR / f"{name}.json")) is not None
    }
    text = report.README.read_text()
    block = text.split(report.README_START, 1)[1].split(report.README_END, 1)[0]
    assert block.strip() == summary_table(expectation_rows(results, br.backbone_id())).strip()


def test_a_trial_results_folder_leaves_docs_alone(tmp_path, monkeypatch):
    """``report --results-dir X`` without ``--out`` writes X/benchmarks.md, never the repository's
    docs/benchmarks.md (three helpers overwrote it by following the documented trial command)."""
    from bench.__main__ import main

    doc = tmp_path / "docs" / "benchmarks.md"
    monkeypatch.setattr(report, "DOC", doc)
    write_fixtures(tmp_path / "results", ["preview_time"])
    assert main(["report", "--results-dir", str(tmp_path / "results"), "--no-csv"]) == 0
    assert (tmp_path / "results" / "benchmarks.md").is_file() and not doc.exists()


def test_a_variants_command_names_it_only_where_the_benchmark_takes_a_name():
    """``--results-name`` exists on task_addition alone; another variant gets its stem's command,
    not an option its bench would refuse."""
    assert br.command_for("trust") == COMMANDS["trust"]
    assert br.command_for("task_addition_v3") == (
        "python -m bench task_addition --results-name task_addition_v3"
    )
    assert br.command_for("chemprop_compare_gpu") == COMMANDS["chemprop_compare"]
    assert br.command_for("newbench") == "python -m bench newbench"
