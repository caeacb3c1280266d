"""``python -m bench backbone_quality`` on a v2 backbone (descriptor-family tasks beside the
measured properties), as the shipped one is: it compares the measured properties only."""

from __future__ import annotations

from gate_core.models.checkpoint import load_checkpoint
from gate_core.models.fingerprint import backbone_fingerprint
from tests.integration.conftest import run_bench


def test_backbone_quality_bench_runs_on_a_v2_backbone(tiny_backbone, tmp_path):
    result = run_bench(
        *("backbone_quality", "--backbone", str(tiny_backbone)),
        *("--noalign", str(tmp_path / "missing"), "--tasks", "Tm_K", "--epochs", "1"),
        *("--rf-trees", "10", "--threads", "1", "--bootstrap", "20"),
        results_dir=tmp_path,
    )
    backbone, _meta = load_checkpoint(tiny_backbone)
    assert len(backbone.task_names) > len(backbone.property_names)  # a v2 backbone
    assert set(result["properties"]) <= set(backbone.property_names)
    assert result["backbone_id"] == backbone_fingerprint(backbone)  # the page's "which backbone"
    methods = result["properties"]["Tm_K"]["methods"]
    assert set(methods) == {"gate", "single_task", "rf"}  # no twin given: its column is left out
    single = result["details"]["single_task"]["Tm_K"]
    assert single["split"]["test"] == result["properties"]["Tm_K"]["n_test"]
