"""bench.common: the results writer gives valid JSON with machine info and the rendered summary;
peak memory comes from the operating system's accounting."""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import (
    cells,
    fmt,
    machine_info,
    md_table,
    records_table,
    settings,
    stopwatch,
    table,
    timed,
    write_results,
)


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


def test_header_written_as_markdown_gives_the_same_table():
    rows = [[1.23456, None, "x|y"]]
    assert table("a | b c | d", rows) == md_table(["a", "b c", "d"], rows)


def test_cells_read_keys_nested_keys_and_formats_in_column_order():
    record = {"n": 3, "wall": 1.234, "excluded": {"peak": 12.6}, "none": None}
    assert cells(record, "n wall:.1f excluded.peak:.0f missing none:.2f excluded.x") == [
        3,
        "1.2",
        "13",
        None,
        "—",
        None,
    ]
    assert records_table("n | wall s", "n wall:.1f", [record]) == table("n | wall s", [[3, "1.2"]])


def test_fmt_one_rule_for_missing_values():
    assert fmt(1234.5, ",.0f") == "1,234" and fmt(0.5, "+.1%") == "+50.0%"
    assert fmt(None) == fmt(math.nan) == fmt(math.inf) == "—"
    assert fmt(None, missing="n/a") == "n/a"


def test_timed_measures_wall_and_cpu_of_the_block():
    with timed() as busy:
        sum(i * i for i in range(300_000))  # CPU work: the process clock moves with the wall clock
    with timed() as idle:
        time.sleep(0.2)  # no CPU work
    assert busy.wall > 0 and busy.cpu > 0
    assert idle.wall >= 0.2 and idle.cpu < 0.1
    elapsed = stopwatch()
    time.sleep(0.05)
    assert 0.05 <= elapsed() < 5


def test_settings_keep_every_option_but_the_name_and_the_folder():
    args = argparse.Namespace(name="scaling", results_dir="/tmp/x", threads=1, sizes="50,100")
    assert settings(args) == {"threads": 1, "sizes": "50,100"}


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
