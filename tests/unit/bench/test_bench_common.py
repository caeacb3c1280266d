"""bench.common: the results writer gives valid JSON with machine info, and a Markdown summary."""

from __future__ import annotations

import json
import math

import numpy as np

from bench.common import machine_info, md_table, write_results


def test_write_results_valid_json_with_machine_info(tmp_path):
    results = {"rate": np.float32(5123.5), "values": np.arange(3), "missing": math.nan, "nested": {"inf": math.inf}}
    json_path, md_path = write_results("demo", results, "# Demo\n\nbody", tmp_path)

    data = json.loads(json_path.read_text())  # strict parse: NaN/inf must have become null
    assert data["benchmark"] == "demo"
    assert data["rate"] == 5123.5 and data["values"] == [0, 1, 2]
    assert data["missing"] is None and data["nested"]["inf"] is None
    machine = data["machine"]
    for key in ("cpu_model", "cpu_count", "torch", "date_utc"):
        assert machine[key], key
    assert md_path.read_text().startswith("# Demo") and machine["cpu_model"] in md_path.read_text()


def test_machine_info_and_table():
    assert machine_info()["cpu_count"] >= 1
    table = md_table(["a", "b"], [[1.23456, None]])
    assert table.splitlines()[2] == "| 1.235 | n/a |"
