"""bench.trust: its result says which backbone it was measured on (``backbone_id``, as every
result does), here from a finished cell of the stored result, nothing trained; the backbone part
is measured once per backbone and relational head."""

from __future__ import annotations

import json
import types

import pytest

from bench.__main__ import main
from bench.common import RESULTS_DIR

BACKBONE_ID = "0123456789abcdef"
STORED = json.loads((RESULTS_DIR / "trust.json").read_text())


class FakeStudio:
    def __init__(self, backbone: str, data_dir: str) -> None:
        self.backbone_id = BACKBONE_ID
        self.reliability = types.SimpleNamespace(folder=None)

    def relational(self):
        return types.SimpleNamespace(head="head")


class FakeSplit:
    pool_size = 1000

    def __init__(self, name: str, seed: int, test_fraction: float) -> None:
        pass


@pytest.fixture
def trust_args(tmp_path, monkeypatch) -> list[str]:
    """``trust`` on one finished cell of the stored result, with the studio and split faked: the
    finished cell is reused, so nothing is trained (the fake studio could not train)."""
    import bench.task_addition
    import gate_core.api
    import gate_core.threads

    monkeypatch.setattr(gate_core.api, "GateStudio", FakeStudio)
    monkeypatch.setattr(gate_core.threads, "configure_threads", lambda n: None)
    monkeypatch.setattr(bench.task_addition, "TargetSplit", FakeSplit)
    cell = STORED["cells"][0]
    cells = tmp_path / "cells.jsonl"
    cells.write_text(json.dumps(cell) + "\n")
    args = ["trust", "--cells", str(cells), "--results-dir", str(tmp_path)]
    args += ["--targets", cell["target"], "--sizes", str(cell["n"]), "--seeds", str(cell["seed"])]
    return args + [
        "--ensemble",
        str(cell["ensemble"]),
        "--test-fraction",
        str(cell["test_fraction"]),
    ]


def test_the_result_records_its_backbone(tmp_path, trust_args):
    assert main([*trust_args, "--skip-backbone"]) == 0
    result = json.loads((tmp_path / "trust.json").read_text())
    assert result["backbone_id"] == BACKBONE_ID and result["cells"] == [STORED["cells"][0]]
    assert result["settings"]["sizes"] == [STORED["cells"][0]["n"]] and result["backbone"] is None


def test_the_backbone_part_is_measured_once_per_backbone_and_head(
    tmp_path, trust_args, monkeypatch
):
    import bench.trust
    import gate_core.models.fingerprint

    calls = []
    monkeypatch.setattr(gate_core.models.fingerprint, "backbone_fingerprint", lambda head: head)
    monkeypatch.setattr(
        bench.trust, "backbone_part", lambda s: calls.append(s) or STORED["backbone"]
    )
    assert main(trust_args) == 0 and main(trust_args) == 0
    assert len(calls) == 1 and (tmp_path / f"trust_backbone_{BACKBONE_ID}_head.json").is_file()
    result = json.loads((tmp_path / "trust.json").read_text())
    assert result["backbone"] == STORED["backbone"]
    assert "25 of 240 pairs accepted" in (tmp_path / "trust.md").read_text()
