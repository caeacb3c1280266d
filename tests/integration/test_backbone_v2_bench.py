"""bench/backbone_v2 on tiny real checkpoints: v1 and v2 built here, every section filled from them."""

from __future__ import annotations

import argparse
import json

import pytest

from bench import backbone_v2
from gate_core.training.pretrain import PretrainConfig, pretrain

from .conftest import ROOT, SMALL, TINY_TABLE

pytestmark = pytest.mark.integration
TINY_CORPUS = ROOT / "tests" / "data" / "corpus_tiny"


def _build(path, **extra) -> None:
    pretrain(
        PretrainConfig.from_dict({**SMALL, "table": str(TINY_TABLE), "epochs": 2, **extra}),
        out_dir=path,
        progress=False,
    )


def test_backbone_v2_bench_compares_shared_sources_and_reads_the_ablation(tmp_path):
    _build(tmp_path / "v1")
    _build(tmp_path / "v2", corpus=str(TINY_CORPUS), families=["size", "rings"])
    _build(tmp_path / "on", corpus=str(TINY_CORPUS), families=["size", "rings"], epochs=1)
    _build(
        tmp_path / "off",
        corpus=str(TINY_CORPUS),
        families=["size", "rings"],
        epochs=1,
        descriptors=False,
    )
    parser = argparse.ArgumentParser()
    backbone_v2.add_arguments(parser)
    args = parser.parse_args(
        [
            "--v1",
            str(tmp_path / "v1"),
            "--v2",
            str(tmp_path / "v2"),
            "--ablation-on",
            str(tmp_path / "on"),
            "--ablation-off",
            str(tmp_path / "off"),
            "--task-addition-v1",
            str(tmp_path / "none.json"),
            "--bootstrap",
            "200",
            "--min-molecules",
            "3",
        ]
    )
    args.results_dir = tmp_path / "results"
    json_path, md_path = backbone_v2.run(args)
    result = json.loads(json_path.read_text())

    sources = result["sources"]
    assert (
        0
        < sources["common_test_molecules"]
        <= min(sources["test_molecules_v1"], sources["test_molecules_v2"])
    )
    assert sources["per_source"], "the tiny folds share labelled test molecules for some sources"
    for metrics in sources["per_source"].values():
        low, high = metrics["v1_minus_v2_ci95"]
        assert low <= metrics["rmse_v1"] - metrics["rmse_v2"] <= high
    assert set(result["families"]) == {"size", "rings"}
    assert result["pretraining"]["cpu"]["n_tasks"] == 18 and result["pretraining"][
        "gpu"
    ].startswith("not measured")
    ablation = result["descriptor_input"]
    assert (
        ablation["status"] == "run"
        and ablation["same_split"]
        and set(ablation["families"]) == {"size", "rings"}
    )
    assert result["task_addition"]["status"] == "not run"
    assert "Backbone v2 vs v1" in md_path.read_text()


def test_task_addition_section_pairs_the_same_cells_of_both_runs(tmp_path):
    rows_v1, rows_v2 = [], []
    for target in ("caco2", "pk_vdss", "pk_cl"):
        for seed in (0, 1):
            cell = {"target": target, "seed": seed, "size": 50, "n_test": 100}
            for method, value in (
                ("probe", 0.9),
                ("uniform", 0.85),
                ("learned", 0.86),
                ("rf", 0.8),
                ("lgbm", 0.82),
                ("single_task", 1.0),
            ):
                rows_v1.append(
                    {
                        **cell,
                        "method": method,
                        "nrmse": value,
                        "parts": {"unseen": {"nrmse": value + 0.01}},
                    }
                )
            for method, value in (("probe", 0.8), ("uniform", 0.75), ("learned", 0.74)):
                rows_v2.append(
                    {
                        **cell,
                        "method": method,
                        "nrmse": value,
                        "parts": {"unseen": {"nrmse": value + 0.02}},
                    }
                )
    rows_v2.append(
        {"target": "bbbp", "seed": 0, "size": 50, "n_test": 90, "method": "learned", "roc_auc": 0.9}
    )  # not in v1: left out
    (tmp_path / "v1.json").write_text(json.dumps({"rows": rows_v1}))
    (tmp_path / "v2.json").write_text(json.dumps({"rows": rows_v2}))
    result = backbone_v2.task_addition(
        str(tmp_path / "v1.json"), str(tmp_path / "v2.json"), n_boot=200
    )
    assert result["cells"] == 6
    block = result["nrmse_all"]
    assert block["v2_vs_v1_uniform"]["ratio_to_best"] == pytest.approx(0.75 / 0.85)
    assert block["v2_vs_v1_uniform"]["targets_won"] == 3
    assert block["v2_learned_vs_best_baseline"]["best_baseline"] == "v1_rf"
    assert block["v2_learned_vs_best_baseline"]["ratio_to_best"] == pytest.approx(0.74 / 0.8)
    assert result["nrmse_unseen"]["v2_vs_v1_learned"]["ratio_to_best"] == pytest.approx(0.76 / 0.87)
    assert result["roc_auc_all"]["v2_vs_v1_learned"]["n_targets"] == 0
