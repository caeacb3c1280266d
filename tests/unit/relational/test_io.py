"""gate_core.relational.io: safetensors + JSON round trip, and clear refusals."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from gate_core.models.fingerprint import backbone_fingerprint
from gate_core.relational.graph import KnownGraph
from gate_core.relational.io import (
    METADATA_FILE,
    WEIGHTS_FILE,
    RelationalHeadError,
    load_relational,
    save_relational,
)


def test_saved_next_to_the_backbone_without_pickle(rel_head_path, rel_backbone):
    model, _ = rel_backbone
    assert rel_head_path.name == "backbone_relational"
    assert sorted(p.name for p in rel_head_path.iterdir()) == sorted(
        ["history.json", METADATA_FILE, WEIGHTS_FILE]
    )
    meta = json.loads((rel_head_path / METADATA_FILE).read_text())
    assert meta["backbone_id"] == backbone_fingerprint(model)
    assert meta["config"]["tasks"] == model.task_names
    assert set(meta["label_ranges"]) and meta["train_config"]["hidden"] == 16


def test_round_trip_is_exact(rel_head, tmp_path):
    head, meta = rel_head
    out = save_relational(
        head,
        tmp_path / "copy",
        {k: v for k, v in meta.items() if k not in ("format_version", "code_version", "config")},
    )
    again, meta2 = load_relational(out, meta["backbone_id"])
    for (n1, a), (n2, b) in zip(head.state_dict().items(), again.state_dict().items()):
        assert n1 == n2 and torch.equal(a, b)
    chart = torch.randn(5, head.config.chart_dim)
    y = torch.randn(5, len(head.task_names))
    known = torch.rand(5, len(head.task_names)) < 0.5
    graph = KnownGraph.from_mask(y, known, y * 0.9)
    assert torch.equal(
        head.correction(head.data_features(chart), head.backbone_nodes(), graph),
        again.correction(again.data_features(chart), again.backbone_nodes(), graph),
    )
    assert meta2["label_ranges"] == meta["label_ranges"]


def test_refuses_another_backbones_head(rel_head_path):
    with pytest.raises(RelationalHeadError, match="trained on backbone"):
        load_relational(rel_head_path, backbone_id="0" * 16)


def test_missing_and_corrupt(rel_head_path, tmp_path):
    with pytest.raises(RelationalHeadError, match="pretrain-relational"):
        load_relational(tmp_path / "nothing")
    broken = tmp_path / "broken"
    shutil.copytree(rel_head_path, broken)
    (broken / WEIGHTS_FILE).write_bytes(b"not safetensors")
    with pytest.raises(RelationalHeadError, match="corrupt"):
        load_relational(broken)
    (broken / METADATA_FILE).write_text("{not json")
    with pytest.raises(RelationalHeadError, match="corrupt"):
        load_relational(broken)
