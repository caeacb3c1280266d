"""Rules spelled once (issue 15): the shipped backbone's folder and the preview's test fraction
are not written again in the library, the app or the benchmarks; each reads its one home."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    p.relative_to(ROOT).as_posix()
    for pattern in ("gate_core/**/*.py", "gate_app/*.py", "pages/*.py", "bench/*.py", "app.py")
    for p in ROOT.glob(pattern)
)


def _spelled(pattern: str) -> list[str]:
    rule = re.compile(pattern)
    return [path for path in SOURCES if rule.search((ROOT / path).read_text(encoding="utf-8"))]


def test_the_default_backbone_folder_is_spelled_in_gate_core_paths_only():
    assert "bench/task_addition.py" in SOURCES and "gate_app/bench_results.py" in SOURCES
    spelled = _spelled(
        r"""["']assets/backbone["']|(["']assets["']|ASSETS)\s*/\s*["']backbone["']"""
    )
    assert spelled == ["gate_core/paths.py"]


def test_no_bare_test_fraction_of_0_15():
    assert _spelled(r"test_fraction\s*=\s*0?\.15\b") == []
    assert _spelled(r"PREVIEW_TEST_FRACTION\s*=\s*0?\.15\b") == ["gate_core/preview.py"]
