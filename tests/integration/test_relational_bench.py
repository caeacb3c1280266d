"""``python -m bench relational`` on a v2 backbone (descriptor-family tasks beside the measured
properties), as the shipped one is: hidden labels are the measured properties only."""

from __future__ import annotations

from gate_core.models.checkpoint import load_checkpoint
from tests.integration.conftest import run_bench


def test_relational_bench_runs_on_a_v2_backbone(tiny_backbone, tiny_relational, tmp_path):
    result = run_bench(
        *("relational", "--backbone", str(tiny_backbone)),
        *("--preview-targets", "Tflash_K", "--preview-seeds", "0", "--ensemble", "1"),
        *("--bootstrap", "10", "--max-molecules", "60"),
        results_dir=tmp_path,
    )
    backbone, _meta = load_checkpoint(tiny_backbone)
    assert len(backbone.task_names) > len(backbone.property_names)  # a v2 backbone
    section = result["known_labels"]
    assert set(section["reveals"]) == {"0", "1", "2", "all"}
    scored = {t for r in section["reveals"].values() for run in r["runs"] for t in run["per_task"]}
    assert scored and scored <= set(backbone.property_names)
    assert section["reveals"]["0"]["reached"]  # no known label: no correction
