"""bench.trust: its result says which backbone it was measured on (``backbone_id``, as every
result does), here from a finished cell of the stored result, nothing trained."""

from __future__ import annotations

import json
import types

from bench.__main__ import main
from bench.common import RESULTS_DIR

BACKBONE_ID = "0123456789abcdef"


class FakeStudio:
    def __init__(self, backbone: str, data_dir: str) -> None:
        self.backbone_id = BACKBONE_ID
        self.reliability = types.SimpleNamespace(folder=None)


class FakeSplit:
    pool_size = 1000

    def __init__(self, name: str, seed: int, test_fraction: float) -> None:
        pass


def test_the_result_records_its_backbone(tmp_path, monkeypatch):
    import bench.task_addition
    import gate_core.api
    import gate_core.threads

    monkeypatch.setattr(gate_core.api, "GateStudio", FakeStudio)
    monkeypatch.setattr(gate_core.threads, "configure_threads", lambda n: None)
    monkeypatch.setattr(bench.task_addition, "TargetSplit", FakeSplit)
    cell = json.loads((RESULTS_DIR / "trust.json").read_text())["cells"][0]
    cells = tmp_path / "cells.jsonl"
    cells.write_text(json.dumps(cell) + "\n")
    args = ["trust", "--only-finished", "--skip-backbone", "--cells", str(cells)]
    args += ["--targets", cell["target"], "--sizes", str(cell["n"]), "--seeds", str(cell["seed"])]
    args += ["--ensemble", str(cell["ensemble"]), "--test-fraction", str(cell["test_fraction"])]
    assert main([*args, "--results-dir", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "trust.json").read_text())
    assert result["backbone_id"] == BACKBONE_ID and result["cells"] == [cell]
