"""bench.common: the results writer gives valid JSON with machine info and the rendered summary;
peak memory comes from the operating system's accounting."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np

from bench.common import machine_info, md_table, write_results


def test_write_results_valid_json_with_machine_info(tmp_path):
    results = {
        "rate": np.float32(5123.5),
        "values": np.arange(3),
        "missing": math.nan,
        "nested": {"inf": math.inf},
    }
    json_path, md_path = write_results(
        "demo", results, lambda r: f"# Demo\n\n{r['rate']}", tmp_path
    )

    data = json.loads(json_path.read_text())  # strict parse: NaN/inf must have become null
    assert data["benchmark"] == "demo"
    assert data["rate"] == 5123.5 and data["values"] == [0, 1, 2]
    assert data["missing"] is None and data["nested"]["inf"] is None
    machine = data["machine"]
    for key in ("cpu_model", "cpu_count", "torch", "date_utc"):
        assert machine[key], key
    assert md_path.read_text() == "# Demo\n\n5123.5\n"  # rendered from the written JSON


def test_machine_info_and_table():
    assert machine_info()["cpu_count"] >= 1
    table = md_table(["a", "b"], [[1.23456, None]])
    assert table.splitlines()[2] == "| 1.235 | n/a |"


def test_peak_memory_sees_a_block_allocation_in_a_fresh_process():
    """The high-water mark cannot be reset, so the block runs in a fresh interpreter, as the
    scaling benchmark's workers do."""
    code = (
        "import json, numpy as np\nfrom bench.common import PeakMemory\n"
        "with PeakMemory('cpu') as mem:\n    block = np.ones(96 * 2**20 // 8)\n    del block\n"
        "print(json.dumps(mem.result))"
    )
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    r = json.loads(done.stdout)
    assert r["peak_memory_mb"] == r["rss_growth_mb"] >= 64  # the block, less what was spare
    assert r["peak_rss_mb"] >= r["rss_before_mb"]
