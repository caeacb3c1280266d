"""bench.page_render: warm visits summarised per page (medians skip what a visit did not record);
a server and what it started stopped by one helper (the browser tests' fixture uses it too)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.page_render import PAGES, TARGET_SECONDS, stop_server, summarise


def _visit(seconds: float, start: float | None, end: float | None, ready: float | None) -> dict:
    return {
        "seconds": seconds,
        "dom_content_loaded_seconds": 0.1,
        "script_start_seconds": start,
        "script_end_seconds": end,
        "ready_seconds": ready,
        "server_cpu_seconds": None,
        "browser_cpu_seconds": 0.2,
    }


def test_summarise_medians_skip_visits_missing_a_time():
    warm = {name: [_visit(1.0, 0.2, 0.7, 0.9)] for name, _, _ in PAGES}
    home = PAGES[0][0]
    warm[home] = [
        _visit(1.0, 0.2, 0.6, 0.9),
        _visit(2.0, None, 0.8, 1.0),  # the script start was not seen: no run time, still drawing
        _visit(4.0, 0.3, 1.3, None),  # not ready-stamped: no drawing time
    ]
    cold = {name: {"seconds": 9.0, "server_cpu_seconds": 3.0} for name, _, _ in PAGES}
    page = summarise(cold, warm)[home]
    assert page["warm_median_seconds"] == 2.0 and page["warm_max_seconds"] == 4.0
    assert page["warm_median_script_start_seconds"] == pytest.approx(0.25)
    assert page["warm_median_script_run_seconds"] == pytest.approx(0.7)  # (0.4 + 1.0) / 2
    assert page["warm_median_after_script_seconds"] == pytest.approx(0.25)  # (0.3 + 0.2) / 2
    assert page["warm_median_server_cpu_seconds"] is None  # no visit recorded it
    assert page["median_below_target"] is (2.0 < TARGET_SECONDS)
    assert page["max_below_target"] is (4.0 < TARGET_SECONDS)


#: a "server" that ignores SIGTERM and has a child of its own, in its own session as the real one
STUBBORN = """
import signal, subprocess, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen(["sleep", "600"])
print(child.pid, flush=True)
time.sleep(600)
"""


def test_stop_server_kills_the_whole_group_even_when_sigterm_is_ignored(ended):
    proc = subprocess.Popen(
        [sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    child = int(proc.stdout.readline())
    stop_server(proc, grace=0.5)
    assert proc.returncode == -9 and ended(child)
